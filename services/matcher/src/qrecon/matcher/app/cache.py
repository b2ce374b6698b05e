"""This replica's in-memory view: the engine's InvoiceBook and Knowledge, rebuilt from PostgreSQL.

Why a cache: the engine scores a transaction against every open item through in-memory
indexes (counterparty, amount, reference); rebuilding them per decision from SQL would
cost a full scan each time. Why it may be stale without harm: it only *proposes*. Every
allocation is committed against PostgreSQL under row locks and the residual constraint
(:mod:`qrecon.matcher.app.decisions`); when PostgreSQL disagrees with the cache, the
rows read under lock refresh it and the decision is taken again.

How it stays fresh:

* after each of its own commits, a replica applies the invoice rows it changed;
* every ``MATCHER_CACHE_REFRESH_SECONDS`` it reads the rows changed since its last read
  (``updated_at``, set by a trigger at write time; re-read with a few seconds of overlap
  for transactions that commit late), so changes made by other replicas — including the
  invoice events another group member consumed — arrive within about a second;
* every ``MATCHER_CACHE_FULL_RELOAD_SECONDS`` it rebuilds everything, which bounds the
  staleness of anything the incremental read could miss;
* each invoice row carries ``row_version`` (incremented by a trigger on every change):
  the cache applies a row only when it is newer than the one it holds, so a slow reader
  never overwrites a fresher row.

Knowledge: aliases and rejections are append-mostly (read by ``id``); an undo deletes some
and bumps ``matcher_knowledge_epoch``, upon which every replica rebuilds its Knowledge.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from qrecon.common.logging import get_logger
from qrecon.common.schemas import Invoice
from qrecon.matcher import metrics
from qrecon.matcher.app.ports import (
    AliasRecord,
    Database,
    InvoiceRecord,
    RejectionRecord,
    Repository,
)
from qrecon.matcher.core import InvoiceBook, Knowledge

log = get_logger(__name__)

# Rows committed this long after they were stamped are still read
# (MATCHER_CACHE_REFRESH_OVERLAP_SECONDS).
DEFAULT_REFRESH_OVERLAP = timedelta(seconds=5)


def invoice_from_row(row: InvoiceRecord) -> Invoice:
    data = dict(row.invoice)
    data["status"] = row.status
    return Invoice.model_validate(data)


class MatcherState:
    """The InvoiceBook and Knowledge of this replica (asyncio: one writer at a time)."""

    def __init__(self, *, refresh_overlap: timedelta = DEFAULT_REFRESH_OVERLAP) -> None:
        self.refresh_overlap = refresh_overlap
        self.book = InvoiceBook()
        self.knowledge = Knowledge()
        self._versions: dict[str, int] = {}
        self._invoice_watermark: datetime | None = None
        self._alias_id = 0
        self._rejection_id = 0
        self._epoch: int | None = None
        self.loaded = False

    # ------------------------------------------------------------------ invoices
    def apply_invoice(self, row: InvoiceRecord) -> None:
        """Apply a row read from PostgreSQL, unless this replica holds a newer one."""
        if self._versions.get(row.invoice_id, 0) >= row.row_version:
            return
        self._versions[row.invoice_id] = row.row_version
        if row.kind not in ("receivable", "payable"):  # a cancellation of an unknown invoice
            self.book.remove(row.invoice_id)
            return
        invoice = invoice_from_row(row)
        residual = row.residual_cents if row.allocatable else 0
        self.book.upsert(invoice, residual_cents=residual)

    def apply_invoices(self, rows: list[InvoiceRecord]) -> None:
        for row in rows:
            self.apply_invoice(row)
        metrics.OPEN_INVOICES.set(len(self.book))

    def force_invoices(self, rows: list[InvoiceRecord]) -> None:
        """Apply rows read under lock (the truth at that moment), whatever is held."""
        for row in rows:
            self._versions.pop(row.invoice_id, None)
        self.apply_invoices(rows)

    async def load(self, db: Database) -> None:
        """Build everything from the store (at start and every full-reload period)."""
        async with db.reading() as repo:
            clock = await repo.clock()
            rows = await repo.invoices_changed_since(None)
            epoch = await repo.knowledge_epoch()
            aliases = await repo.aliases_after(0)
            rejections = await repo.rejections_after(0)
        book = InvoiceBook()
        versions: dict[str, int] = {}
        for row in rows:
            versions[row.invoice_id] = row.row_version
            if row.kind in ("receivable", "payable"):
                book.upsert(invoice_from_row(row), row.residual_cents if row.allocatable else 0)
        knowledge = Knowledge()
        self._alias_id = self._learn(knowledge, aliases, rejections)
        self._rejection_id = max((r[0] for r in rejections), default=0)
        # Swapped in one step: a decision in progress keeps the objects it started with.
        self.book, self.knowledge, self._versions = book, knowledge, versions
        self._invoice_watermark = clock
        self._epoch = epoch
        self.loaded = True
        metrics.OPEN_INVOICES.set(len(self.book))
        log.info("matcher_cache_loaded", invoices=len(rows), aliases=len(aliases))

    async def refresh(self, db: Database) -> int:
        """Apply what changed in the store since the last read. Returns rows applied."""
        if not self.loaded:
            await self.load(db)
            return len(self.book)
        since = (
            None
            if self._invoice_watermark is None
            else self._invoice_watermark - self.refresh_overlap
        )
        async with db.reading() as repo:
            clock = await repo.clock()
            rows = await repo.invoices_changed_since(since)
            epoch = await repo.knowledge_epoch()
            if epoch != self._epoch:
                aliases = await repo.aliases_after(0)
                rejections = await repo.rejections_after(0)
            else:
                aliases = await repo.aliases_after(self._alias_id)
                rejections = await repo.rejections_after(self._rejection_id)
        self.apply_invoices(rows)
        self._invoice_watermark = clock
        if epoch != self._epoch:
            knowledge = Knowledge()
            self._alias_id = self._learn(knowledge, aliases, rejections)
            self.knowledge = knowledge
            self._epoch = epoch
        else:
            self._alias_id = max(self._alias_id, self._learn(self.knowledge, aliases, rejections))
        self._rejection_id = max([self._rejection_id, *(r[0] for r in rejections)])
        return len(rows)

    async def refresh_invoices(self, db: Database, invoice_ids: set[str]) -> None:
        """Re-read some invoices now (after a conflict: the store knows better)."""
        if not invoice_ids:
            return
        async with db.reading() as repo:
            rows = await repo.get_invoices(invoice_ids)
        self.force_invoices(rows)

    # ------------------------------------------------------------------ knowledge
    @staticmethod
    def _learn(
        knowledge: Knowledge,
        aliases: list[AliasRecord],
        rejections: list[RejectionRecord],
    ) -> int:
        for _, observed, iban, target in aliases:
            knowledge.add_alias(observed or None, iban or None, target)
        for _, transaction_id, invoice_id in rejections:
            knowledge.reject(transaction_id, invoice_id)
        return max((a[0] for a in aliases), default=0)

    async def rebuild_knowledge(self, repo: Repository) -> None:
        """Rebuild Knowledge from what ``repo`` sees (inside an undo, its own deletions)."""
        epoch = await repo.knowledge_epoch()
        aliases = await repo.aliases_after(0)
        rejections = await repo.rejections_after(0)
        knowledge = Knowledge()
        self._alias_id = self._learn(knowledge, aliases, rejections)
        self._rejection_id = max((r[0] for r in rejections), default=0)
        self.knowledge = knowledge
        self._epoch = epoch

    def invalidate_knowledge(self) -> None:
        """Force a rebuild at the next refresh."""
        self._epoch = None
