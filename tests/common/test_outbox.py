"""The generic outbox relay against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from faststream.kafka import KafkaBroker

from qrecon.common import testing
from qrecon.common.db import create_pool
from qrecon.common.kafka import headers_for, make_broker
from qrecon.common.outbox import OutboxRelay, enqueue, pending_table, table_ddl
from qrecon.common.topics import Topics

pytestmark = pytest.mark.integration

TABLE = "test_outbox"


topic_size = testing.topic_size


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await conn.execute(table_ddl(TABLE))
    yield pool
    await pool.close()


@pytest.fixture
async def broker(kafka_bootstrap: str) -> AsyncIterator[KafkaBroker]:
    broker = make_broker(kafka_bootstrap, client_id="test-outbox")
    await broker.connect()
    yield broker
    await broker.stop()


async def _enqueue(pool: asyncpg.Pool, topic: str, n: int, *, commit: bool = True) -> None:
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        for i in range(n):
            await enqueue(
                conn,
                TABLE,
                topic=topic,
                key=f"k{i}",
                value=f'{{"n":{i}}}'.encode(),
                headers=headers_for(f"e{i}", "test"),
            )
        await (tx.commit() if commit else tx.rollback())


async def test_committed_rows_are_published_once_in_order_and_rolled_back_ones_never(
    pool: asyncpg.Pool, broker: KafkaBroker, kafka_bootstrap: str, topics: Topics
) -> None:
    topic = topics.qonto_events
    await _enqueue(pool, topic, 5, commit=False)
    await _enqueue(pool, topic, 30)
    relay = OutboxRelay(pool, broker, table=TABLE, batch_size=7, poll_interval=0.05)
    await relay.start()
    try:
        records = await testing.consume_until(kafka_bootstrap, topic, count=30, timeout=10)
    finally:
        await relay.stop()
    assert await topic_size(kafka_bootstrap, topic) == 30
    assert sorted(int(r.value[5:-1]) for r in records) == list(range(30))
    by_key = {r.key: r for r in records}
    assert by_key[b"k3"].value == b'{"n":3}'
    headers = dict(by_key[b"k3"].headers)
    assert headers["event-id"] == b"e3"
    assert headers["event-type"] == b"test"
    # Per partition, in id order.
    for part in {r.partition for r in records}:
        ns = [int(r.value[5:-1]) for r in records if r.partition == part]
        assert ns == sorted(ns)
    assert await relay.backlog() == 0


async def test_notify_wakes_the_relay_without_waiting_for_the_poll(
    pool: asyncpg.Pool, broker: KafkaBroker, kafka_bootstrap: str, topics: Topics
) -> None:
    relay = OutboxRelay(pool, broker, table=TABLE, poll_interval=60)
    await relay.start()
    try:
        await asyncio.sleep(0.3)  # the relay is now asleep for a minute
        await _enqueue(pool, topics.qonto_events, 1)
        records = await testing.consume_until(
            kafka_bootstrap, topics.qonto_events, count=1, timeout=10
        )
    finally:
        await relay.stop()
    assert len(records) == 1


async def test_two_relays_share_the_work_without_duplicates(
    pool: asyncpg.Pool, broker: KafkaBroker, kafka_bootstrap: str, topics: Topics
) -> None:
    await _enqueue(pool, topics.qonto_events, 200)
    relays = [
        OutboxRelay(pool, broker, table=TABLE, batch_size=10, poll_interval=0.05) for _ in "ab"
    ]
    results = await asyncio.gather(*(r.run_once() for r in relays for _ in range(10)))
    assert sum(results) == 200
    records = await testing.consume_until(kafka_bootstrap, topics.qonto_events, count=200)
    assert len(records) == 200
    assert await topic_size(kafka_bootstrap, topics.qonto_events) == 200
    assert len({r.value for r in records}) == 200


async def test_an_unconnected_broker_records_the_failure_and_publishes_nothing(
    pool: asyncpg.Pool, kafka_bootstrap: str, topics: Topics
) -> None:
    await _enqueue(pool, topics.qonto_events, 3)
    relay = OutboxRelay(pool, make_broker(kafka_bootstrap, client_id="never"), table=TABLE)
    with pytest.raises(Exception, match="connect"):
        await relay.run_once()
    rows = await _rows(pool)
    assert [r["attempts"] for r in rows] == [1, 1, 1]
    assert all(r["pending"] and r["last_error"] for r in rows)


async def test_cleanup_deletes_only_old_published_rows(
    pool: asyncpg.Pool, broker: KafkaBroker, topics: Topics
) -> None:
    await _enqueue(pool, topics.qonto_events, 4)
    relay = OutboxRelay(pool, broker, table=TABLE, retention=timedelta(hours=1))
    assert await relay.run_once() == 4
    await _enqueue(pool, topics.qonto_events, 1)  # pending, old: kept
    async with pool.acquire() as conn:
        await conn.execute(
            f"UPDATE {TABLE} SET created_at = created_at - interval '2 hours' WHERE id <= 2"
        )
        await conn.execute(
            f"UPDATE {TABLE} SET created_at = now() - interval '3 hours' WHERE id = 5"
        )
    assert await relay.cleanup() == 2
    async with pool.acquire() as conn:
        ids = [r["id"] for r in await conn.fetch(f"SELECT id FROM {TABLE} ORDER BY id")]
    assert ids == [3, 4, 5]


def test_table_names_are_checked() -> None:
    with pytest.raises(ValueError, match="table"):
        table_ddl("x; DROP TABLE y")


async def test_a_record_kafka_refuses_fails_alone(
    pool: asyncpg.Pool, broker: KafkaBroker, kafka_bootstrap: str, topics: Topics
) -> None:
    """A record over the broker's size limit must not hold back the others."""
    async with pool.acquire() as conn:
        for value in (b"small-1", b"x" * 1_500_000, b"small-2"):
            await enqueue(conn, TABLE, topic=topics.qonto_events, key="k", value=value, headers={})
    relay = OutboxRelay(pool, broker, table=TABLE)
    assert await relay.run_once() == 2
    with pytest.raises(Exception, match="max_record_bytes"):
        await relay.run_once()  # only the refused row is left, and it fails again
    await _enqueue(pool, topics.qonto_events, 1)  # the partition still takes records
    assert await relay.run_once() == 1
    records = await testing.consume_until(kafka_bootstrap, topics.qonto_events, count=3)
    assert sorted(r.value for r in records) == [b"small-1", b"small-2", b'{"n":0}']
    row = (await _rows(pool))[1]
    assert (row["id"], row["attempts"], row["pending"]) == (2, 3, True)
    assert "exceeds max_record_bytes" in row["last_error"]


async def test_any_insert_is_enqueued_and_a_published_row_leaves_the_queue(
    pool: asyncpg.Pool, broker: KafkaBroker, topics: Topics
) -> None:
    """The pending table is kept by a trigger: a writer that knows nothing of it (a plain
    INSERT, an older version of a service) still enqueues."""
    async with pool.acquire() as conn:
        await conn.execute(
            f"INSERT INTO {TABLE} (topic, value) SELECT $1, 'v'::bytea FROM generate_series(1, 3)",
            topics.qonto_events,
        )
    relay = OutboxRelay(pool, broker, table=TABLE)
    assert await relay.backlog() == 3
    assert await relay.run_once() == 3
    assert await relay.backlog() == 0
    assert [r["pending"] for r in await _rows(pool)] == [False, False, False]


async def _rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """Every outbox row in id order, with whether it is still pending."""
    async with pool.acquire() as conn:
        return list(
            await conn.fetch(
                f"SELECT t.id, t.attempts, t.last_error,"
                f" EXISTS (SELECT 1 FROM {pending_table(TABLE)} AS p WHERE p.id = t.id) AS pending"
                f" FROM {TABLE} AS t ORDER BY t.id"
            )
        )
