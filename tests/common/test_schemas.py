"""The contract models: the webhook and REST variants of a transaction are one model."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from qrecon.common.schemas import (
    Invoice,
    InvoiceEvent,
    MatchResult,
    QontoTransaction,
    TransactionEvent,
    polled_event_id,
)

TX_ID = "7b7a5ed6-3903-4c6d-a8c9-4f6bd3f0a3f1"

# The REST API's shape (GET /v2/transactions), as in shared/qonto-api.md.
REST = {
    "id": TX_ID,
    "transaction_id": "maison-dupont-1234",
    "amount": 1200.5,
    "amount_cents": 120050,
    "local_amount": 1200.5,
    "local_amount_cents": 120050,
    "currency": "EUR",
    "local_currency": "EUR",
    "settled_balance": 10000.0,
    "settled_balance_cents": 1000000,
    "side": "credit",
    "operation_type": "income",
    "status": "completed",
    "label": "MAISON DUPONT SARL",
    "reference": "REGLEMENT FAC2025123",
    "settled_at": "2025-01-24T10:55:00.000Z",
    "emitted_at": "2025-01-24T10:54:00.000Z",
    "updated_at": "2025-01-24T10:55:00.123Z",
    "bank_account_id": "ba-1",
    "subject_type": "income",
    "income": {"counterparty_account_number": "FR7630006000011234567890189"},
    "undocumented_live_field": {"nested": [1, 2]},
}

# The webhook's `data` for the same transaction: string amount, no *_cents,
# a bank_account object, a capitalised subject_type.
WEBHOOK = {
    "event": "created",
    "id": TX_ID,
    "transaction_id": "maison-dupont-1234",
    "amount": "1200.50",
    "currency": "EUR",
    "side": "credit",
    "status": "completed",
    "operation_type": "income",
    "label": "MAISON DUPONT SARL",
    "reference": "REGLEMENT FAC2025123",
    "settled_at": "2025-01-24T10:55:00Z",
    "emitted_at": "2025-01-24T10:54:00Z",
    "updated_at": "2025-01-24T10:55:00.123Z",
    "bank_account": {"id": "ba-1", "iban": "FR76...", "bic": "QNTOFRP1", "name": "Main"},
    "subject_type": "Income",
    "income": {"counterparty_account_number": "FR7630006000011234567890189"},
}

CORE_FIELDS = (
    "id",
    "transaction_id",
    "amount",
    "amount_cents",
    "local_amount_cents",
    "currency",
    "side",
    "status",
    "operation_type",
    "label",
    "reference",
    "settled_at",
    "emitted_at",
    "updated_at",
    "bank_account_id",
    "subject_type",
    "counterparty",
)


def test_webhook_and_rest_variants_normalise_to_the_same_transaction() -> None:
    rest = QontoTransaction.model_validate(REST)
    hook = QontoTransaction.model_validate(WEBHOOK)
    for field in CORE_FIELDS:
        assert getattr(rest, field) == getattr(hook, field), field
    assert rest.amount_cents == hook.amount_cents == 120050
    assert hook.subject_type == "income"
    assert hook.bank_account_id == "ba-1"
    assert hook.updated_at == datetime(2025, 1, 24, 10, 55, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("amount", "cents"),
    [(50.01, 5001), ("50.01", 5001), ("10,00", 1000), (0.1, 10), ("1234567.89", 123456789)],
)
def test_webhook_amounts_are_exact_to_the_cent(amount: object, cents: int) -> None:
    tx = QontoTransaction.model_validate({**WEBHOOK, "amount": amount})
    assert tx.amount_cents == cents
    assert tx.local_amount_cents == cents


def test_unknown_fields_survive_a_round_trip() -> None:
    tx = QontoTransaction.model_validate(REST)
    again = QontoTransaction.model_validate_json(tx.model_dump_json())
    assert again == tx
    assert again.model_extra is not None
    assert again.model_extra["undocumented_live_field"] == {"nested": [1, 2]}
    assert again.counterparty == REST["income"]


def test_naive_timestamps_are_utc() -> None:
    tx = QontoTransaction.model_validate({**REST, "updated_at": "2025-01-24T10:55:00"})
    assert tx.updated_at.tzinfo is not None
    assert tx.updated_at == datetime(2025, 1, 24, 10, 55, tzinfo=UTC)


def test_subject_types_become_snake_case() -> None:
    tx = QontoTransaction.model_validate({**WEBHOOK, "subject_type": "DirectDebitCollection"})
    assert tx.subject_type == "direct_debit_collection"


def test_a_transaction_without_amount_or_version_is_refused() -> None:
    without_amount = {k: v for k, v in WEBHOOK.items() if k != "amount"}
    with pytest.raises(ValidationError):
        QontoTransaction.model_validate(without_amount)
    without_version = {k: v for k, v in REST.items() if k != "updated_at"}
    with pytest.raises(ValidationError):
        QontoTransaction.model_validate(without_version)


def test_transaction_event_round_trips_and_keys_by_transaction_uuid() -> None:
    event = TransactionEvent(
        event_id="evt-1",
        source="webhook",
        organization_id="org",
        transaction=REST,  # type: ignore[arg-type]
    )
    again = TransactionEvent.model_validate_json(event.model_dump_json())
    assert again == event
    assert again.key == TX_ID
    assert again.version == again.transaction.updated_at
    body = json.loads(event.model_dump_json())
    assert body["transaction"]["amount_cents"] == 120050


def test_polled_event_ids_are_deterministic_per_version() -> None:
    t1 = datetime(2025, 1, 1, tzinfo=UTC)
    t2 = datetime(2025, 1, 2, tzinfo=UTC)
    assert polled_event_id(TX_ID, t1) == polled_event_id(TX_ID, t1)
    assert polled_event_id(TX_ID, t1) != polled_event_id(TX_ID, t2)


INVOICE = {
    "id": "inv-1",
    "number": "FAC-2025-0123",
    "kind": "receivable",
    "counterparty_name": "Client SAS",
    "counterparty_iban": None,
    "amount_cents": 120000,
    "currency": "EUR",
    "issue_date": "2025-10-01",
    "due_date": "2025-10-31",
    "status": "open",
    "payment_reference": None,
    "erp_ref": "X-9",
}


def test_invoice_contract_keeps_extra_fields() -> None:
    invoice = Invoice.model_validate(INVOICE)
    assert invoice.issue_date == date(2025, 10, 1)
    assert json.loads(invoice.model_dump_json())["erp_ref"] == "X-9"


def test_invoice_event_upsert_needs_the_invoice_and_cancel_needs_an_id() -> None:
    upsert = InvoiceEvent(invoice=Invoice.model_validate(INVOICE))
    assert upsert.key == "inv-1"
    cancel = InvoiceEvent(event_type="invoice.cancel", invoice_id="inv-1")
    assert cancel.invoice is None
    with pytest.raises(ValidationError):
        InvoiceEvent(event_type="invoice.upsert")
    with pytest.raises(ValidationError):
        InvoiceEvent(event_type="invoice.cancel")


def test_match_result_confidence_is_bounded() -> None:
    ok = MatchResult(
        transaction_id=TX_ID,
        transaction_version=datetime(2025, 1, 1, tzinfo=UTC),
        status="auto_matched",
        allocations=[{"invoice_id": "inv-1", "invoice_number": "FAC-1", "amount_cents": 100}],  # type: ignore[list-item]
        confidence=0.99,
        reasons=["reference.exact"],
        matcher_version="1",
    )
    assert MatchResult.model_validate_json(ok.model_dump_json()) == ok
    with pytest.raises(ValidationError):
        MatchResult(
            transaction_id=TX_ID,
            transaction_version=datetime(2025, 1, 1, tzinfo=UTC),
            status="unmatched",
            confidence=1.5,
            matcher_version="1",
        )


def test_an_undocumented_status_is_kept_not_refused() -> None:
    tx = QontoTransaction.model_validate({**REST, "status": "Reversed"})
    assert tx.status == "reversed"
    assert not tx.is_completed


# -- poison refused or sanitised at the edge, once, here --------------------------------
@pytest.mark.parametrize(
    "overrides",
    [
        {"amount_cents": 10**30},
        {"amount_cents": -(10**16)},
        {"amount_cents": 12.5},
        {"amount": "1e999999", "amount_cents": None},
        {"amount": 10**14, "amount_cents": None},
        {"settled_balance_cents": 2**63},
        {"vat_rate": float("inf")},
        {"custom_field": float("inf")},
        {"nested": {"deep": [float("nan")]}},
        {"id": "7b7a5ed6\x00"},
        {"id": "x" * 256},
    ],
)
def test_out_of_range_amounts_non_finite_numbers_and_bad_ids_are_refused(
    overrides: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        QontoTransaction.model_validate({**REST, **overrides})


def test_the_largest_amount_accepted_fits_postgresql_bigint() -> None:
    from qrecon.common.money import MAX_ABS_CENTS

    tx = QontoTransaction.model_validate({**REST, "amount_cents": MAX_ABS_CENTS})
    assert tx.amount_cents == MAX_ABS_CENTS < 2**63 - 1


def test_nul_is_removed_from_every_text_field_known_or_extra() -> None:
    tx = QontoTransaction.model_validate(
        {**REST, "label": "MAISON\x00 DUPONT", "note": "\x00", "extra\x00key": {"v": ["a\x00"]}}
    )
    assert tx.label == "MAISON DUPONT"
    assert tx.note == ""
    assert (tx.model_extra or {})["extrakey"] == {"v": ["a"]}
    assert "\\u0000" not in tx.model_dump_json()


def test_invoices_refuse_bad_ids_and_amounts_and_lose_their_nul() -> None:
    base = {
        "id": "inv-1",
        "number": "FAC-1",
        "kind": "receivable",
        "counterparty_name": "Client\x00 SAS",
        "amount_cents": 120000,
        "issue_date": "2025-10-01",
    }
    assert Invoice.model_validate(base).counterparty_name == "Client SAS"
    for bad in ({"id": "inv\x00"}, {"amount_cents": 10**30}, {"extra": float("inf")}):
        with pytest.raises(ValidationError):
            Invoice.model_validate({**base, **bad})


def test_envelope_ids_refuse_control_characters() -> None:
    with pytest.raises(ValidationError):
        TransactionEvent.model_validate(
            {"event_id": "e\x00", "source": "poll", "transaction": REST}
        )
    with pytest.raises(ValidationError):
        InvoiceEvent.model_validate({"event_type": "invoice.cancel", "invoice_id": "inv\x00"})
    cancel = InvoiceEvent.model_validate({"event_type": "invoice.cancel", "invoice_id": "inv-1"})
    assert cancel.key == "inv-1"
