"""Fault injection: Kafka outages and ``kill -9`` of ``qonto-ingest``.

Guarantee under test: every acknowledged (2xx) webhook ends up on its topic; a Kafka
outage adds no duplicate (idempotent producer + the relay never re-sends a record it is
still waiting for), so the topic holds each event exactly once; after ``kill -9`` every
acknowledged event is published by the restarted process (a duplicate is possible only
for a record Kafka acknowledged just before the kill, before its row was marked).

CAUTION: ``test_kafka_outage`` stops the shared broker for a few seconds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from qrecon.common import testing
from qrecon.common.topics import Topics

from .conftest import ROOT, encode, free_port, signed_headers, webhook
from .test_integration import topic_size

# A restarted broker may take minutes to lead thousands of partitions again on a busy CI host.
pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(900)]


async def send(client: httpx.AsyncClient, payload: dict[str, Any]) -> int:
    body = encode(payload)
    try:
        response = await client.post("/webhooks/qonto", content=body, headers=signed_headers(body))
    except httpx.HTTPError:
        return 0
    return response.status_code


async def send_many(url: str, n: int, concurrency: int = 16) -> list[str]:
    """Send ``n`` distinct transaction webhooks; returns the acknowledged event ids."""
    acked: list[str] = []
    queue = [webhook(event_id=f"ev-{uuid.uuid4()}") for _ in range(n)]

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            payload = queue.pop()
            if await send(client, payload) == 200:
                acked.append(payload["id"])

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return acked


async def published_ids(bootstrap: str, topic: str, count: int, timeout: float = 60) -> list[str]:  # noqa: ASYNC109
    records = await testing.consume_until(bootstrap, topic, count=count, timeout=timeout)
    return [dict(r.headers)["event-id"].decode() for r in records]


async def pending_rows(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        total = await conn.fetchval("SELECT count(*) FROM ingest_inbox")
        pending = await conn.fetchval("SELECT count(*) FROM ingest_inbox_pending")
    finally:
        await conn.close()
    return total, pending


async def test_kill_9_while_kafka_is_unreachable_then_restart_publishes_everything_once(
    spawn_ingest: Any, kafka_bootstrap: str, topics: Topics, database_url: str
) -> None:
    # Kafka unreachable for this process only (nothing listens there): nothing can be
    # published, so every acknowledged event is only in PostgreSQL when it dies.
    first = spawn_ingest(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}")
    acked = await send_many(first.url, 120)
    assert len(acked) == 120
    async with httpx.AsyncClient(base_url=first.url) as c:
        ready = (await c.get("/readyz")).json()
    assert ready["checks"] == {"postgres": True, "kafka": False}
    first.kill()
    assert await pending_rows(database_url) == (120, 120)

    spawn_ingest()  # the same configuration, Kafka reachable
    ids = await published_ids(kafka_bootstrap, topics.transactions, 120)
    assert sorted(ids) == sorted(acked)
    assert await topic_size(kafka_bootstrap, topics.transactions) == 120


async def test_kill_9_right_after_acknowledgements_loses_nothing(
    spawn_ingest: Any, kafka_bootstrap: str, topics: Topics, database_url: str
) -> None:
    first = spawn_ingest()
    acked = await send_many(first.url, 600, concurrency=24)
    first.kill()  # immediately after the last acknowledgement, relay mid-flight
    total, pending = await pending_rows(database_url)
    assert total == len(acked) == 600
    print(f"\nkill -9 left {pending} of {total} acknowledged events unpublished")

    spawn_ingest()
    ids = await published_ids(kafka_bootstrap, topics.transactions, 600)
    size = await topic_size(kafka_bootstrap, topics.transactions)
    assert set(ids) == set(acked)
    # Duplicates only for records Kafka acknowledged in the instant before the kill.
    print(f"after restart: {size} records for 600 events ({size - 600} duplicates)")
    assert size - 600 <= 24 * 25


async def wait_published(dsn: str, deadline_s: float = 300) -> int:
    """Poll until the relay has published every inbox row (generous deadline: a restarted
    broker may take a minute to lead all its partitions again). Returns rows still pending."""
    deadline = time.monotonic() + deadline_s
    while (pending := (await pending_rows(dsn))[1]) and time.monotonic() < deadline:  # noqa: ASYNC110 - another process's rows
        await asyncio.sleep(0.5)
    return pending


async def test_kafka_outage_every_acknowledged_event_exactly_once(
    spawn_ingest: Any, kafka_bootstrap: str, topics: Topics, database_url: str
) -> None:
    ingest = spawn_ingest()
    acked: list[str] = []
    statuses: list[int] = []
    stop = asyncio.Event()

    async def sender(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            payload = webhook(event_id=f"ev-{uuid.uuid4()}")
            status = await send(client, payload)
            statuses.append(status)
            if status == 200:
                acked.append(payload["id"])
            await asyncio.sleep(0.02)

    async with httpx.AsyncClient(base_url=ingest.url, timeout=10) as client:
        senders = [asyncio.create_task(sender(client)) for _ in range(4)]
        await asyncio.sleep(1.0)
        before = len(acked)
        outage_started = time.monotonic()
        stopped = False
        try:
            stop_took = await asyncio.to_thread(
                testing.control_infra, ROOT, "kafka.sh", "stop", kafka_bootstrap
            )
            stopped = True
            await asyncio.sleep(1.0)  # webhooks keep coming while Kafka is down
        finally:
            start_took = (
                await asyncio.to_thread(
                    testing.control_infra, ROOT, "kafka.sh", "start", kafka_bootstrap
                )
                if stopped
                else 0.0
            )
        outage = time.monotonic() - outage_started
        during = len(acked) - before
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*senders)

    print(
        f"\noutage {outage:.1f} s (stop {stop_took:.1f} s, start {start_took:.1f} s): "
        f"{before} acked before, {during} during, {len(acked)} in all"
    )
    assert during > 0
    assert set(statuses) == {200}, "every webhook is acknowledged during the outage"
    assert await wait_published(database_url) == 0, "the relay left acknowledged events"
    ids = await published_ids(kafka_bootstrap, topics.transactions, len(acked), timeout=300)
    assert len(ids) == len(acked), f"read {len(ids)} of {len(acked)} records in 300 s"
    assert sorted(ids) == sorted(acked)
    assert await topic_size(kafka_bootstrap, topics.transactions) == len(acked)
