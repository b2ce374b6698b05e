"""The reads the review API needs (the read side: no decision, no lock, no cache).

Each returns plain records of :mod:`.ports` (or raises :class:`.errors.NotFound`); the HTTP
adapter renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from qrecon.matcher.app.errors import NotFound
from qrecon.matcher.app.ports import (
    Database,
    DecisionRecord,
    InvoiceRecord,
    ResultRecord,
    ReviewRecord,
    TransactionRecord,
)


@dataclass(frozen=True, slots=True)
class ReviewPage:
    items: list[ReviewRecord]
    # Where the next page starts (``(tx_date, transaction_id)`` of the last item), if any.
    next_after: tuple[datetime, str] | None


@dataclass(frozen=True, slots=True)
class TransactionView:
    transaction: TransactionRecord
    allocations: dict[str, int]
    history: list[ResultRecord]
    decisions: list[DecisionRecord]


@dataclass(frozen=True, slots=True)
class InvoiceView:
    invoice: InvoiceRecord
    allocated_to: list[str]


class Queries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def review_queue(
        self, status: str, limit: int, after: tuple[datetime, str] | None = None
    ) -> ReviewPage:
        """Transactions whose result has ``status``, newest first, ``limit`` at a time."""
        async with self.db.reading() as repo:
            rows = await repo.list_for_review(status, limit + 1, after)
        more = len(rows) > limit
        rows = rows[:limit]
        next_after = (rows[-1].tx_date, rows[-1].transaction_id) if more else None
        return ReviewPage(items=rows, next_after=next_after)

    async def transaction(self, transaction_id: str) -> TransactionView:
        async with self.db.reading() as repo:
            row = await repo.get_transaction(transaction_id)
            if row is None:
                raise NotFound(f"transaction {transaction_id} is unknown")
            return TransactionView(
                transaction=row,
                allocations=await repo.allocations_of(transaction_id),
                history=await repo.results_of(transaction_id),
                decisions=await repo.decisions_of(transaction_id),
            )

    async def invoice(self, invoice_id: str) -> InvoiceView:
        async with self.db.reading() as repo:
            row = await repo.get_invoice(invoice_id)
            if row is None:
                raise NotFound(f"invoice {invoice_id} is unknown")
            return InvoiceView(
                invoice=row, allocated_to=await repo.transactions_allocated_to(invoice_id)
            )
