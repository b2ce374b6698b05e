"""Unit of work: one PostgreSQL transaction around one decision.

Everything a decision changes — the transaction's row and result, its allocations (and,
through the trigger, the invoices' residuals), the audit row and the outbox row — is written
on one connection in one transaction: all of it commits or none of it does. Work that must
follow a commit only (refreshing this replica's cache, metrics) is registered with
:meth:`after_commit`; work that must follow a rollback (forgetting an in-memory change
made before the decision) with :meth:`after_rollback`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

import asyncpg

from qrecon.matcher.adapters.postgres import PgRepository

Hook = Callable[[], Awaitable[None] | None]


class UnitOfWork:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._tx: asyncpg.transaction.Transaction | None = None
        self._after_commit: list[Hook] = []
        self._after_rollback: list[Hook] = []
        self.repo: PgRepository

    async def __aenter__(self) -> UnitOfWork:
        conn = await self._pool.acquire()
        try:
            tx = conn.transaction()
            await tx.start()
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn, self._tx = conn, tx
        self.repo = PgRepository(conn)  # type: ignore[arg-type]
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
                await self._tx.commit()
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
