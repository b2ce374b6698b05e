"""Fixtures of the matcher service tests: a migrated database, a service on the real engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from qrecon.common.db import create_pool
from qrecon.common.topics import Topics
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.bootstrap import MatcherRuntime, build_service, migrate
from qrecon.matcher.core import EngineConfig, MatchingEngine
from qrecon.matcher.settings import MatcherSettings

RuntimeFactory = Callable[..., Awaitable[MatcherRuntime]]
# The organisation of the events these tests publish without one (MATCHER_DEFAULT_ORGANIZATION).
DEFAULT_ORG = "org-default"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=8)
    await migrate(pool)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def service(pool: asyncpg.Pool, topics: Topics) -> MatcherService:
    state = MatcherState()
    service = build_service(
        pool,
        MatchingEngine(EngineConfig()),
        state,
        topics,
        conflict_retries=3,
        default_organization=DEFAULT_ORG,
    )
    await state.load(service.db)
    return service


# ---------------------------------------------------------------------- Kafka helpers
async def produce(
    bootstrap: str, topic: str, records: list[tuple[str, bytes]], headers: bool = True
) -> None:
    """Publish ``(key, value)`` records in order, acks=all."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(
                topic,
                value,
                key=key.encode(),
                headers=[("event-type", b"test"), ("schema-version", b"1")] if headers else None,
            )
    finally:
        await producer.stop()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def committed_lag(bootstrap: str, group_id: str, topic: str) -> int:
    """End offsets minus the group's committed offsets, summed over the topic."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())
            ]
        ends = await consumer.end_offsets(partitions)
        lag = 0
        for tp in partitions:
            committed = await consumer.committed(tp)
            lag += ends[tp] - (committed or 0)
        return lag
    finally:
        await consumer.stop()


# ---------------------------------------------------------------------- replicas in-process
def settings_for(
    bootstrap: str, database_url: str, topics: Topics, **extra: Any
) -> MatcherSettings:
    values: dict[str, Any] = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": topics.prefix,
        "MATCHER_GROUP_ID": f"{topics.prefix}matcher",
        "MATCHER_EVENTS_CONSUMER_GROUP": f"{topics.prefix}matcher-events",
        "MATCHER_API_ENABLED": False,
        "MATCHER_RETRY_BACKOFF_SECONDS": 0.01,
        "MATCHER_CACHE_REFRESH_SECONDS": 0.2,
        "MATCHER_LAG_SECONDS": 0.2,
        "MATCHER_HEARTBEAT_INTERVAL_MS": 300,
        "MATCHER_OUTBOX_POLL_SECONDS": 0.1,
        "LOG_LEVEL": "WARNING",
        "MATCHER_DEFAULT_ORGANIZATION": DEFAULT_ORG,
    }
    values.update(extra)
    return MatcherSettings(**values)


@pytest.fixture
async def runtimes(
    kafka_bootstrap: str, database_url: str, topics: Topics
) -> AsyncIterator[RuntimeFactory]:
    started: list[MatcherRuntime] = []

    async def start(engine: Any = None, **extra: Any) -> MatcherRuntime:
        runtime = MatcherRuntime(
            settings_for(kafka_bootstrap, database_url, topics, **extra), engine=engine
        )
        await runtime.start()
        started.append(runtime)
        return runtime

    try:
        yield start
    finally:
        for runtime in started:
            await runtime.stop()
