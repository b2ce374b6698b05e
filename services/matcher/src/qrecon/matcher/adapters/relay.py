"""One active outbox relay per matcher deployment, so each transaction's results keep their order.

Why: "a later result supersedes the earlier one", and consumers read the results topic
in order per key. The decisions about one transaction are serialised (advisory lock), so
their outbox rows get increasing ids and commit in that order. A single relay publishing
pending rows in ``id`` order therefore publishes them in decision order, and the
idempotent producer keeps that order within the partition. Several relays working
concurrently (``SKIP LOCKED`` batches) could publish a transaction's second result before
its first.

How: every replica runs a :class:`RelayLeadership`; the one that holds the PostgreSQL
session advisory lock runs :class:`qrecon.common.outbox.OutboxRelay`, the others retry
every ``retry_seconds``. A leader that dies (even ``kill -9``) loses its session and the
lock with it; another replica takes over within about ``retry_seconds``. The relay's own
guarantees (at least once, exact duplicates only) are unchanged: a replayed row is
republished before the rows after it, so the last record of each key is still the
effective result.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from qrecon.common.logging import get_logger
from qrecon.common.outbox import OutboxRelay

log = get_logger(__name__)

LOCK_KEY = 0x4D_41_54_43_48_4F_42  # "MATCHOB"


class RelayLeadership:
    def __init__(
        self, pool: asyncpg.Pool, relay: OutboxRelay, *, retry_seconds: float = 1.0
    ) -> None:
        self.pool = pool
        self.relay = relay
        self.retry_seconds = retry_seconds
        self.is_leader = False
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="outbox-leadership")

    async def stop(self) -> None:
        """Stop campaigning; if leader, drain the relay (bounded) and release the lock."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._resign()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.is_leader:
                    await self._check_session()
                else:
                    await self._campaign()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_leadership_error", error=f"{type(exc).__name__}: {exc}")
                await self._resign()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.retry_seconds)

    async def _campaign(self) -> None:
        conn = await self.pool.acquire()
        try:
            won = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY))
        except BaseException:
            await self.pool.release(conn)
            raise
        if not won:
            await self.pool.release(conn)
            return
        self._conn = conn
        self.is_leader = True
        await self.relay.start()
        log.info("outbox_relay_leader", table=self.relay.table)

    async def _check_session(self) -> None:
        """The lock lives as long as the session: a broken session means resigning."""
        await self._conn.fetchval("SELECT 1", timeout=5.0)

    async def _resign(self) -> None:
        if self.is_leader:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await self.relay.stop()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
            with contextlib.suppress(Exception):
                await self.pool.release(conn)
