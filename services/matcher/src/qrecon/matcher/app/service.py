"""``MatcherService``: the matcher's use cases behind one object (one per replica).

A thin facade over :mod:`.transactions`, :mod:`.invoices`, :mod:`.reviews` and
:mod:`.queries`, which share :class:`.decisions.Decisions`; it keeps callers (the Kafka
consumers, the review API, the sweeper) simple. Built by :mod:`qrecon.matcher.bootstrap`.

Organisations: every use case runs for one organisation (:meth:`for_organization`), on a
database and a book scoped to it. An event names its organisation (``organization_id``);
one that does not belongs to ``default_organization`` (``MATCHER_DEFAULT_ORGANIZATION``)
when one is configured, and is refused (:class:`.errors.MissingOrganization`: the consumer
dead-letters it) otherwise — never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable

from qrecon.common.schemas import InvoiceEvent, MatchResult, TransactionEvent
from qrecon.common.timeutil import utcnow
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.decisions import Decisions
from qrecon.matcher.app.errors import MissingOrganization
from qrecon.matcher.app.invoices import InvoiceOutcome, Invoices
from qrecon.matcher.app.ports import Clock, Database, Engine
from qrecon.matcher.app.queries import Queries
from qrecon.matcher.app.reviews import Reviews
from qrecon.matcher.app.transactions import Outcome, Transactions
from qrecon.matcher.core import MATCHER_VERSION


class OrgServices:
    """The use cases of one organisation (its database scope, its book)."""

    def __init__(self, service: MatcherService, organization: str) -> None:
        self.organization = organization
        self.db = service.db.for_organization(organization)
        self.decisions = Decisions(
            self.db,
            service.engine,
            service.state.scope(organization),
            clock=service.clock,
            matcher_version=service.matcher_version,
            conflict_retries=service.options["conflict_retries"],
            auto_match=service.auto_match,
        )
        self.transactions = Transactions(self.decisions)
        self.invoices = Invoices(
            self.decisions,
            reexamine_days=service.options["reexamine_days"],
            reexamine_limit=service.options["reexamine_limit"],
        )
        self.reviews = Reviews(self.decisions)
        self.queries = Queries(self.db)


class MatcherService:
    """The use cases of ``qonto-matcher run`` on one :class:`~.ports.Database`."""

    def __init__(
        self,
        db: Database,
        engine: Engine,
        state: MatcherState,
        *,
        conflict_retries: int = 8,
        reexamine_days: int = 180,
        reexamine_limit: int = 2000,
        auto_match: bool = True,
        matcher_version: str = MATCHER_VERSION,
        clock: Clock = utcnow,
        default_organization: str | None = None,
    ) -> None:
        self.db = db
        self.engine = engine
        self.state = state
        self.options = {
            "conflict_retries": conflict_retries,
            "reexamine_days": reexamine_days,
            "reexamine_limit": reexamine_limit,
        }
        self.auto_match = auto_match
        self.matcher_version = matcher_version
        self.clock = clock
        self.default_organization = default_organization or None
        self._orgs: dict[str, OrgServices] = {}

    def with_database(self, db: Database) -> MatcherService:
        """The same use cases (engine, state) on another database: the review API's own
        pool, so review traffic never takes the connections the consumers need."""
        return MatcherService(
            db,
            self.engine,
            self.state,
            conflict_retries=self.options["conflict_retries"],
            reexamine_days=self.options["reexamine_days"],
            reexamine_limit=self.options["reexamine_limit"],
            auto_match=self.auto_match,
            matcher_version=self.matcher_version,
            clock=self.clock,
            default_organization=self.default_organization,
        )

    # ------------------------------------------------------------------ organisations
    def organization_of(self, given: str | None, what: str = "the request") -> str:
        """The organisation named, else the default one; MissingOrganization otherwise."""
        if given:
            return given
        if self.default_organization:
            return self.default_organization
        raise MissingOrganization(
            f"{what} carries no organization_id and no default organisation is configured"
            " (MATCHER_DEFAULT_ORGANIZATION): refused, never guessed"
        )

    def for_organization(self, organization: str | None = None) -> OrgServices:
        """The use cases of one organisation (``None``: the default one)."""
        org = self.organization_of(organization)
        held = self._orgs.get(org)
        if held is None:
            held = self._orgs[org] = OrgServices(self, org)
        return held

    @property
    def queries(self) -> Queries:
        """The default organisation's reads."""
        return self.for_organization().queries

    # ------------------------------------------------------------------ transactions
    async def handle_transaction_event(self, event: TransactionEvent) -> Outcome:
        org = self.organization_of(event.organization_id, "the transaction event")
        return await self.for_organization(org).transactions.handle_transaction_event(event)

    async def redecide(
        self,
        transaction_id: str,
        *,
        cause: str,
        statuses: Iterable[str] | None = None,
        organization: str | None = None,
    ) -> MatchResult | None:
        return await self.for_organization(organization).decisions.redecide(
            transaction_id, cause=cause, statuses=statuses
        )

    async def sweep(self, limit: int = 100) -> int:
        """Decide again the transactions flagged ``needs_redecide``, of every organisation."""
        async with self.db.reading() as repo:
            pairs = await repo.transactions_to_redecide(limit)
        for organization, transaction_id in pairs:
            await self.for_organization(organization).decisions.redecide(
                transaction_id, cause="sweep"
            )
        return len(pairs)

    # ------------------------------------------------------------------ invoices
    async def handle_invoice_event(self, event: InvoiceEvent) -> InvoiceOutcome:
        org = self.organization_of(event.organization_id, "the invoice event")
        return await self.for_organization(org).invoices.handle_invoice_event(event)

    async def reexamine(self, currencies: Iterable[str], organization: str | None = None) -> int:
        return await self.for_organization(organization).invoices.reexamine(currencies)

    # ------------------------------------------------------------------ reviews
    async def confirm(
        self,
        transaction_id: str,
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
        organization: str | None = None,
    ) -> MatchResult:
        return await self.for_organization(organization).reviews.confirm(
            transaction_id, expected_seq=expected_seq, actor=actor
        )

    async def reject(
        self,
        transaction_id: str,
        invoice_ids: list[str] | None = None,
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
        organization: str | None = None,
    ) -> MatchResult:
        return await self.for_organization(organization).reviews.reject(
            transaction_id, invoice_ids, expected_seq=expected_seq, actor=actor
        )

    async def match_manually(
        self,
        transaction_id: str,
        allocations: dict[str, int],
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
        organization: str | None = None,
    ) -> MatchResult:
        return await self.for_organization(organization).reviews.match_manually(
            transaction_id, allocations, expected_seq=expected_seq, actor=actor
        )

    async def undo(
        self,
        transaction_id: str,
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
        organization: str | None = None,
    ) -> MatchResult:
        return await self.for_organization(organization).reviews.undo(
            transaction_id, expected_seq=expected_seq, actor=actor
        )
