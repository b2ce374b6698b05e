"""Ingest against real PostgreSQL and Kafka: in process (ASGI) and as ``qonto-ingest``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from qrecon.common import testing
from qrecon.common.schemas import TransactionEvent
from qrecon.common.topics import Topics
from qrecon.ingest.adapters.pg import InboxWriter
from qrecon.ingest.bootstrap import IngestRuntime, create_app
from qrecon.ingest.settings import IngestSettings

from .conftest import SECRET, encode, signed_headers, transaction_data, webhook

pytestmark = pytest.mark.integration


topic_size = testing.topic_size


async def inbox_state(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM ingest_inbox) AS total,"
            " (SELECT count(*) FROM ingest_inbox) - (SELECT count(*) FROM ingest_inbox_pending)"
            " AS published"
        )
    finally:
        await conn.close()
    return dict(row)


@pytest.fixture
async def runtime(
    database_url: str, kafka_bootstrap: str, topics: Topics
) -> AsyncIterator[IngestRuntime]:
    settings = IngestSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topics.prefix,
        webhook_secret=SECRET,
        relay_poll_interval_seconds=0.1,
    )
    runtime = IngestRuntime(settings)
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture
async def client(runtime: IngestRuntime) -> AsyncIterator[httpx.AsyncClient]:
    from qrecon.ingest.adapters.http import create_http_app

    transport = httpx.ASGITransport(app=create_http_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as c:
        yield c


async def post(client: httpx.AsyncClient, payload: Any, path: str = "/webhooks/qonto") -> int:
    body = encode(payload)
    response = await client.post(path, content=body, headers=signed_headers(body))
    return response.status_code


async def test_webhooks_reach_their_topics_once_with_contract_values(
    client: httpx.AsyncClient, kafka_bootstrap: str, topics: Topics, database_url: str
) -> None:
    tx = webhook(event_id="ev-tx", data=transaction_data("tx-1", amount="12,30"))
    card = webhook("v1/cards", event_id="ev-card", data={"id": "card-1"})
    statuses = [await post(client, p) for p in (tx, card, tx, card)]
    assert statuses == [200, 200, 200, 200]

    [record] = await testing.consume_until(kafka_bootstrap, topics.transactions, count=1)
    assert record.key == b"tx-1"
    event = TransactionEvent.model_validate_json(record.value)
    assert (event.event_id, event.source, event.transaction.amount_cents) == (
        "ev-tx",
        "webhook",
        1230,
    )
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["event-id"] == "ev-tx"
    assert headers["event-type"] == "qonto.transaction"
    assert headers["schema-version"] == "1"
    [raw] = await testing.consume_until(kafka_bootstrap, topics.qonto_events, count=1)
    assert (raw.key, raw.value) == (b"card-1", encode(card))
    assert await topic_size(kafka_bootstrap, topics.transactions) == 1
    assert await topic_size(kafka_bootstrap, topics.qonto_events) == 1
    for _ in range(50):
        if (await inbox_state(database_url))["published"] == 2:
            break
        await asyncio.sleep(0.1)
    assert await inbox_state(database_url) == {"total": 2, "published": 2}
    assert (await client.get("/readyz")).json()["checks"] == {"postgres": True, "kafka": True}


async def test_concurrent_deliveries_with_redeliveries_become_one_record_each(
    client: httpx.AsyncClient, kafka_bootstrap: str, topics: Topics
) -> None:
    payloads = [webhook(event_id=f"ev-{i}") for i in range(150)]
    deliveries = payloads + payloads[::3]  # 50 redeliveries, interleaved by gather
    statuses = await asyncio.gather(*(post(client, p) for p in deliveries))
    assert set(statuses) == {200}
    records = await testing.consume_until(kafka_bootstrap, topics.transactions, count=150)
    assert sorted(dict(r.headers)["event-id"].decode() for r in records) == sorted(
        p["id"] for p in payloads
    )
    assert await topic_size(kafka_bootstrap, topics.transactions) == 150


async def test_postgres_unavailable_is_503_then_recovers(
    client: httpx.AsyncClient, database_url: str, postgres_admin_dsn: str
) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(postgres_admin_dsn)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        assert await post(client, webhook()) == 503
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["postgres"] is False
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    assert await post(client, webhook()) == 200


async def test_postgres_too_slow_is_503_within_the_timeout_then_recovers(
    runtime: IngestRuntime, client: httpx.AsyncClient, database_url: str
) -> None:
    assert isinstance(runtime.inbox, InboxWriter)
    runtime.inbox.timeout = 0.5
    blocker = await asyncpg.connect(database_url)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE ingest_inbox IN EXCLUSIVE MODE")  # inserts wait
            started = asyncio.get_running_loop().time()
            assert await post(client, webhook()) == 503
            assert asyncio.get_running_loop().time() - started < 2.0
    finally:
        await blocker.close()
    assert await post(client, webhook()) == 200


async def test_qonto_ingest_serves_limits_a_real_socket_and_shuts_down_gracefully(
    spawn_ingest: Any, kafka_bootstrap: str, topics: Topics
) -> None:
    ingest = spawn_ingest()
    async with httpx.AsyncClient(base_url=ingest.url) as c:
        body = encode(webhook("v1/cards", event_id="ev-sub", data={"id": "c"}))
        ok = await c.post("/webhooks/qonto", content=body, headers=signed_headers(body))
        assert ok.status_code == 200
        ready = await c.get("/readyz")
        assert ready.status_code == 200, ready.text
    # 413 on Content-Length, answered before the client sends its (100 MiB) body.
    status_line = await asyncio.to_thread(_oversized_request, ingest.port)
    assert status_line.startswith(b"HTTP/1.1 413")
    # uvicorn re-raises SIGTERM once shut down: the conventional -15, after a clean stop
    assert ingest.terminate() in (0, -15)
    log = ingest.log.read_text()
    assert "ingest_stopped" in log
    assert "Application shutdown complete" in log
    assert SECRET not in log
    assert await topic_size(kafka_bootstrap, topics.qonto_events) == 1


def _oversized_request(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /webhooks/qonto HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Qonto-Signature: t=1,v1=" + b"a" * 64 + b"\r\n"
            b"Content-Length: 104857600\r\n\r\n" + b"{" * 1024
        )
        data = sock.recv(4096)
    return data.split(b"\r\n", 1)[0]


def test_create_app_builds_without_servers() -> None:
    app = create_app(IngestSettings(webhook_secret="x"))
    assert app.title == "qonto-ingest"
