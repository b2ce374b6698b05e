"""The relay loop: claim pending rows, hand them to Kafka, put back what failed, back off.

See the package doc (:mod:`qrecon.common.outbox`) for how and why; the SQL is in ``sql``
and the Kafka side (batches on the broker's producer) in ``producer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from qrecon.common.logging import get_logger
from qrecon.common.outbox.producer import (
    Handed,
    OutboxPublishError,
    describe,
    hand_over,
)
from qrecon.common.outbox.sql import RelayStatements, check_table, notify_channel

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

__all__ = ["BACKLOG", "DELAY", "PUBLISHED", "PUBLISH_ERRORS", "OutboxRelay"]

log = get_logger("qrecon.common.outbox")  # the name its log lines always had

PUBLISHED = Counter("qrecon_outbox_published_total", "Outbox rows published to Kafka.", ["table"])
PUBLISH_ERRORS = Counter(
    "qrecon_outbox_publish_errors_total", "Outbox rows whose publication failed.", ["table"]
)
BACKLOG = Gauge("qrecon_outbox_backlog", "Outbox rows not yet published.", ["table"])
DELAY = Histogram(
    "qrecon_outbox_delay_seconds",
    "Time from an outbox row's creation to its broker acknowledgement.",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


class OutboxRelay:
    """Publishes the pending rows of one outbox table to Kafka (see the module doc).

    ``broker`` is a :func:`qrecon.common.kafka.make_broker` broker; the caller connects and
    closes it (the relay keeps retrying while it is not connected). ``pool`` lends the relay
    one connection for ``LISTEN`` for as long as it runs, and one per batch.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        *,
        table: str,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        linger: float = 0.0,
        retention: timedelta = timedelta(days=7),
        cleanup_interval: float = 300.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        drain_timeout: float = 10.0,
        max_record_bytes: int = 1_000_000,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.pool = pool
        self.broker = broker
        self.table = check_table(table)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.linger = linger
        self.retention = retention
        self.cleanup_interval = cleanup_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.drain_timeout = drain_timeout
        self.max_record_bytes = max_record_bytes
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._last_backlog = 0.0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.pool.PoolConnectionProxy | None = None
        self._last_cleanup = 0.0
        self._listen_retry_at = 0.0
        self.consecutive_failures = 0
        statements = RelayStatements.for_table(self.table)
        self._claim = statements.claim
        self._fail = statements.fail
        self._cleanup = statements.cleanup
        self._count = statements.count

    # -- one batch -------------------------------------------------------------------

    async def run_once(self) -> int:
        """Publish one batch of pending rows. Returns how many rows were published.

        Raises when PostgreSQL fails or when no row of the batch could be published.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            rows = sorted(await conn.fetch(self._claim, self.batch_size), key=_row_id)
            if not rows:
                return 0
            handed, failed = await self._hand_over(rows)
            published = await self._acknowledged(handed, failed)
            if failed:  # put back, in the claiming transaction
                await conn.execute(self._fail, list(failed), list(failed.values()))
        self._count_batch(published, failed)
        return published

    async def _acknowledged(self, handed: Handed, failed: dict[int, str]) -> int:
        """Wait for every acknowledgement; how many rows the broker took (the others are
        added to ``failed``)."""
        # Never give up on a record the producer holds: it retries it idempotently.
        results = await asyncio.gather(*(f for _, f in handed), return_exceptions=True)
        published = 0
        now = time.time()
        delay = DELAY.labels(self.table)
        for (batch, _), result in zip(handed, results, strict=True):
            for row in batch:
                if isinstance(result, BaseException):
                    failed[row["id"]] = describe(result)
                else:
                    published += 1
                    delay.observe(max(0.0, now - row["created_at"].timestamp()))
        return published

    def _count_batch(self, published: int, failed: dict[int, str]) -> None:
        """Metrics and a warning; raises when no row of the batch could be published."""
        PUBLISHED.labels(self.table).inc(published)
        if failed:
            PUBLISH_ERRORS.labels(self.table).inc(len(failed))
            log.warning(
                "outbox_publish_failed",
                table=self.table,
                failed=len(failed),
                published=published,
                error=next(iter(failed.values())),
            )
            if not published:
                raise OutboxPublishError(next(iter(failed.values())))

    async def _hand_over(self, rows: list[asyncpg.Record]) -> tuple[Handed, dict[int, str]]:
        """Give the rows to the producer without waiting for the broker (``producer``)."""
        return await hand_over(self.broker, rows, max_record_bytes=self.max_record_bytes)

    async def backlog(self) -> int:
        """How many rows are waiting (also exported as ``qrecon_outbox_backlog``)."""
        async with self.pool.acquire() as conn:
            count = int(await conn.fetchval(self._count))
        BACKLOG.labels(self.table).set(count)
        return count

    async def cleanup(self, *, limit: int = 10_000) -> int:
        """Delete up to ``limit`` published rows older than ``retention``."""
        async with self.pool.acquire() as conn:
            status = await conn.execute(self._cleanup, self.retention, limit)
        return int(status.split()[-1])

    # -- the loop --------------------------------------------------------------------

    def wake(self) -> None:
        """Ask the loop to look for rows now (writers in this process may call it)."""
        self._wake.set()

    async def start(self) -> None:
        """Start relaying in a background task."""
        if self._task is not None:
            return
        self._stopping = False
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.table}")

    async def stop(self) -> None:
        """Publish what is pending (up to ``drain_timeout`` seconds), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._stop.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.drain_timeout)
        except TimeoutError:
            log.warning("outbox_drain_timeout", table=self.table, timeout=self.drain_timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._unlisten()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        delay = self.backoff_initial
        while True:
            if not self._listening() and time.monotonic() >= self._listen_retry_at:
                self._listener = None
                await self._listen()
            self._wake.clear()
            try:
                published = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not await self._back_off(exc, delay):
                    return
                delay = min(delay * 2, self.backoff_max)
                continue
            self._recovered()
            delay = self.backoff_initial
            if published >= self.batch_size:
                continue  # more is probably waiting
            if self._stopping:
                return
            await self._housekeeping()
            await self._idle()

    async def _back_off(self, exc: Exception, delay: float) -> bool:
        """After a failed batch: wait about ``delay`` (False: stopping, give up now)."""
        self.consecutive_failures += 1
        if self._stopping:
            log.warning("outbox_stopped_with_pending", table=self.table, error=describe(exc))
            return False
        if self.consecutive_failures == 1 or self.consecutive_failures % 20 == 0:
            log.warning(
                "outbox_relay_retrying",
                table=self.table,
                failures=self.consecutive_failures,
                error=describe(exc),
            )
        # New rows (NOTIFY) do not cut a backoff short; stop() does.
        await self._wait(self._stop, delay * (0.5 + random.random()))  # jitter
        return True

    def _recovered(self) -> None:
        if self.consecutive_failures:
            log.info("outbox_relay_recovered", table=self.table, failures=self.consecutive_failures)
        self.consecutive_failures = 0

    async def _idle(self) -> None:
        """Until a writer wakes the loop (then ``linger``), ``poll_interval`` or stop()."""
        if await self._wait(self._wake, self.poll_interval) and self.linger > 0:
            # Woken by a writer: let the rows committed meanwhile join this batch
            # (fewer, larger transactions and produce requests; publication, not the
            # writers' acknowledgements, waits ``linger``).
            await self._wait(self._stop, self.linger)

    async def _wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait for ``event`` (or stop()) at most ``seconds``; True if it was set."""
        if self._stop.is_set() or event.is_set():
            return event.is_set()
        waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stop.wait())}
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return event.is_set()

    async def _housekeeping(self) -> None:
        try:
            if time.monotonic() - self._last_backlog >= 1.0:
                self._last_backlog = time.monotonic()
                await self.backlog()
            if time.monotonic() - self._last_cleanup >= self.cleanup_interval:
                self._last_cleanup = time.monotonic()
                deleted = await self.cleanup()
                if deleted:
                    log.info("outbox_cleanup", table=self.table, deleted=deleted)
        except Exception as exc:  # housekeeping never stops relaying
            log.warning("outbox_housekeeping_failed", table=self.table, error=describe(exc))

    def _listening(self) -> bool:
        conn = self._listener
        if conn is None:
            return False
        try:
            return not conn.is_closed()
        except asyncpg.InterfaceError:  # the pool took back a connection the server closed
            return False

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        self._listen_retry_at = time.monotonic() + 5.0
        try:
            conn = await self.pool.acquire()
        except Exception as exc:
            log.warning("outbox_listen_failed", table=self.table, error=describe(exc))
            return
        try:
            await conn.add_listener(notify_channel(self.table), self._on_notify)
        except Exception as exc:
            log.warning("outbox_listen_failed", table=self.table, error=describe(exc))
            with contextlib.suppress(Exception):
                await self.pool.release(conn)
            return
        self._listener = conn

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.remove_listener(notify_channel(self.table), self._on_notify)
        with contextlib.suppress(Exception):
            await self.pool.release(conn)


def _row_id(row: asyncpg.Record) -> int:
    return int(row["id"])
