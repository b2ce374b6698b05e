"""The desk's reads (the queue, a bank line's page, the invoice search) and its bulk
confirmation, each scoped to the session's organisation through :class:`.desk_ports.DeskStore`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from qrecon.matcher.app.desk_ports import (
    DeskStore,
    InvoiceHit,
    QueueCounts,
    QueueFilter,
    QueueRow,
)
from qrecon.matcher.app.errors import Conflict, NotFound, ServiceError
from qrecon.matcher.app.ports import Decider
from qrecon.matcher.app.queries import Queries, TransactionView

MAX_BULK = 500


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[QueueRow]
    counts: QueueCounts
    has_more: bool


@dataclass(frozen=True, slots=True)
class LineView:
    view: TransactionView
    # The invoices named by the result, its alternatives and the allocations held.
    invoices: dict[str, InvoiceHit]

    @property
    def result(self) -> dict[str, Any]:
        return self.view.transaction.result

    @property
    def transaction(self) -> dict[str, Any]:
        return self.view.transaction.transaction


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    bulk_id: int | None
    confirmed: list[str]
    skipped: dict[str, str]  # transaction id -> why


class DeskQueries:
    def __init__(self, store: DeskStore, queries: Callable[[str], Queries]) -> None:
        self.store = store
        self.queries = queries  # an organisation's reads

    async def queue(self, org: str, flt: QueueFilter) -> QueuePage:
        # The page and its counts at once (two connections of the pool).
        rows, counts = await asyncio.gather(
            self.store.queue(org, replace(flt, limit=flt.limit + 1)), self.store.counts(org, flt)
        )
        return QueuePage(rows=rows[: flt.limit], counts=counts, has_more=len(rows) > flt.limit)

    async def line(self, org: str, transaction_id: str) -> LineView:
        if not await self.store.owns_transaction(org, transaction_id):
            raise NotFound(f"transaction {transaction_id} is unknown")
        view = await self.queries(org).transaction(transaction_id)
        result = view.transaction.result
        ids = {a["invoice_id"] for a in result.get("allocations", [])}
        for alternative in result.get("alternatives") or []:
            if isinstance(alternative, dict):
                ids |= {a["invoice_id"] for a in alternative.get("allocations", [])}
        ids |= set(view.allocations)
        return LineView(view=view, invoices=await self.store.invoices(org, sorted(ids)))

    async def search_invoices(
        self, org: str, text: str | None, amount_cents: int | None, limit: int = 20
    ) -> list[InvoiceHit]:
        return await self.store.search_invoices(org, text or None, amount_cents, limit)

    async def current_seq(self, org: str, transaction_id: str) -> int:
        seq = await self.store.transaction_seq(org, transaction_id)
        if seq is None:
            raise NotFound(f"transaction {transaction_id} is unknown")
        return seq


class BulkConfirm:
    """Confirm every suggestion above a confidence, after a preview; undo them as one."""

    def __init__(self, store: DeskStore, decider: Decider) -> None:
        self.store = store
        self.decider = decider

    async def preview(self, org: str, min_confidence: float) -> list[QueueRow]:
        return await self.store.suggestions_above(org, min_confidence, MAX_BULK)

    async def confirm(
        self, org: str, min_confidence: float, expected: dict[str, int], actor: str
    ) -> BulkOutcome:
        """Confirm what the preview showed (``expected``: transaction id -> result seq seen);
        a line that changed since the preview is skipped, never confirmed blind."""
        shown = {row.transaction_id for row in await self.preview(org, min_confidence)}
        confirmed: dict[str, int] = {}
        skipped: dict[str, str] = {}
        for transaction_id, seq in expected.items():
            if transaction_id not in shown:
                skipped[transaction_id] = "changed"
                continue
            try:
                await self.decider.confirm(
                    transaction_id, expected_seq=seq, actor=actor, organization=org
                )
            except ServiceError as exc:
                skipped[transaction_id] = exc.code
                continue
            after = await self.store.transaction_seq(org, transaction_id)
            confirmed[transaction_id] = after if after is not None else seq + 1
        bulk_id = (
            await self.store.record_bulk(org, actor, min_confidence, confirmed)
            if confirmed
            else None
        )
        return BulkOutcome(bulk_id=bulk_id, confirmed=sorted(confirmed), skipped=skipped)

    async def undo(self, org: str, bulk_id: int, actor: str) -> BulkOutcome:
        bulk = await self.store.bulk(org, bulk_id)
        if bulk is None:
            raise NotFound(f"bulk confirmation {bulk_id} is unknown")
        if bulk.undone_at is not None or not await self.store.mark_bulk_undone(org, bulk_id):
            raise Conflict("this bulk confirmation was already undone")
        undone: list[str] = []
        skipped: dict[str, str] = {}
        for transaction_id, seq in sorted(bulk.items.items()):
            try:
                await self.decider.undo(
                    transaction_id, expected_seq=seq, actor=actor, organization=org
                )
            except ServiceError as exc:
                skipped[transaction_id] = exc.code
                continue
            undone.append(transaction_id)
        return BulkOutcome(bulk_id=bulk_id, confirmed=undone, skipped=skipped)
