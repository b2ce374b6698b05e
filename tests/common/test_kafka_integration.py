"""The Kafka helpers against a real broker: no loss, no double effect on the happy path.

These are the properties every service relies on: the idempotent ``acks=all`` producer,
consumer groups committing only after processing, a restart resuming at the committed
offset, and a failing handler getting its message again instead of losing it.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from qrecon.common import testing
from qrecon.common.kafka import make_broker, publish_event
from qrecon.common.topics import HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION, Topics

pytestmark = pytest.mark.integration


async def test_published_events_carry_key_headers_and_json(
    kafka_bootstrap: str, topics: Topics
) -> None:
    broker = make_broker(kafka_bootstrap, client_id="test-producer")
    async with broker:
        await broker.start()
        for i in range(5):
            await publish_event(
                broker,
                topics.transactions,
                key=f"tx-{i}",
                value={"n": i},
                event_id=f"evt-{i}",
                event_type="test.event",
            )
    records = await testing.consume_until(kafka_bootstrap, topics.transactions, count=5)
    assert sorted(json.loads(r.value)["n"] for r in records) == [0, 1, 2, 3, 4]
    record = records[0]
    headers = {k: v.decode() for k, v in record.headers}
    assert headers[HEADER_EVENT_TYPE] == "test.event"
    assert headers[HEADER_SCHEMA_VERSION] == "1"
    assert headers[HEADER_EVENT_ID] == f"evt-{json.loads(record.value)['n']}"
    assert record.key == f"tx-{json.loads(record.value)['n']}".encode()


async def test_the_producer_is_idempotent_with_acks_all(kafka_bootstrap: str) -> None:
    broker = make_broker(kafka_bootstrap, client_id="test-idempotent")
    async with broker:
        await broker.start()
        producer = broker.config.broker_config.producer  # type: ignore[attr-defined]
        client = producer._producer.producer  # the underlying AIOKafkaProducer
        assert client._txn_manager is not None  # idempotence enabled: a producer id is used
        assert client._sender._txn_manager.producer_id >= 0
        assert client._sender._acks == -1  # acks=all


async def test_a_consumer_group_resumes_at_the_committed_offset(
    kafka_bootstrap: str, topics: Topics
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    broker = make_broker(kafka_bootstrap, client_id="test-producer")
    async with broker:
        await broker.start()
        for i in range(10):
            await publish_event(
                broker,
                topics.invoices,
                key="same-key",
                value={"n": i},
                event_id=str(i),
                event_type="t",
            )

    async def consume(n: int) -> list[int]:
        consumer = AIOKafkaConsumer(
            topics.invoices,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        seen: list[int] = []
        try:
            async with asyncio.timeout(30):
                while len(seen) < n:
                    record = await consumer.getone()
                    seen.append(json.loads(record.value)["n"])
                    # commit after processing, record by record
                    tp = TopicPartition(record.topic, record.partition)
                    await consumer.commit({tp: record.offset + 1})
        finally:
            await consumer.stop()
        return seen

    assert await consume(4) == [0, 1, 2, 3]
    # A new process of the same group starts exactly after the last commit.
    assert await consume(6) == [4, 5, 6, 7, 8, 9]


async def test_a_failing_faststream_handler_gets_its_message_again(
    kafka_bootstrap: str, topics: Topics
) -> None:
    """NACK_ON_ERROR: an exception seeks back; nothing is committed past the failure."""
    attempts: dict[int, int] = {}
    done = asyncio.Event()
    broker = make_broker(kafka_bootstrap, client_id="test-consumer")
    group = f"g-{uuid.uuid4().hex[:8]}"

    @broker.subscriber(topics.matches, group_id=group, auto_offset_reset="earliest")
    async def handle(body: dict[str, int]) -> None:
        n = body["n"]
        attempts[n] = attempts.get(n, 0) + 1
        if n == 1 and attempts[n] < 3:
            raise RuntimeError("transient failure")
        if n == 2:
            done.set()

    async with broker:
        await broker.start()
        for i in range(3):
            await publish_event(
                broker, topics.matches, key="k", value={"n": i}, event_id=str(i), event_type="t"
            )
        await asyncio.wait_for(done.wait(), 60)

    assert attempts == {0: 1, 1: 3, 2: 1}
    # The group's committed offset is past all three: a restart re-reads nothing.
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    assert sum(meta.offset for meta in offsets.values()) == 3
