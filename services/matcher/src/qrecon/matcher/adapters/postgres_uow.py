"""The PostgreSQL unit of work, results outbox and database of the matcher: they implement
:class:`~qrecon.matcher.app.ports.UnitOfWork`, :class:`~qrecon.matcher.app.ports.ResultPublisher`
and :class:`~qrecon.matcher.app.ports.Database`.

Unit of work: one PostgreSQL transaction around one decision.

Everything a decision changes — the transaction's row and result, its allocations (and,
through the trigger, the invoices' residuals), the audit row and the outbox row — is written
on one connection in one transaction: all of it commits or none of it does. Work that must
follow a commit only (refreshing this replica's cache, metrics) is registered with
:meth:`after_commit`; work that must follow a rollback (forgetting an in-memory change
made before the decision) with :meth:`after_rollback`.

*Transactional outbox.* :class:`PgResultPublisher` writes a published result to
``matcher_outbox`` on the unit of work's connection, in its transaction: the result is
published if and only if the state change commits; :class:`qrecon.common.outbox.OutboxRelay`
relays it to Kafka (:mod:`.relay`). A ``CHECK`` violation (an allocation beyond an invoice's
amount) leaves the unit of work as :class:`~qrecon.matcher.app.ports.ResidualViolation`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType

import asyncpg

from qrecon.common import outbox
from qrecon.common.kafka import headers_for
from qrecon.common.schemas import MatchResult
from qrecon.matcher.adapters.postgres import PgRepository
from qrecon.matcher.app.ports import Hook, Repository, ResidualViolation

OUTBOX_TABLE = "matcher_outbox"
MATCH_EVENT_TYPE = "reconciliation.match"
# The result's rank among the transaction's results: a consumer can drop an older one.
RESULT_SEQ_HEADER = "result-seq"


class PgResultPublisher:
    """Results to ``topic`` through ``matcher_outbox``, in the caller's transaction."""

    def __init__(self, conn: asyncpg.Connection, topic: str) -> None:
        self.conn = conn
        self.topic = topic

    async def publish(self, result: MatchResult, *, seq: int, event_id: str) -> None:
        await outbox.enqueue(
            self.conn,
            OUTBOX_TABLE,
            topic=self.topic,
            key=result.transaction_id,
            value=result.model_dump_json().encode(),
            headers={**headers_for(event_id, MATCH_EVENT_TYPE), RESULT_SEQ_HEADER: str(seq)},
        )


class PgUnitOfWork:
    def __init__(self, pool: asyncpg.Pool, results_topic: str, organization: str) -> None:
        self._pool = pool
        self._organization = organization
        self._topic = results_topic
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._tx: asyncpg.transaction.Transaction | None = None
        self._after_commit: list[Hook] = []
        self._after_rollback: list[Hook] = []
        self.repo: PgRepository
        self.results: PgResultPublisher

    async def __aenter__(self) -> PgUnitOfWork:
        conn = await self._pool.acquire()
        try:
            tx = conn.transaction()
            await tx.start()
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn, self._tx = conn, tx
        self.repo = PgRepository(conn, self._organization)  # type: ignore[arg-type]
        self.results = PgResultPublisher(conn, self._topic)  # type: ignore[arg-type]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        assert self._tx is not None
        committed = False
        try:
            if exc_type is None:
                try:
                    await self._tx.commit()
                except asyncpg.CheckViolationError as violation:
                    raise ResidualViolation(str(violation)) from violation
                committed = True
            else:
                try:
                    await self._tx.rollback()
                except Exception:  # the connection is broken: the server rolls back anyway
                    self._conn.terminate()
        except BaseException:
            try:
                await self._tx.rollback()
            except Exception:
                self._conn.terminate()
            await self._run(self._after_rollback)
            raise
        finally:
            await self._pool.release(self._conn)
            self._conn = self._tx = None
        await self._run(self._after_commit if committed else self._after_rollback)
        if isinstance(exc, asyncpg.CheckViolationError):
            raise ResidualViolation(str(exc)) from exc

    def after_commit(self, hook: Hook) -> None:
        self._after_commit.append(hook)

    def after_rollback(self, hook: Hook) -> None:
        self._after_rollback.append(hook)

    @staticmethod
    async def _run(hooks: list[Hook]) -> None:
        for hook in hooks:
            outcome = hook()
            if outcome is not None:
                await outcome


class PgDatabase:
    """Units of work and reads on one pool (the consumers' or the review API's own), scoped
    to one organisation (``for_organization``); unscoped, only the reads that span
    organisations work (the cache's loads, the sweep's list)."""

    def __init__(
        self, pool: asyncpg.Pool, results_topic: str, organization: str | None = None
    ) -> None:
        self.pool = pool
        self.results_topic = results_topic
        self.organization = organization

    def for_organization(self, organization: str) -> PgDatabase:
        return PgDatabase(self.pool, self.results_topic, organization)

    def unit_of_work(self) -> PgUnitOfWork:
        if self.organization is None:
            raise RuntimeError("a unit of work is scoped to an organisation")
        return PgUnitOfWork(self.pool, self.results_topic, self.organization)

    def reading(self) -> AbstractAsyncContextManager[Repository]:
        return self._reading()

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Repository]:
        async with self.pool.acquire() as conn:
            yield PgRepository(conn, self.organization)
