"""Invoices, Qonto transactions and their events, for the use-case specifications."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from qrecon.common.schemas import Invoice, InvoiceEvent, QontoTransaction, TransactionEvent

BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ISSUED = BASE.date() - timedelta(days=14)


def invoice(
    number: str,
    amount_cents: int,
    *,
    counterparty: str = "Client Dupont SAS",
    kind: str = "receivable",
    **extra: Any,
) -> Invoice:
    return Invoice.model_validate(
        {
            "id": f"inv-{number}",
            "number": number,
            "kind": kind,
            "counterparty_name": counterparty,
            "amount_cents": amount_cents,
            "currency": "EUR",
            "issue_date": ISSUED,
            "due_date": ISSUED + timedelta(days=30),
            "status": "open",
            **extra,
        }
    )


def invoice_event(inv: Invoice, *, at: datetime | None = None) -> InvoiceEvent:
    return InvoiceEvent(event_type="invoice.upsert", invoice=inv, observed_at=at or BASE)


def cancel_event(invoice_id: str, *, at: datetime | None = None) -> InvoiceEvent:
    return InvoiceEvent(
        event_type="invoice.cancel",
        invoice_id=invoice_id,
        observed_at=at or BASE + timedelta(hours=1),
    )


def transaction(
    amount_cents: int,
    *,
    reference: str | None = None,
    counterparty: str = "CLIENT DUPONT SAS",
    side: str = "credit",
    status: str = "completed",
    **extra: Any,
) -> QontoTransaction:
    return QontoTransaction.model_validate(
        {
            "id": str(uuid.uuid4()),
            "transaction_id": f"tx-{uuid.uuid4().hex[:8]}",
            "amount_cents": amount_cents,
            "currency": "EUR",
            "side": side,
            "operation_type": "transfer",
            "status": status,
            "label": counterparty,
            "clean_counterparty_name": counterparty,
            "reference": reference,
            "settled_at": BASE,
            "emitted_at": BASE,
            "updated_at": BASE,
            "subject_type": "transfer",
            **extra,
        }
    )


def tx_event(tx: QontoTransaction) -> TransactionEvent:
    return TransactionEvent(
        event_id=str(uuid.uuid4()), source="webhook", transaction=tx, observed_at=BASE
    )


def bump(tx: QontoTransaction, minutes: int = 1, **changes: Any) -> QontoTransaction:
    """A later version of ``tx`` (``updated_at`` moved), with ``changes``."""
    data = tx.model_dump(mode="json")
    data.update(changes)
    data["updated_at"] = (tx.updated_at + timedelta(minutes=minutes)).isoformat()
    return QontoTransaction.model_validate(data)
