"""Invoices: client invoices (receivables) and supplier invoices (payables).

Both lists filter as Qonto documents (docs: list-client-invoices, list-supplier-invoices):
by status, ``created_at_from/_to`` and ``updated_at_from/_to`` (inclusive bounds). Every
change stamps a private ``_updated_at`` (the documented client invoice has no
``updated_at`` field, yet is filtered on it; a supplier invoice shows it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from qrecon.sim.clock import parse_ts
from qrecon.sim.errors import NotFound, Unprocessable
from qrecon.sim.shapes import (
    client_invoice_contract,
    date_value,
    money_object,
    public,
    supplier_invoice_contract,
)
from qrecon.sim.stores.accounts import AccountStore
from qrecon.sim.stores.base import PARIS, StoreContext, stable_uuid


@dataclass(frozen=True, slots=True)
class InvoiceFilter:
    """What a list asks for: statuses (none: every one) and inclusive time bounds."""

    statuses: tuple[str, ...] = ()
    created_at_from: datetime | None = None
    created_at_to: datetime | None = None
    updated_at_from: datetime | None = None
    updated_at_to: datetime | None = None

    def admits(self, invoice: dict[str, Any]) -> bool:
        if self.statuses and invoice["status"] not in self.statuses:
            return False
        created = parse_ts(invoice["created_at"])
        updated: datetime = invoice["_updated_at"]
        return (
            (self.created_at_from is None or created >= self.created_at_from)
            and (self.created_at_to is None or created <= self.created_at_to)
            and (self.updated_at_from is None or updated >= self.updated_at_from)
            and (self.updated_at_to is None or updated <= self.updated_at_to)
        )


_SORT_FIELDS = ("created_at", "issue_date", "due_date", "updated_at")


def _sorted(items: list[dict[str, Any]], sort_by: str) -> list[dict[str, Any]]:
    field_name, _, direction = sort_by.partition(":")
    if field_name not in _SORT_FIELDS or direction not in ("", "asc", "desc"):
        raise Unprocessable(f"invalid sort_by {sort_by!r}", parameter="sort_by")

    def key(invoice: dict[str, Any]) -> tuple[str, str]:
        if field_name in ("created_at", "updated_at"):
            stamp = invoice["_updated_at"] if field_name == "updated_at" else None
            when = stamp or parse_ts(invoice["created_at"])
            return (when.isoformat(), invoice["id"])
        return (str(invoice.get(field_name) or ""), invoice["id"])

    return [public(i) for i in sorted(items, key=key, reverse=direction != "asc")]


class InvoiceStore:
    def __init__(self, ctx: StoreContext, accounts: AccountStore) -> None:
        self._lock = ctx.lock
        self._clock = ctx.clock
        self._ids = ctx.ids
        self._accounts = accounts
        self.clear()

    def clear(self) -> None:
        self._client: dict[str, dict[str, Any]] = {}
        self._supplier: dict[str, dict[str, Any]] = {}

    def _now_paris(self) -> str:
        return self._clock.now().astimezone(PARIS).isoformat(timespec="seconds")

    def add_client_invoice(
        self,
        *,
        number: str,
        client_name: str,
        amount_cents: int,
        issue_date: date | str,
        due_date: date | str | None = None,
        vat_amount_cents: int | None = None,
        status: str = "unpaid",
        client_iban: str | None = None,
        payment_reference: str | None = None,
        organization_id: str | None = None,
        id: str | None = None,
        client: dict[str, Any] | None = None,
        items: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A Qonto client invoice (receivable)."""
        with self._lock:
            org_id = organization_id or self._accounts.default_organization_id
            assert org_id is not None
            invoice_id = id or self._ids.new_id()
            issue = date_value(issue_date)
            due = date_value(due_date) or issue
            vat = vat_amount_cents if vat_amount_cents is not None else 0
            main = self._accounts.main_account(org_id)
            created = self._now_paris()
            invoice: dict[str, Any] = {
                "id": invoice_id,
                "organization_id": org_id,
                "number": number,
                "purchase_order": extra.pop("purchase_order", None),
                "status": status,
                "invoice_url": f"https://pay.qonto.example/invoices/{invoice_id}",
                "contact_email": "factures@acme.example",
                "currency": "EUR",
                "total_amount": money_object(amount_cents),
                "total_amount_cents": amount_cents,
                "vat_amount": money_object(vat),
                "vat_amount_cents": vat,
                "issue_date": issue,
                "due_date": due,
                "performance_date": issue,
                "created_at": created,
                "finalized_at": created,
                "paid_at": None,
                "client": client
                or {
                    "id": stable_uuid("client", org_id, client_name),
                    "name": client_name,
                    "type": "company",
                    "email": None,
                    "vat_number": None,
                    "address": None,
                    "city": None,
                    "zip_code": None,
                    "country_code": "FR",
                },
                "items": items
                or [
                    {
                        "title": "Prestation",
                        "quantity": "1",
                        "unit_price": money_object(amount_cents - vat),
                        "vat_rate": "0.2" if vat else "0",
                        "total_vat": money_object(vat),
                        "total_amount": money_object(amount_cents),
                    }
                ],
                "payment_methods": {"iban": main["iban"] if main else None},
                "credit_notes_ids": [],
                "_counterparty_iban": client_iban,
                "_payment_reference": payment_reference,
                "_updated_at": self._clock.now(),
            }
            invoice.update(extra)
            self._client[invoice_id] = invoice
            return public(invoice)

    def add_supplier_invoice(
        self,
        *,
        invoice_number: str,
        supplier_name: str,
        amount_cents: int,
        issue_date: date | str,
        due_date: date | str | None = None,
        status: str = "to_pay",
        iban: str | None = None,
        payment_reference: str | None = None,
        organization_id: str | None = None,
        id: str | None = None,
        currency: str = "EUR",
        **extra: Any,
    ) -> dict[str, Any]:
        """A Qonto supplier invoice (payable), in ``currency`` (a supplier abroad's own)."""
        with self._lock:
            org_id = organization_id or self._accounts.default_organization_id
            assert org_id is not None
            invoice_id = id or self._ids.new_id()
            issue = date_value(issue_date)
            now = self._now_paris()
            invoice: dict[str, Any] = {
                "id": invoice_id,
                "organization_id": org_id,
                "source_type": "email_forward",
                "file_name": f"{invoice_number}.pdf",
                "invoice_number": invoice_number,
                "supplier_name": supplier_name,
                # Documented supplier invoices carry total_amount {value, currency} only,
                # no total_amount_cents (docs: list-supplier-invoices).
                "total_amount": money_object(amount_cents, currency),
                "issue_date": issue,
                "due_date": date_value(due_date) or issue,
                "payment_date": None,
                "status": status,
                "iban": iban,
                "is_einvoice": False,
                "created_at": now,
                "updated_at": now,
                "_payment_reference": payment_reference,
                "_updated_at": self._clock.now(),
            }
            invoice.update(extra)
            self._supplier[invoice_id] = invoice
            return public(invoice)

    def client_invoice(self, invoice_id: str) -> dict[str, Any]:
        """One client invoice (any organization) in Qonto's shape."""
        with self._lock:
            invoice = self._client.get(invoice_id)
            if invoice is None:
                raise NotFound("client invoice not found")
            return public(invoice)

    def update_client_invoice(self, invoice_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            invoice = self._client.get(invoice_id)
            if invoice is None:
                raise NotFound("client invoice not found")
            if changes.get("status") == "paid" and invoice["status"] != "paid":
                changes.setdefault("paid_at", self._now_paris())  # as Qonto stamps it
            invoice.update(changes)
            invoice["_updated_at"] = self._clock.now()
            return public(invoice)

    def update_supplier_invoice(self, invoice_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            invoice = self._supplier.get(invoice_id)
            if invoice is None:
                raise NotFound("supplier invoice not found")
            invoice["updated_at"] = self._now_paris()
            invoice.update(changes)
            invoice["_updated_at"] = self._clock.now()
            return public(invoice)

    def client_invoices(
        self,
        organization_id: str | None = None,
        statuses: Iterable[str] = (),
        *,
        where: InvoiceFilter | None = None,
        sort_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest issue first unless ``sort_by`` (``created_at:asc|desc``, as documented)."""
        with self._lock:
            org_id = organization_id or self._accounts.default_organization_id
            wanted = where or InvoiceFilter(tuple(statuses))
            items = [
                i
                for i in self._client.values()
                if i["organization_id"] == org_id and wanted.admits(i)
            ]
            if sort_by is not None:
                return _sorted(items, sort_by)
            items.sort(key=lambda i: (i["issue_date"], i["number"]), reverse=True)
            return [public(i) for i in items]

    def supplier_invoices(
        self,
        organization_id: str | None = None,
        statuses: Iterable[str] = (),
        created_at_from: str | None = None,
        created_at_to: str | None = None,
        sort_by: str = "created_at:desc",
        *,
        where: InvoiceFilter | None = None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            org_id = organization_id or self._accounts.default_organization_id
            wanted = where or InvoiceFilter(
                tuple(statuses),
                created_at_from=parse_ts(created_at_from) if created_at_from else None,
                created_at_to=parse_ts(created_at_to) if created_at_to else None,
            )
            items = [
                i
                for i in self._supplier.values()
                if i["organization_id"] == org_id and wanted.admits(i)
            ]
            return _sorted(items, sort_by)

    def contract(self) -> list[dict[str, Any]]:
        """Every invoice in the project's ``Invoice`` contract (``invoices.v1``)."""
        with self._lock:
            out = [client_invoice_contract(i) for i in self._client.values()]
            out += [supplier_invoice_contract(i) for i in self._supplier.values()]
            return out

    def client_snapshot(self) -> list[dict[str, Any]]:
        """Every client invoice in Qonto's shape, all organizations (ground truth)."""
        return [public(i) for i in self._client.values()]

    def supplier_snapshot(self) -> list[dict[str, Any]]:
        """Every supplier invoice in Qonto's shape, all organizations (ground truth)."""
        return [public(i) for i in self._supplier.values()]

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self._client), len(self._supplier)
