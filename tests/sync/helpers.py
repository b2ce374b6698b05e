"""Helpers shared by the sync integration tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from qrecon.sim.testing import EmulatorHandle

#: Where the emulator's clock and sync's (``SYNC_CLOCK_START``) start in the tests whose
#: scenario lies "before now": a Monday morning, never the wall clock.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def start_clocks(emulator: EmulatorHandle) -> datetime:
    """Start the emulator's clock at ``START`` (real speed); give sync ``clock_start=START``
    afterwards, so that Qonto's clock is never behind sync's (what it stamps later is
    always within a later sweep's reach). Returns ``START``."""
    emulator.sim.clock.set(START, speed=1.0)
    return START


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def add_transactions(emulator: EmulatorHandle, n: int, **fields: Any) -> list[dict[str, Any]]:
    return [
        emulator.sim.add_transaction(
            amount_cents=1000 + i, side="credit" if i % 2 else "debit", notify=False, **fields
        )
        for i in range(n)
    ]


async def wait_for(predicate: Callable[[], bool], limit: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def read_topic(bootstrap: str, topic: str, limit: float = 60.0) -> list[dict[str, Any]]:
    """Every value on ``topic`` now (JSON), from the start up to the current end offsets."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[dict[str, Any]] = []
        async with asyncio.timeout(limit):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    values.extend(json.loads(r.value) for r in records)
        return values
    finally:
        await consumer.stop()


def latest_by_id(bodies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for body in bodies:
        tx = body["transaction"]
        have = latest.get(tx["id"])
        if have is None or ts(tx["updated_at"]) > ts(have["transaction"]["updated_at"]):
            latest[tx["id"]] = body
    return latest


def versions(bodies: list[dict[str, Any]], *sources: str) -> list[tuple[str, datetime]]:
    return [
        (b["transaction"]["id"], ts(b["transaction"]["updated_at"]))
        for b in bodies
        if not sources or b["source"] in sources
    ]
