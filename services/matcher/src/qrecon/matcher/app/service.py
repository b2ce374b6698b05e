"""``MatcherService``: the matcher's use cases behind one object (one per replica).

A thin facade over :mod:`.transactions`, :mod:`.invoices`, :mod:`.reviews` and
:mod:`.queries`, which share :class:`.decisions.Decisions`; it keeps callers (the Kafka
consumers, the review API, the sweeper) simple. Built by :mod:`qrecon.matcher.bootstrap`.
"""

from __future__ import annotations

from collections.abc import Iterable

from qrecon.common.schemas import InvoiceEvent, MatchResult, TransactionEvent
from qrecon.common.timeutil import utcnow
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.decisions import Decisions
from qrecon.matcher.app.invoices import InvoiceOutcome, Invoices
from qrecon.matcher.app.ports import Clock, Database, Engine
from qrecon.matcher.app.queries import Queries
from qrecon.matcher.app.reviews import Reviews
from qrecon.matcher.app.transactions import Outcome, Transactions
from qrecon.matcher.core import MATCHER_VERSION


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
    ) -> None:
        self.db = db
        self.engine = engine
        self.state = state
        self._options = {
            "conflict_retries": conflict_retries,
            "reexamine_days": reexamine_days,
            "reexamine_limit": reexamine_limit,
        }
        self.auto_match = auto_match
        self.matcher_version = matcher_version
        self.clock = clock
        self.decisions = Decisions(
            db,
            engine,
            state,
            clock=clock,
            matcher_version=matcher_version,
            conflict_retries=conflict_retries,
            auto_match=auto_match,
        )
        self.transactions = Transactions(self.decisions)
        self.invoices = Invoices(
            self.decisions, reexamine_days=reexamine_days, reexamine_limit=reexamine_limit
        )
        self.reviews = Reviews(self.decisions)
        self.queries = Queries(db)

    def with_database(self, db: Database) -> MatcherService:
        """The same use cases (engine, state) on another database: the review API's own
        pool, so review traffic never takes the connections the consumers need."""
        return MatcherService(
            db,
            self.engine,
            self.state,
            conflict_retries=self._options["conflict_retries"],
            reexamine_days=self._options["reexamine_days"],
            reexamine_limit=self._options["reexamine_limit"],
            auto_match=self.auto_match,
            matcher_version=self.matcher_version,
            clock=self.clock,
        )

    # ------------------------------------------------------------------ transactions
    async def handle_transaction_event(self, event: TransactionEvent) -> Outcome:
        return await self.transactions.handle_transaction_event(event)

    async def redecide(
        self, transaction_id: str, *, cause: str, statuses: Iterable[str] | None = None
    ) -> MatchResult | None:
        return await self.decisions.redecide(transaction_id, cause=cause, statuses=statuses)

    async def sweep(self, limit: int = 100) -> int:
        return await self.transactions.sweep(limit)

    # ------------------------------------------------------------------ invoices
    async def handle_invoice_event(self, event: InvoiceEvent) -> InvoiceOutcome:
        return await self.invoices.handle_invoice_event(event)

    async def reexamine(self, currencies: Iterable[str]) -> int:
        return await self.invoices.reexamine(currencies)

    # ------------------------------------------------------------------ reviews
    async def confirm(
        self, transaction_id: str, *, expected_seq: int | None = None, actor: str | None = None
    ) -> MatchResult:
        return await self.reviews.confirm(transaction_id, expected_seq=expected_seq, actor=actor)

    async def reject(
        self,
        transaction_id: str,
        invoice_ids: list[str] | None = None,
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
    ) -> MatchResult:
        return await self.reviews.reject(
            transaction_id, invoice_ids, expected_seq=expected_seq, actor=actor
        )

    async def match_manually(
        self,
        transaction_id: str,
        allocations: dict[str, int],
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
    ) -> MatchResult:
        return await self.reviews.match_manually(
            transaction_id, allocations, expected_seq=expected_seq, actor=actor
        )

    async def undo(
        self, transaction_id: str, *, expected_seq: int | None = None, actor: str | None = None
    ) -> MatchResult:
        return await self.reviews.undo(transaction_id, expected_seq=expected_seq, actor=actor)
