"""What ``qonto-matcher match`` reads in its tests: an open book and Qonto REST transactions."""

from __future__ import annotations

from typing import Any

INVOICES = [
    {
        "id": "i1",
        "number": "FAC-2025-0001",
        "kind": "receivable",
        "counterparty_name": "Maison Dupont SARL",
        "counterparty_iban": None,
        "amount_cents": 100000,
        "currency": "EUR",
        "issue_date": "2025-03-01",
        "due_date": "2025-03-31",
        "status": "open",
        "payment_reference": None,
    },
    {
        "id": "i2",
        "number": "FAC-2025-0002",
        "kind": "receivable",
        "counterparty_name": "Maison Dupont SARL",
        "counterparty_iban": None,
        "amount_cents": 50000,
        "currency": "EUR",
        "issue_date": "2025-03-02",
        "due_date": "2025-04-01",
        "status": "open",
        "payment_reference": None,
    },
]


def qonto_tx(
    tx_id: str, amount: str, label: str, reference: str | None, **extra: Any
) -> dict[str, Any]:
    """A Qonto REST transaction: amounts as decimal strings, no amount_cents."""
    return {
        "id": tx_id,
        "transaction_id": f"acme-{tx_id}",
        "amount": amount,
        "currency": "EUR",
        "side": "credit",
        "operation_type": "income",
        "status": "completed",
        "label": label,
        "reference": reference,
        "settled_at": "2025-03-20T10:00:00.000Z",
        "emitted_at": "2025-03-20T09:00:00.000Z",
        "updated_at": "2025-03-20T10:00:01.000Z",
        "subject_type": "Income",
        **extra,
    }
