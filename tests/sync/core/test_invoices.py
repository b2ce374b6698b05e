"""Qonto client and supplier invoices mapped to the Invoice contract."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from qrecon.sync.core.invoices import (
    content_hash,
    map_client_invoice,
    map_invoice,
    map_supplier_invoice,
    to_invoice_event,
)

CLIENT: dict[str, Any] = {
    "id": "0a1b2c3d-0000-4000-8000-000000000001",
    "organization_id": "org-1",
    "number": "F-2025-0042",
    "status": "unpaid",
    "currency": "EUR",
    "total_amount": {"value": "1200.50", "currency": "EUR"},
    "total_amount_cents": 120050,
    "issue_date": "2025-10-01",
    "due_date": "2025-10-31",
    "paid_at": None,
    "client": {"id": "c-1", "name": "Maison Dupont SARL", "type": "company"},
    "payment_methods": {"iban": "FR7630001007941234567890185", "beneficiary_name": "Us"},
}

SUPPLIER: dict[str, Any] = {
    "id": "5e6f7a8b-0000-4000-8000-000000000002",
    "organization_id": "org-1",
    "invoice_number": "INV-7781",
    "supplier_name": "Fournitures Martin",
    "status": "awaiting_payment",
    "total_amount": {"value": "89,90", "currency": "eur"},
    "issue_date": "2025-09-12T00:00:00+02:00",
    "due_date": "2025-10-12",
    "payment_date": None,
    "iban": "fr76 3000 4000 0312 3456 7890 143",
}


def test_client_invoice_unpaid_is_an_open_receivable() -> None:
    m = map_client_invoice(CLIENT)
    assert m.action == "upsert"
    assert m.invoice is not None
    inv = m.invoice
    assert inv.kind == "receivable"
    assert inv.status == "open"
    assert inv.amount_cents == 120050
    assert inv.currency == "EUR"
    assert inv.number == "F-2025-0042"
    assert inv.counterparty_name == "Maison Dupont SARL"
    assert inv.counterparty_iban is None  # the payer's IBAN is unknown; ours is kept apart
    assert inv.issue_date == date(2025, 10, 1)
    assert inv.due_date == date(2025, 10, 31)
    assert inv.model_extra is not None
    assert inv.model_extra["qonto_invoice_kind"] == "client_invoice"
    assert inv.model_extra["payee_iban"] == "FR7630001007941234567890185"


@pytest.mark.parametrize(
    ("status", "action", "mapped"),
    [("paid", "upsert", "paid"), ("canceled", "cancel", "canceled"), ("unpaid", "upsert", "open")],
)
def test_client_invoice_statuses(status: str, action: str, mapped: str) -> None:
    m = map_client_invoice({**CLIENT, "status": status})
    assert m.action == action
    assert m.invoice is not None
    assert m.invoice.status == mapped


def test_client_draft_and_unknown_status_are_skipped() -> None:
    assert map_client_invoice({**CLIENT, "status": "draft"}).action == "skip"
    skipped = map_client_invoice({**CLIENT, "status": "weird"})
    assert skipped.action == "skip"
    assert "weird" in (skipped.reason or "")


def test_client_amount_from_value_when_cents_missing_and_person_name() -> None:
    raw = {**CLIENT, "total_amount_cents": None, "total_amount": {"value": "10.00"}}
    raw["client"] = {"first_name": "Jeanne", "last_name": "Martin", "type": "individual"}
    m = map_client_invoice(raw)
    assert m.invoice is not None
    assert m.invoice.amount_cents == 1000
    assert m.invoice.counterparty_name == "Jeanne Martin"


def test_supplier_invoice_is_a_payable() -> None:
    m = map_supplier_invoice(SUPPLIER)
    assert m.action == "upsert"
    assert m.invoice is not None
    inv = m.invoice
    assert inv.kind == "payable"
    assert inv.status == "open"
    assert inv.number == "INV-7781"
    assert inv.counterparty_name == "Fournitures Martin"
    assert inv.counterparty_iban == "FR7630004000031234567890143"
    assert inv.amount_cents == 8990
    assert inv.currency == "EUR"
    assert inv.issue_date == date(2025, 9, 12)


@pytest.mark.parametrize(
    ("status", "action", "mapped"),
    [
        ("paid", "upsert", "paid"),
        ("rejected", "cancel", "canceled"),
        ("archived", "cancel", "canceled"),
        ("to_review", "upsert", "open"),
        ("scheduled", "upsert", "open"),
    ],
)
def test_supplier_statuses(status: str, action: str, mapped: str) -> None:
    m = map_supplier_invoice({**SUPPLIER, "status": status})
    assert m.action == action
    assert m.invoice is not None
    assert m.invoice.status == mapped


def test_supplier_without_amount_is_skipped_and_credit_note_is_negative() -> None:
    assert map_supplier_invoice({**SUPPLIER, "total_amount": None}).action == "skip"
    credit = map_supplier_invoice({**SUPPLIER, "is_credit_note": True})
    assert credit.invoice is not None
    assert credit.invoice.amount_cents == -8990


def test_missing_id_or_date_is_skipped() -> None:
    assert map_invoice("client_invoice", {**CLIENT, "id": None}).action == "skip"
    raw = {**SUPPLIER, "issue_date": None, "created_at": None}
    assert map_invoice("supplier_invoice", raw).action == "skip"
    raw["created_at"] = "2025-09-01T08:00:00Z"
    fallback = map_invoice("supplier_invoice", raw)
    assert fallback.invoice is not None
    assert fallback.invoice.issue_date == date(2025, 9, 1)


def test_event_ids_are_deterministic_and_change_with_content() -> None:
    m = map_client_invoice(CLIENT)
    e1 = to_invoice_event(m, connection_id="default")
    e2 = to_invoice_event(map_client_invoice(dict(CLIENT)), connection_id="default")
    assert e1.event_id == e2.event_id
    assert e1.event_type == "invoice.upsert"
    assert e1.key == CLIENT["id"]
    paid = map_client_invoice({**CLIENT, "status": "paid"})
    assert content_hash(paid) != content_hash(m)
    assert to_invoice_event(paid, connection_id="default").event_id != e1.event_id
    cancel = to_invoice_event(
        map_client_invoice({**CLIENT, "status": "canceled"}), connection_id="x"
    )
    assert cancel.event_type == "invoice.cancel"
    assert cancel.invoice is not None
    with pytest.raises(ValueError, match="skipped"):
        to_invoice_event(map_client_invoice({**CLIENT, "status": "draft"}), connection_id="x")
