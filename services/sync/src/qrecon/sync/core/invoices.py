"""Qonto client and supplier invoices mapped to the ``Invoice`` contract. Pure functions.

* A **client invoice** (``GET /v2/client_invoices``) is money owed to us: ``receivable``.
  Status ``draft`` is not an invoice yet (skipped), ``unpaid`` -> ``open``, ``paid`` ->
  ``paid``, ``canceled`` -> ``canceled`` (published as ``invoice.cancel``).
* A **supplier invoice** (``GET /v2/supplier_invoices``) is money we owe: ``payable``,
  counterparty ``supplier_name``/``iban``, number ``invoice_number``. ``paid`` -> ``paid``;
  ``rejected``/``canceled``/``archived`` -> ``canceled``; the review and payment stages
  (``to_review``, ``to_approve``, ``awaiting_payment``, ``scheduled``, ...) -> ``open``.
  A supplier credit note (``is_credit_note``) has a negative amount, as the contract says.

Qonto's invoice payloads drift like the rest of its API (amounts as ``{value, currency}``
objects or cents, dates with offsets): everything is read leniently, and what cannot
make a valid invoice (no amount yet, no date) is skipped with a reason rather than
published half-formed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from qrecon.common.money import MoneyParseError, to_cents
from qrecon.common.schemas import Invoice, InvoiceEvent

QontoInvoiceKind = Literal["client_invoice", "supplier_invoice"]

# Namespace of the deterministic ids of invoice events published by sync.
_INVOICE_EVENT_NAMESPACE = uuid.UUID("3c0f0b7e-6f53-4a4e-9d0a-5b1c3e4f2a71")

_CLIENT_STATUS: dict[str, str | None] = {
    "draft": None,
    "unpaid": "open",
    "paid": "paid",
    "canceled": "canceled",
    "cancelled": "canceled",
}
_SUPPLIER_CANCELED = {"rejected", "canceled", "cancelled", "archived", "declined"}


@dataclass(frozen=True, slots=True)
class InvoiceMapping:
    """The outcome of mapping one Qonto invoice."""

    action: Literal["upsert", "cancel", "skip"]
    invoice: Invoice | None = None
    reason: str | None = None  # why it was skipped

    @property
    def invoice_id(self) -> str | None:
        return self.invoice.id if self.invoice else None


def _skip(reason: str) -> InvoiceMapping:
    return InvoiceMapping("skip", None, reason)


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _amount_cents(raw: Mapping[str, Any], *cents_keys: str) -> tuple[int | None, str | None]:
    """(cents, currency) from ``total_amount_cents`` or ``total_amount: {value, currency}``."""
    total = raw.get("total_amount")
    currency: str | None = None
    if isinstance(total, Mapping):
        currency = total.get("currency")
    for key in cents_keys:
        value = raw.get(key)
        if value is not None and not isinstance(value, bool):
            try:
                return int(value), currency or raw.get("currency")
            except (TypeError, ValueError):
                pass
    value = total.get("value") if isinstance(total, Mapping) else total
    if value is None:
        return None, currency or raw.get("currency")
    try:
        return to_cents(value), currency or raw.get("currency")
    except MoneyParseError:
        return None, currency or raw.get("currency")


def _client_name(client: Any) -> str | None:
    if not isinstance(client, Mapping):
        return None
    for key in ("name", "company_name", "legal_name"):
        if client.get(key):
            return str(client[key])
    person = " ".join(str(client[k]) for k in ("first_name", "last_name") if client.get(k))
    return person or None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _base_extra(raw: Mapping[str, Any], kind: QontoInvoiceKind, status: str) -> dict[str, Any]:
    return {
        "source": "qonto",
        "qonto_invoice_kind": kind,
        "qonto_status": status,
        "organization_id": raw.get("organization_id"),
    }


def map_client_invoice(raw: Mapping[str, Any]) -> InvoiceMapping:
    """A Qonto client invoice as a ``receivable`` invoice."""
    invoice_id = _text(raw.get("id"))
    if invoice_id is None:
        return _skip("no id")
    status_raw = str(raw.get("status") or "").strip().lower()
    if status_raw not in _CLIENT_STATUS:
        return _skip(f"unknown client invoice status {status_raw!r}")
    status = _CLIENT_STATUS[status_raw]
    if status is None:
        return _skip("draft")
    cents, currency = _amount_cents(raw, "total_amount_cents")
    if cents is None:
        return _skip("no total amount")
    issue_date = _date(raw.get("issue_date")) or _date(raw.get("created_at"))
    if issue_date is None:
        return _skip("no issue date")
    client = raw.get("client")
    payment_methods = raw.get("payment_methods")
    extra = _base_extra(raw, "client_invoice", status_raw)
    extra["paid_at"] = raw.get("paid_at")
    if isinstance(client, Mapping) and client.get("id"):
        extra["qonto_client_id"] = client.get("id")
    if isinstance(payment_methods, Mapping) and payment_methods.get("iban"):
        extra["payee_iban"] = payment_methods.get("iban")  # our account, not the client's
    invoice = Invoice(
        id=invoice_id,
        number=_text(raw.get("number")) or invoice_id,
        kind="receivable",
        counterparty_name=_client_name(client) or "unknown client",
        counterparty_iban=None,
        amount_cents=cents,
        currency=(currency or "EUR").upper(),
        issue_date=issue_date,
        due_date=_date(raw.get("due_date")),
        status=status,  # type: ignore[arg-type]
        payment_reference=_text(raw.get("payment_reference") or raw.get("structured_reference")),
        **extra,
    )
    return InvoiceMapping("cancel" if status == "canceled" else "upsert", invoice)


def map_supplier_invoice(raw: Mapping[str, Any]) -> InvoiceMapping:
    """A Qonto supplier invoice as a ``payable`` invoice."""
    invoice_id = _text(raw.get("id"))
    if invoice_id is None:
        return _skip("no id")
    status_raw = str(raw.get("status") or "").strip().lower()
    if status_raw == "paid":
        status = "paid"
    elif status_raw in _SUPPLIER_CANCELED:
        status = "canceled"
    else:
        status = "open"
    cents, currency = _amount_cents(raw, "total_amount_cents")
    if cents is None:
        return _skip("no total amount (not reviewed yet)")
    if raw.get("is_credit_note") is True and cents > 0:
        cents = -cents
    issue_date = _date(raw.get("issue_date")) or _date(raw.get("created_at"))
    if issue_date is None:
        return _skip("no issue date")
    iban = _text(raw.get("iban"))
    extra = _base_extra(raw, "supplier_invoice", status_raw)
    extra["payment_date"] = raw.get("payment_date")
    invoice = Invoice(
        id=invoice_id,
        number=_text(raw.get("invoice_number")) or invoice_id,
        kind="payable",
        counterparty_name=_text(raw.get("supplier_name")) or "unknown supplier",
        counterparty_iban=iban.replace(" ", "").upper() if iban else None,
        amount_cents=cents,
        currency=(currency or "EUR").upper(),
        issue_date=issue_date,
        due_date=_date(raw.get("due_date")),
        status=status,  # type: ignore[arg-type]
        payment_reference=_text(raw.get("payment_reference")),
        **extra,
    )
    return InvoiceMapping("cancel" if status == "canceled" else "upsert", invoice)


def map_invoice(kind: QontoInvoiceKind, raw: Mapping[str, Any]) -> InvoiceMapping:
    if kind == "client_invoice":
        return map_client_invoice(raw)
    return map_supplier_invoice(raw)


#: Where an invoice shows when it last changed: a supplier invoice has ``updated_at``; a
#: client invoice documents none (docs: list-client-invoices), only these milestones.
_CHANGE_FIELDS = ("updated_at", "paid_at", "finalized_at", "created_at")
#: Qonto rejects dates before this one (as for transactions).
_QONTO_EPOCH = datetime(2017, 1, 1, tzinfo=UTC)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) <= 10:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def invoice_changed_at(raw: Mapping[str, Any]) -> datetime | None:
    """The latest change an invoice shows (its ``updated_at``, else the latest of
    ``paid_at``, ``finalized_at``, ``created_at``), in UTC; ``None`` when it shows none.

    Never later than the invoice's real update time, so a watermark built from it can
    only make the next pass re-read, never skip. A timestamp without a zone is ignored.
    """
    stamps = [t for t in (_timestamp(raw.get(f)) for f in _CHANGE_FIELDS) if t is not None]
    return max(stamps) if stamps else None


def invoices_since(watermark: datetime | None, overlap: timedelta) -> datetime | None:
    """The ``filter[updated_at_from]`` of the next pass: ``overlap`` before the watermark
    (what commits late with an earlier time is still read), never before 2017; ``None``
    (everything) without a watermark."""
    if watermark is None:
        return None
    return max(watermark - overlap, _QONTO_EPOCH)


def content_hash(mapping: InvoiceMapping) -> str:
    """A stable digest of what would be published (to publish only what changed)."""
    assert mapping.invoice is not None
    payload = {"action": mapping.action, "invoice": mapping.invoice.model_dump(mode="json")}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def to_invoice_event(
    mapping: InvoiceMapping, *, connection_id: str, organization_id: str | None = None
) -> InvoiceEvent:
    """The ``invoices.v1`` event for a mapped invoice (deterministic event id), naming the
    connection's organisation: the matcher keeps each organisation's book apart."""
    if mapping.invoice is None or mapping.action == "skip":
        raise ValueError("a skipped invoice has no event")
    digest = content_hash(mapping)
    event_id = str(uuid.uuid5(_INVOICE_EVENT_NAMESPACE, f"{mapping.invoice.id}@{digest}"))
    return InvoiceEvent(
        event_type="invoice.cancel" if mapping.action == "cancel" else "invoice.upsert",
        event_id=event_id,
        source="qonto-sync",
        invoice_id=mapping.invoice.id,
        invoice=mapping.invoice,
        connection_id=connection_id,
        # Qonto's own organisation on the invoice, else the connection's
        organization_id=mapping.invoice.organization_id or organization_id,
    )
