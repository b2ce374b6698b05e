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

Organisations: the state holds one InvoiceBook and one Knowledge per organisation
(:class:`OrgBook`); a transaction is decided against its organisation's only
(:meth:`MatcherState.scope`), so nothing another organisation holds can change a decision.

Payment links (when a ``PaymentLinkStore`` is given): each organisation's Qonto payment
links, read in full at a load and incrementally at a refresh (``row_changed_at``, same
overlap), applied newest version first; every Knowledge of the organisation carries them.

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
    PaymentLinkStore,
    RejectionRecord,
    Repository,
)
from qrecon.matcher.core import InvoiceBook, Knowledge
from qrecon.matcher.core.payment_links import (
    DEFAULT_AFTER,
    DEFAULT_BEFORE,
    PaymentLink,
    PaymentLinks,
)

log = get_logger(__name__)

# Rows committed this long after they were stamped are still read
# (MATCHER_CACHE_REFRESH_OVERLAP_SECONDS).
DEFAULT_REFRESH_OVERLAP = timedelta(seconds=5)


def invoice_from_row(row: InvoiceRecord) -> Invoice:
    data = dict(row.invoice)
    data["status"] = row.status
    return Invoice.model_validate(data)


class OrgBook:
    """One organisation's InvoiceBook and Knowledge, and the row versions applied."""

    def __init__(self, links: PaymentLinks | None = None) -> None:
        self.book = InvoiceBook()
        self.links = links if links is not None else PaymentLinks()
        self.knowledge = Knowledge(self.links)
        self.versions: dict[str, int] = {}

    def apply(self, row: InvoiceRecord, *, force: bool = False) -> None:
        """Apply a row read from PostgreSQL, unless a newer one is held (``force``: read
        under lock, the truth at that moment)."""
        if not force and self.versions.get(row.invoice_id, 0) >= row.row_version:
            return
        self.versions[row.invoice_id] = row.row_version
        if row.kind not in ("receivable", "payable"):  # a cancellation of an unknown invoice
            self.book.remove(row.invoice_id)
            return
        self.book.upsert(invoice_from_row(row), row.residual_cents if row.allocatable else 0)


class MatcherState:
    """The books and knowledge of this replica, one per organisation (asyncio: one writer
    at a time)."""

    def __init__(
        self,
        *,
        refresh_overlap: timedelta = DEFAULT_REFRESH_OVERLAP,
        links: PaymentLinkStore | None = None,
        link_window: tuple[timedelta, timedelta] = (DEFAULT_BEFORE, DEFAULT_AFTER),
    ) -> None:
        self.refresh_overlap = refresh_overlap
        self.link_store = links
        self.link_window = link_window  # (before, after) the link became paid
        self._links: dict[str, PaymentLinks] = {}
        self._link_watermark: datetime | None = None
        self._orgs: dict[str, OrgBook] = {}
        self._invoice_watermark: datetime | None = None
        self._alias_id = 0
        self._rejection_id = 0
        self._epoch: int | None = None
        self.loaded = False

    # ------------------------------------------------------------------ organisations
    def org(self, organization: str) -> OrgBook:
        """The organisation's book and knowledge (empty until it has invoices)."""
        held = self._orgs.get(organization)
        if held is None:
            held = self._orgs[organization] = self._new_org(organization)
        return held

    def _new_org(self, organization: str) -> OrgBook:
        return OrgBook(self.links_of(organization))

    # ------------------------------------------------------------------ payment links
    def links_of(self, organization: str) -> PaymentLinks:
        """The organisation's payment links (empty until it has some)."""
        links = self._links.get(organization)
        if links is None:
            before, after = self.link_window
            links = self._links[organization] = PaymentLinks(before=before, after=after)
        return links

    def apply_links(self, links: list[PaymentLink]) -> None:
        for link in links:
            self.links_of(link.organization_id).upsert(link)

    async def _read_links(self, *, full: bool) -> None:
        if self.link_store is None:
            return
        since = None
        if not full and self._link_watermark is not None:
            since = self._link_watermark - self.refresh_overlap
        clock, links = await self.link_store.links_changed_since(since)
        self.apply_links(links)
        self._link_watermark = clock

    def scope(self, organization: str) -> OrgState:
        """What a use case of one organisation sees."""
        return OrgState(self, organization)

    @property
    def organizations(self) -> list[str]:
        return sorted(self._orgs)

    def open_invoices(self) -> int:
        return sum(len(held.book) for held in self._orgs.values())

    # ------------------------------------------------------------------ invoices
    def apply_invoice(self, row: InvoiceRecord) -> None:
        """Apply a row read from PostgreSQL, unless this replica holds a newer one."""
        self.org(row.organization_id).apply(row)

    def apply_invoices(self, rows: list[InvoiceRecord]) -> None:
        for row in rows:
            self.apply_invoice(row)
        metrics.OPEN_INVOICES.set(self.open_invoices())

    def force_invoices(self, rows: list[InvoiceRecord]) -> None:
        """Apply rows read under lock (the truth at that moment), whatever is held."""
        for row in rows:
            self.org(row.organization_id).apply(row, force=True)
        metrics.OPEN_INVOICES.set(self.open_invoices())

    async def load(self, db: Database) -> None:
        """Build everything from the store (at start and every full-reload period); a
        database scoped to one organisation rebuilds that organisation only."""
        async with db.reading() as repo:
            clock = await repo.clock()
            rows = await repo.invoices_changed_since(None)
            epoch = await repo.knowledge_epoch()
            aliases = await repo.aliases_after(0)
            rejections = await repo.rejections_after(0)
        if db.organization is None:
            await self._read_links(full=True)
        orgs: dict[str, OrgBook] = {}
        if db.organization is not None:
            orgs[db.organization] = self._new_org(db.organization)
        for row in rows:
            held = orgs.get(row.organization_id)
            if held is None:
                held = orgs[row.organization_id] = self._new_org(row.organization_id)
            held.apply(row)
        alias_id = self._learn(orgs, aliases, rejections)
        # Swapped in one step: a decision in progress keeps the objects it started with.
        if db.organization is not None:
            self._orgs[db.organization] = orgs[db.organization]
            metrics.OPEN_INVOICES.set(self.open_invoices())
            return
        self._orgs = orgs
        self._alias_id = alias_id
        self._rejection_id = max((r.id for r in rejections), default=0)
        self._invoice_watermark = clock
        self._epoch = epoch
        self.loaded = True
        metrics.OPEN_INVOICES.set(self.open_invoices())
        log.info(
            "matcher_cache_loaded",
            invoices=len(rows),
            aliases=len(aliases),
            organizations=len(orgs),
        )

    async def refresh(self, db: Database) -> int:
        """Apply what changed in the store since the last read. Returns rows applied."""
        if not self.loaded:
            await self.load(db)
            return self.open_invoices()
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
        await self._read_links(full=False)
        if epoch != self._epoch:
            for held in self._orgs.values():
                held.knowledge = Knowledge(held.links)
            self._alias_id = self._learn(self._orgs, aliases, rejections)
            self._epoch = epoch
        else:
            self._alias_id = max(self._alias_id, self._learn(self._orgs, aliases, rejections))
        self._rejection_id = max([self._rejection_id, *(r.id for r in rejections)])
        return len(rows)

    async def refresh_invoices(self, db: Database, invoice_ids: set[str]) -> None:
        """Re-read some invoices of ``db``'s organisation now (after a conflict)."""
        if not invoice_ids:
            return
        async with db.reading() as repo:
            rows = await repo.get_invoices(invoice_ids)
        self.force_invoices(rows)

    # ------------------------------------------------------------------ knowledge
    def _learn(
        self,
        orgs: dict[str, OrgBook],
        aliases: list[AliasRecord],
        rejections: list[RejectionRecord],
    ) -> int:
        for alias in aliases:
            held = orgs.get(alias.organization_id)
            if held is None:
                held = orgs[alias.organization_id] = self._new_org(alias.organization_id)
            held.knowledge.add_alias(
                alias.observed_counterparty or None,
                alias.observed_iban or None,
                alias.invoice_counterparty_name,
            )
        for rejection in rejections:
            held = orgs.get(rejection.organization_id)
            if held is None:
                held = orgs[rejection.organization_id] = self._new_org(rejection.organization_id)
            held.knowledge.reject(rejection.transaction_id, rejection.invoice_id)
        return max((a.id for a in aliases), default=0)

    async def rebuild_knowledge(self, repo: Repository, organization: str) -> None:
        """Rebuild an organisation's Knowledge from what ``repo`` (scoped to it) sees:
        inside an undo, its own deletions. The others are rebuilt at the next refresh."""
        aliases = await repo.aliases_after(0)
        rejections = await repo.rejections_after(0)
        fresh = {organization: self._new_org(organization)}
        self._learn(fresh, aliases, rejections)
        self.org(organization).knowledge = fresh[organization].knowledge
        self._epoch = None

    def invalidate_knowledge(self) -> None:
        """Force a rebuild at the next refresh."""
        self._epoch = None


class OrgState:
    """One organisation's view of the replica's state: what its use cases decide with."""

    def __init__(self, state: MatcherState, organization: str) -> None:
        self.state = state
        self.organization = organization

    @property
    def book(self) -> InvoiceBook:
        return self.state.org(self.organization).book

    @property
    def knowledge(self) -> Knowledge:
        return self.state.org(self.organization).knowledge

    @property
    def loaded(self) -> bool:
        return self.state.loaded

    def apply_invoices(self, rows: list[InvoiceRecord]) -> None:
        self.state.apply_invoices(rows)

    async def refresh_invoices(self, db: Database, invoice_ids: set[str]) -> None:
        await self.state.refresh_invoices(db, invoice_ids)

    async def load(self, db: Database) -> None:
        await self.state.load(db)

    async def rebuild_knowledge(self, repo: Repository) -> None:
        await self.state.rebuild_knowledge(repo, self.organization)

    def invalidate_knowledge(self) -> None:
        self.state.invalidate_knowledge()
