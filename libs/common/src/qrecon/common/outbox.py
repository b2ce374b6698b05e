"""A generic transactional outbox: rows written in PostgreSQL, relayed to Kafka.

Why: a service that must both change its state (or accept a webhook) and publish an event
cannot do both atomically across PostgreSQL and Kafka. It writes the event as a row in an
outbox table *in the same transaction* as its state change (:func:`enqueue`), and a relay
(:class:`OutboxRelay`) publishes pending rows to Kafka, then takes them off the pending
table. The event reaches Kafka if and only if the transaction committed, even when Kafka
is down at that moment or the process dies right after committing.

Tables (any name; the caller's migration creates them; :func:`table_ddl` prints the DDL)::

    <table>:
    id            bigserial PRIMARY KEY          -- publication order
    topic         text NOT NULL
    key           bytea                          -- Kafka key (NULL: no key)
    value         bytea NOT NULL                 -- Kafka value, the exact bytes
    headers       jsonb NOT NULL DEFAULT '{}'    -- {"name": "text value"}
    created_at    timestamptz NOT NULL DEFAULT now()
    attempts      integer NOT NULL DEFAULT 0     -- failed publish attempts
    last_error    text                           -- last failure, for operators

    <table>_pending:
    id            bigint PRIMARY KEY             -- a row of <table> not yet published

    + a statement-level AFTER INSERT trigger on <table> that adds every new row's id to
      <table>_pending (in the inserting transaction: whoever writes the outbox, even an
      older version of a service, enqueues).

Extra columns are allowed (ingest's inbox adds ``connection_id``, ``event_id`` and a
unique constraint on them); the relay reads and writes only the standard ones.

Why a separate pending table rather than a ``published_at`` column: marking a row
published would rewrite it (a new version of a ~2 KB row, as much WAL again as the insert,
new index entries, a dead tuple for vacuum); deleting an 8-byte id from a small table
costs a tenth of that (measured: PostgreSQL's CPU to claim a row 19.5 → 11 µs, WAL per row
1.7 KB → 0.1 KB). Outbox rows are thus written once and never updated on the happy path.

How the relay works (:meth:`OutboxRelay.run_once`): in one transaction it claims up to
``batch_size`` pending ids in order — ``DELETE FROM <table>_pending WHERE id IN (SELECT …
FOR UPDATE SKIP LOCKED) RETURNING id`` joined to the rows (several replicas claim disjoint
batches) — hands the rows in order to the broker's idempotent producer as one record batch
per partition (partition = the default partitioner's murmur2 of the key), waits for every
broker acknowledgement, puts the ids of the rows Kafka did not take back (with
``attempts`` / ``last_error`` on their rows), and commits. A crash before the commit rolls
the claim back. The loop (:meth:`start`) wakes on ``LISTEN/NOTIFY`` (:func:`enqueue`
notifies at commit) or every ``poll_interval``; with ``linger`` > 0 it then waits that long
so that rows committed meanwhile share the batch (one transaction and one produce request
for many rows). It backs off exponentially (with jitter) while Kafka or PostgreSQL fails,
and deletes published rows (not pending) older than ``retention`` every
``cleanup_interval``. Records over ``max_record_bytes`` (which Kafka would refuse) are
never sent — a refused batch would leave a gap in the idempotent producer's sequence
numbers and stall its partition — they stay pending with ``last_error`` set, without
holding back the others.

Limits: while Kafka is unreachable, the batch in flight keeps its transaction open (and
its rows locked) until Kafka answers again; a very long outage therefore holds one open
transaction, which delays vacuum. Rows that fail again and again stay pending (visible
in ``qrecon_outbox_backlog`` and ``last_error``); nothing is dropped.

Guarantee: **at least once**, and in practice exactly once. The producer is idempotent with
``acks=all`` (:func:`qrecon.common.kafka.make_broker`): while Kafka is unreachable the
relay does not give up on a record it handed to the producer, it waits for it (the
idempotent producer retries with the same producer id and sequence numbers, which the
broker deduplicates), so an outage produces no duplicate. A duplicate is possible only
when a record reached the broker but its row could not be marked: the process died (or
PostgreSQL failed) between the broker's acknowledgement and the commit, or a shutdown
gave up waiting. Such a record is published again by the next relay. Consumers therefore
deduplicate by the ``event-id`` header (or, for transactions, by version). Ordering: rows
are published in ``id`` order by one relay; several replicas may interleave, so consumers
must not rely on order across records (the contracts already don't).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from prometheus_client import Counter, Gauge, Histogram
from pydantic_core import from_json

from qrecon.common.kafka import default_partition
from qrecon.common.logging import get_logger

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

__all__ = [
    "OutboxRelay",
    "enqueue",
    "notify_channel",
    "pending_table",
    "table_ddl",
]

log = get_logger(__name__)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

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


def _check_table(table: str) -> str:
    """Table names are interpolated into SQL: only plain lower-case identifiers pass."""
    if not _IDENTIFIER.match(table):
        raise ValueError(f"not a plain table name: {table!r}")
    return table


def notify_channel(table: str) -> str:
    """The ``LISTEN/NOTIFY`` channel on which writers of ``table`` wake its relay."""
    return f"{_check_table(table)}_outbox"


def pending_table(table: str) -> str:
    """The table of ``table``'s ids not yet published."""
    name = f"{_check_table(table)}_pending"
    if len(name) > 63:  # PostgreSQL would truncate it silently
        raise ValueError(f"outbox table name too long for its pending table: {table!r}")
    return name


def table_ddl(table: str) -> str:
    """DDL of an outbox table, its pending table and trigger (copy it into a migration)."""
    t = _check_table(table)
    p = pending_table(t)
    return f"""
CREATE TABLE IF NOT EXISTS {t} (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    key          bytea,
    value        bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE TABLE IF NOT EXISTS {p} (id bigint PRIMARY KEY);
CREATE OR REPLACE FUNCTION {t}_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {p} (id) SELECT id FROM new_rows;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER {t}_enqueue AFTER INSERT ON {t}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {t}_enqueue();
"""  # noqa: S608 - checked identifiers


def _key_bytes(key: str | bytes | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    return key.encode()


async def enqueue(
    conn: asyncpg.Connection,
    table: str,
    *,
    topic: str,
    key: str | bytes | None,
    value: bytes,
    headers: Mapping[str, str],
) -> None:
    """Write one record to the outbox ``table`` on ``conn``.

    Call it inside the caller's transaction (``async with conn.transaction():``): the record
    is published if and only if that transaction commits. The relay is woken at commit.
    """
    t = _check_table(table)
    await conn.execute(
        f"WITH ins AS (INSERT INTO {t} (topic, key, value, headers)"  # noqa: S608 - checked name
        " VALUES ($1, $2, $3, $4::text::jsonb) RETURNING id)"
        " SELECT pg_notify($5, '') FROM ins",
        topic,
        _key_bytes(key),
        value,
        json.dumps(dict(headers)),
        notify_channel(t),
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
        self.table = _check_table(table)
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
        t = self.table
        p = pending_table(t)
        # Claim a batch by deleting its ids in the transaction that stays open while the
        # batch is published: undone by a rollback if the relay dies, and put back
        # explicitly for the rows Kafka refused.
        self._claim = (
            f"WITH claimed AS (DELETE FROM {p} WHERE id IN ("  # noqa: S608
            f"SELECT id FROM {p} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id)"
            " SELECT o.id, o.topic, o.key, o.value, o.headers::text AS headers, o.created_at"
            f" FROM {t} AS o JOIN claimed USING (id)"
        )
        self._fail = (
            f"WITH back AS (INSERT INTO {p} (id) SELECT unnest($1::bigint[]))"  # noqa: S608
            f" UPDATE {t} AS o SET attempts = o.attempts + 1, last_error = f.err"
            " FROM unnest($1::bigint[], $2::text[]) AS f(id, err) WHERE o.id = f.id"
        )
        self._cleanup = (
            f"DELETE FROM {t} WHERE id IN (SELECT o.id FROM {t} AS o"  # noqa: S608
            " WHERE o.created_at < now() - $1::interval"
            f" AND NOT EXISTS (SELECT 1 FROM {p} AS q WHERE q.id = o.id)"
            " ORDER BY o.id LIMIT $2)"
        )
        self._count = f"SELECT count(*) FROM {p}"  # noqa: S608

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
            # Never give up on a record the producer holds: it retries it idempotently.
            results = await asyncio.gather(*(f for _, f in handed), return_exceptions=True)
            published = 0
            now = time.time()
            delay = DELAY.labels(self.table)
            for (batch, _), result in zip(handed, results, strict=True):
                for row in batch:
                    if isinstance(result, BaseException):
                        failed[row["id"]] = _describe(result)
                    else:
                        published += 1
                        delay.observe(max(0.0, now - row["created_at"].timestamp()))
            if failed:
                await conn.execute(self._fail, list(failed), list(failed.values()))
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
        return published

    async def _hand_over(
        self, rows: list[asyncpg.Record]
    ) -> tuple[list[tuple[list[asyncpg.Record], asyncio.Future[Any]]], dict[int, str]]:
        """Give the rows, in id order, to the producer without waiting for the broker.

        Returns the futures of the broker's acknowledgements (each for one or more rows)
        and the rows that could not be handed over (with why): those are retried later.
        A row that could not be handed over stops the rows after it, so that a partition
        never receives a later row before an earlier one.
        """
        handed: list[tuple[list[asyncpg.Record], asyncio.Future[Any]]] = []
        failed: dict[int, str] = {}
        producer = _aiokafka_producer(self.broker)
        if producer is None:
            for index, row in enumerate(rows):
                key, value, headers = _record(row)
                if self._oversized(row, key, value, headers, failed):
                    continue
                try:
                    future = await self.broker.publish(
                        value,
                        row["topic"],
                        key=key,
                        headers={n: v.decode() for n, v in headers},
                        no_confirm=True,
                    )
                except Exception as exc:
                    failed.update(dict.fromkeys((r["id"] for r in rows[index:]), _describe(exc)))
                    break
                handed.append(([row], future))
            return handed, failed
        # The broker's own aiokafka producer (the same idempotent acks=all producer): one
        # record batch per partition instead of one send per record, the partition chosen
        # as the producer's default partitioner would (murmur2 of the key).
        partitions: dict[str, list[int]] = {}
        open_batches: dict[tuple[str, int], tuple[Any, list[asyncpg.Record]]] = {}

        async def flush(tp: tuple[str, int]) -> None:
            builder, batch = open_batches.pop(tp)
            builder.close()
            try:
                future = await producer.send_batch(builder, tp[0], partition=tp[1])
            except Exception as exc:
                failed.update(dict.fromkeys((r["id"] for r in batch), _describe(exc)))
            else:
                handed.append((batch, future))

        for index, row in enumerate(rows):
            try:
                topic = row["topic"]
                known = partitions.get(topic)
                if known is None:
                    known = partitions[topic] = sorted(await producer.partitions_for(topic))
                key, value, headers = _record(row)
                if self._oversized(row, key, value, headers, failed):
                    continue  # refused by Kafka, it would also stall its partition: skip it
                tp = (topic, _partition(key, known))
                record = {"key": key, "value": value, "timestamp": None, "headers": headers}
                entry = open_batches.get(tp)
                if entry is not None and entry[0].append(**record) is not None:
                    entry[1].append(row)
                    continue
                if entry is not None:
                    await flush(tp)  # full: send it, start the next one
                builder = producer.create_batch()
                if builder.append(**record) is None:
                    failed[row["id"]] = "record larger than the producer's max_batch_size"
                    continue
                open_batches[tp] = (builder, [row])
            except Exception as exc:
                failed.update(dict.fromkeys((r["id"] for r in rows[index:]), _describe(exc)))
                break
        for tp in list(open_batches):
            await flush(tp)
        return handed, failed

    def _oversized(
        self,
        row: asyncpg.Record,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]],
        failed: dict[int, str],
    ) -> bool:
        """A record Kafka would refuse (over ``max_record_bytes``) fails alone, every time.

        It must never reach the idempotent producer: a refused batch leaves a gap in the
        partition's sequence numbers and every later batch to that partition is then refused
        too (``OutOfOrderSequenceNumber``) until the producer is recreated.
        """
        # An upper bound first (varint framing is at most 5 bytes a field): the exact
        # estimate costs more than the rest of a record's handling, and is rarely needed.
        bound = len(value) + (len(key) if key else 0) + 64
        for name, data in headers:
            bound += len(name) + len(data) + 10
        if bound <= self.max_record_bytes:
            return False
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
        if size <= self.max_record_bytes:
            return False
        failed[row["id"]] = (
            f"record of {size} bytes exceeds max_record_bytes={self.max_record_bytes}"
        )
        return True

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
                self.consecutive_failures += 1
                if self._stopping:
                    log.warning(
                        "outbox_stopped_with_pending", table=self.table, error=_describe(exc)
                    )
                    return
                if self.consecutive_failures == 1 or self.consecutive_failures % 20 == 0:
                    log.warning(
                        "outbox_relay_retrying",
                        table=self.table,
                        failures=self.consecutive_failures,
                        error=_describe(exc),
                    )
                # New rows (NOTIFY) do not cut a backoff short; stop() does.
                await self._wait(self._stop, delay * (0.5 + random.random()))  # jitter
                delay = min(delay * 2, self.backoff_max)
                continue
            if self.consecutive_failures:
                log.info(
                    "outbox_relay_recovered", table=self.table, failures=self.consecutive_failures
                )
            self.consecutive_failures = 0
            delay = self.backoff_initial
            if published >= self.batch_size:
                continue  # more is probably waiting
            if self._stopping:
                return
            await self._housekeeping()
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
            log.warning("outbox_housekeeping_failed", table=self.table, error=_describe(exc))

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
            log.warning("outbox_listen_failed", table=self.table, error=_describe(exc))
            return
        try:
            await conn.add_listener(notify_channel(self.table), self._on_notify)
        except Exception as exc:
            log.warning("outbox_listen_failed", table=self.table, error=_describe(exc))
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


def _partition(key: bytes | None, partitions: list[int]) -> int:
    """The default partitioner's choice: murmur2 of the key, a random partition without."""
    if key is None:
        return random.choice(partitions)
    return default_partition(key, partitions)


def _record(row: asyncpg.Record) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of a row, headers as Kafka takes them."""
    key = None if row["key"] is None else bytes(row["key"])
    headers: dict[str, str] = from_json(row["headers"])
    return key, bytes(row["value"]), [(n, v.encode()) for n, v in headers.items()]


def _row_id(row: asyncpg.Record) -> int:
    return int(row["id"])


def _aiokafka_producer(broker: KafkaBroker) -> Any:
    """The connected aiokafka producer inside a FastStream broker, or None."""
    try:
        state = getattr(broker.config.producer, "_producer", None)
        producer = getattr(state, "producer", None)  # raises while not connected
    except Exception:
        return None
    from aiokafka import AIOKafkaProducer

    return producer if isinstance(producer, AIOKafkaProducer) else None


class OutboxPublishError(RuntimeError):
    """No row of a batch could be published (Kafka unreachable, ...)."""


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__
