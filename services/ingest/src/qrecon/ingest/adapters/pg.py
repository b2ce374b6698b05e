"""The inbox in PostgreSQL: where an accepted webhook becomes durable.

``ingest_inbox`` (migration ``0001_inbox.sql``) is both the dedup table and the outbox:
one row per ``(connection_id, event_id)``, holding the Kafka record the webhook becomes.
The HTTP handler answers 2xx only once the row is committed (or already there: a
redelivery), so an acknowledged webhook survives a Kafka outage and a ``kill -9``; the
relay (:class:`qrecon.common.outbox.OutboxRelay`) publishes it afterwards.

:class:`InboxWriter` group-commits: concurrent webhooks queue up and a writer task (one
by default) inserts whatever is waiting (up to ``batch_max``) in **one statement** —
``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING`` — so a burst costs
one round trip, one commit and one WAL flush per batch instead of per webhook. Before each
statement it waits ``gather`` (2 ms by default) for more webhooks to join: that cuts
PostgreSQL's CPU per webhook by about a third under load (measured), for 2 ms of
acknowledgement latency, far inside Qonto's 1 s. The same statement notifies the relay
(``pg_notify``, delivered at commit).
"""

from __future__ import annotations

import asyncio
from collections import deque

import asyncpg
from pydantic_core import to_json

from qrecon.common.db import apply_migrations, create_pool, load_migrations
from qrecon.common.logging import get_logger
from qrecon.common.outbox import notify_channel
from qrecon.ingest.app.ports import InboxUnavailable
from qrecon.ingest.core.payload import Routed

INBOX_TABLE = "ingest_inbox"

log = get_logger(__name__)

_INSERT = f"""
WITH ins AS (
    INSERT INTO {INBOX_TABLE} (topic, key, value, headers, connection_id, event_id, event_type)
    SELECT r.topic, r.key, r.value, r.headers::jsonb, r.connection_id, r.event_id, r.event_type
    FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::text[], $6::text[],
                $7::text[]) AS r(topic, key, value, headers, connection_id, event_id, event_type)
    ON CONFLICT (connection_id, event_id) DO NOTHING
    RETURNING connection_id, event_id
)
SELECT connection_id, event_id, pg_notify($8, '')::text AS notified FROM ins
"""  # noqa: S608 - constant table name


async def migrate(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        applied: list[str] = await apply_migrations(
            conn, load_migrations("ingest", "qrecon.ingest.migrations")
        )
    return applied


class _Pending:
    __slots__ = ("connection_id", "deadline", "future", "routed", "topic")

    def __init__(self, connection_id: str, topic: str, routed: Routed, deadline: float) -> None:
        self.connection_id = connection_id
        self.topic = topic
        self.routed = routed
        self.deadline = deadline
        self.future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()


class InboxWriter:
    """The ``Inbox`` port on PostgreSQL: durably records routed webhooks, deduplicated by
    ``(connection_id, event_id)``.

    ``timeout``: a write not committed within it fails with :class:`InboxUnavailable`
    (the webhook is answered 503 and Qonto retries). One reaper task enforces every
    deadline, which is cheaper than a timer per request; an event that times out while
    still queued is not written at all.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        writers: int = 1,
        batch_max: int = 256,
        timeout: float = 3.0,
        gather: float = 0.0,
    ) -> None:
        self.pool = pool
        self.writers = max(1, writers)
        self.batch_max = max(1, batch_max)
        self.timeout = timeout
        self.gather = gather
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._inflight: deque[_Pending] = deque()
        self._tasks: list[asyncio.Task[None]] = []
        self._reaper_task: asyncio.Task[None] | None = None
        self._channel = notify_channel(INBOX_TABLE)

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._writer(), name=f"inbox-writer-{i}")
                for i in range(self.writers)
            ]
            self._reaper_task = asyncio.create_task(self._reaper(), name="inbox-reaper")

    async def stop(self) -> None:
        """Write what is queued, then stop the writers."""
        for _ in self._tasks:
            self._queue.put_nowait(None)
        tasks, self._tasks = self._tasks, []
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._reaper_task is not None:
            self._reaper_task.cancel()
            await asyncio.gather(self._reaper_task, return_exceptions=True)
            self._reaper_task = None

    async def write(self, connection_id: str, topic: str, routed: Routed) -> bool:
        """Make the event durable. True if new, False if it was already there (duplicate).

        Raises :class:`InboxUnavailable` (PostgreSQL failed, or ``timeout`` passed). A
        timed-out write may still commit: harmless, Qonto's retry is then a duplicate.
        """
        if not self._tasks:
            raise InboxUnavailable("inbox writer is not running")
        loop = asyncio.get_running_loop()
        pending = _Pending(connection_id, topic, routed, loop.time() + self.timeout)
        self._inflight.append(pending)
        self._queue.put_nowait(pending)
        return await pending.future

    async def _reaper(self) -> None:
        loop = asyncio.get_running_loop()
        tick = min(0.05, self.timeout / 4)
        inflight = self._inflight
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            # deadlines are in arrival order: the oldest are on the left
            while inflight and (inflight[0].future.done() or inflight[0].deadline <= now):
                item = inflight.popleft()
                if not item.future.done():
                    item.future.set_exception(InboxUnavailable("timeout"))

    async def _writer(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop_after = False
            if self.gather > 0 and self._queue.qsize() < self.batch_max:
                await asyncio.sleep(self.gather)  # let concurrent webhooks join this commit
            while len(batch) < self.batch_max and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop_after = True
                    break
                batch.append(item)
            batch = [item for item in batch if not item.future.done()]  # timed out: skip
            if batch:
                await self._write_batch(batch)
            if stop_after:
                return

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._insert(batch)
        except asyncpg.DataError as exc:
            if len(batch) == 1:
                self._fail(batch, exc)
                return
            # One row PostgreSQL refuses must not fail the others: write them one by one.
            for item in batch:
                await self._write_batch([item])
            return
        except Exception as exc:
            self._fail(batch, exc)
            return
        for item, new in zip(batch, outcomes, strict=True):
            if not item.future.done():
                item.future.set_result(new)

    def _fail(self, batch: list[_Pending], exc: BaseException) -> None:
        log.warning("inbox_write_failed", rows=len(batch), error=f"{type(exc).__name__}: {exc}")
        for item in batch:
            if not item.future.done():
                item.future.set_exception(InboxUnavailable(type(exc).__name__))

    async def _insert(self, batch: list[_Pending]) -> list[bool]:
        args = (
            [p.topic for p in batch],
            [p.routed.key.encode() for p in batch],
            [p.routed.value for p in batch],
            [to_json(p.routed.headers).decode() for p in batch],
            [p.connection_id for p in batch],
            [p.routed.event_id for p in batch],
            [p.routed.event_type for p in batch],
            self._channel,
        )
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(_INSERT, *args)
        inserted = {(r["connection_id"], r["event_id"]) for r in rows}
        outcomes: list[bool] = []
        for item in batch:
            key = (item.connection_id, item.routed.event_id)
            if key in inserted:
                inserted.discard(key)  # a second copy in the same batch is a duplicate
                outcomes.append(True)
            else:
                outcomes.append(False)
        return outcomes


async def ping(pool: asyncpg.Pool, *, timeout: float) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout), pool.acquire() as conn:
        await conn.fetchval("SELECT 1")


async def wait_for_pool(dsn: str, *, size: int, timeout: float) -> asyncpg.Pool:  # noqa: ASYNC109
    """Create the pool, retrying while PostgreSQL is not reachable yet (at startup)."""
    deadline = asyncio.get_running_loop().time() + timeout
    delay = 0.2
    while True:
        try:
            return await create_pool(dsn, min_size=min(2, size), max_size=size)
        except Exception as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise
            log.warning("postgres_unreachable", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
