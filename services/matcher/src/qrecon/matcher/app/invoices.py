"""Use cases of the invoice side: an invoice event, and re-deciding what it may change.

* A cancelled invoice (or one whose amount, kind or currency no longer fits what is
  allocated to it): its allocations are released in the same unit of work that changes
  the invoice, the transactions are flagged ``needs_redecide`` and then decided again (a
  periodic sweep finishes the job after a crash).
* A material change (or a new invoice): the transactions it was suggested for are
  decided again.
* New open invoices: :meth:`Invoices.reexamine` decides recent ``unmatched`` /
  ``suggested`` transactions again (matching runs in both directions); only changed
  outcomes are published.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from qrecon.common.schemas import InvoiceEvent, QontoTransaction
from qrecon.matcher.app import lifecycle
from qrecon.matcher.app.decisions import Decisions
from qrecon.matcher.app.ports import InvoiceRecord, ResidualViolation, SavedInvoice

# Attempts at releasing an invoice's allocations while other writers keep adding some.
MAX_RELEASE_ATTEMPTS = 50


@dataclass(frozen=True)
class InvoiceOutcome:
    applied: bool
    open: bool = False
    currency: str = "EUR"
    redecided: int = 0
    organization: str = ""


class _Retry(Exception):
    pass


def invoice_fields(
    event: InvoiceEvent, current: InvoiceRecord | None, cancel: bool
) -> dict[str, Any]:
    """What the event makes of the invoice (a cancellation keeps what was known)."""
    if event.invoice is not None:
        invoice: dict[str, Any] = event.invoice.model_dump(mode="json")
    elif current is not None:
        invoice = dict(current.invoice)
    else:  # a cancellation of an invoice never seen: a tombstone against reordering
        invoice = {"id": event.invoice_id}
    if cancel:
        invoice["status"] = "canceled"
    known = "kind" in invoice and "amount_cents" in invoice
    return {
        "invoice": invoice,
        "kind": invoice["kind"] if known else "unknown",
        "currency": str(invoice.get("currency") or "EUR"),
        "amount_cents": int(invoice["amount_cents"]) if known else 0,
        "status": str(invoice.get("status") or "open"),
    }


class Invoices:
    def __init__(self, decisions: Decisions, *, reexamine_days: int, reexamine_limit: int) -> None:
        self.decisions = decisions
        self.reexamine_days = reexamine_days
        self.reexamine_limit = reexamine_limit

    async def handle_invoice_event(self, event: InvoiceEvent) -> InvoiceOutcome:
        """Apply an invoice upsert or cancellation; release and re-decide what it affects.

        Re-examining unmatched transactions against a new open invoice is done by the
        caller once per batch (:meth:`reexamine`).
        """
        d = self.decisions
        invoice_id = event.invoice_id
        cancel = event.event_type == "invoice.cancel" or (
            event.invoice is not None and event.invoice.status == "canceled"
        )
        released: list[str] = []
        material = False
        new_status = "canceled"
        new_currency = event.invoice.currency if event.invoice else "EUR"
        for _ in range(MAX_RELEASE_ATTEMPTS):
            async with d.db.unit_of_work() as uow:
                affected = await uow.repo.transactions_allocated_to(invoice_id)
            try:
                async with d.db.unit_of_work() as uow:
                    repo = uow.repo
                    current = await repo.get_invoice(invoice_id)
                    if current is not None and event.observed_at < current.last_event_at:
                        return InvoiceOutcome(False, organization=d.organization)
                    fields = invoice_fields(event, current, cancel)
                    new_status, new_currency = fields["status"], fields["currency"]
                    material = current is None or any(
                        getattr(current, k) != fields[k]
                        for k in ("kind", "currency", "amount_cents", "status")
                    )
                    incompatible = current is not None and (
                        cancel
                        or fields["kind"] != current.kind
                        or fields["currency"] != current.currency
                        or not (
                            min(0, fields["amount_cents"])
                            <= current.allocated_cents
                            <= max(0, fields["amount_cents"])
                        )
                    )
                    involved = {invoice_id}
                    released = []
                    if incompatible and affected:
                        await repo.lock_transactions(affected)
                        now_affected = await repo.transactions_allocated_to(invoice_id)
                        if set(now_affected) - set(affected):
                            raise _Retry
                        held = await repo.allocations_of_many(now_affected)
                        involved |= {i for allocs in held.values() for i in allocs}
                        await repo.lock_invoices(involved)
                        await repo.delete_allocations(now_affected)
                        await repo.flag_redecide(now_affected)
                        released = now_affected
                    else:
                        await repo.lock_invoices(involved)
                    await repo.save_invoice(
                        SavedInvoice(
                            invoice_id=invoice_id,
                            invoice=fields["invoice"],
                            kind=fields["kind"],
                            currency=fields["currency"],
                            amount_cents=fields["amount_cents"],
                            status=fields["status"],
                            event_id=event.event_id,
                            event_at=event.observed_at,
                        )
                    )
                    rows = await repo.get_invoices(involved)
                    uow.after_commit(lambda rows=rows: d.state.apply_invoices(rows))  # type: ignore[misc]
            except (_Retry, ResidualViolation):
                continue
            break
        else:
            raise RuntimeError(f"invoice {invoice_id}: allocations kept moving")
        cause = "invoice_canceled" if cancel else "invoice_changed"
        redecided = 0
        for transaction_id in released:
            if await d.redecide(transaction_id, cause=cause) is not None:
                redecided += 1
        if material:
            async with d.db.reading() as reader:
                suggesting = await reader.transactions_suggesting(invoice_id)
            for transaction_id in suggesting:
                if await d.redecide(transaction_id, cause=cause, statuses=("suggested",)):
                    redecided += 1
        return InvoiceOutcome(
            True,
            open=new_status == "open",
            currency=new_currency,
            redecided=redecided,
            organization=d.organization,
        )

    async def reexamine(self, currencies: Iterable[str]) -> int:
        """Decide recent unmatched/suggested transactions again (new invoices arrived).

        The engine first runs on this replica's cache, without any lock; only the
        transactions whose outcome would change are then decided again for real.
        """
        d = self.decisions
        wanted = sorted(set(currencies))
        if not wanted or self.reexamine_limit == 0:
            return 0
        async with d.db.reading() as repo:
            # "Recent" is measured from the newest bank date the matcher holds, not from
            # the wall clock: decisions then depend on the data alone (a replayed or
            # backfilled month behaves as it did live, whatever today's date is).
            latest = await repo.latest_transaction_date()
            if latest is None:
                return 0
            since = latest - timedelta(days=self.reexamine_days)
            rows = await repo.reexamine_candidates(wanted, since, self.reexamine_limit)
        changed = 0
        for row in rows:
            try:
                tx = QontoTransaction.model_validate(row.transaction)
            except ValueError:
                continue
            if lifecycle.reversal_reason(tx) is not None:
                continue
            preview = d.decide(tx, {}, (), degrade=False)
            if lifecycle.unchanged(
                row.result_status, row.result, preview, lifecycle.reserved_by(preview)
            ):
                continue
            if await d.redecide(
                row.transaction_id, cause="invoice_arrived", statuses=lifecycle.REVIEWABLE
            ):
                changed += 1
        return changed
