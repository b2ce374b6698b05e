"""Handing outbox rows to Kafka: the only module that touches FastStream's and aiokafka's
internals (the broker's private ``_producer``, aiokafka record batches).

``hand_over`` gives the rows, in id order, to the broker's own aiokafka producer (the same
idempotent ``acks=all`` producer :func:`qrecon.common.kafka.make_broker` configures) as
one record batch per partition, the partition chosen as the producer's default
partitioner would (murmur2 of the key); it falls back to ``broker.publish`` one record at a
time when that producer cannot be reached. It never waits for the broker: it returns the
futures of its acknowledgements. Records over ``max_record_bytes`` are never sent (see
``oversized``).
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from pydantic_core import from_json

from qrecon.common.kafka import default_partition

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

__all__ = ["Handed", "OutboxPublishError", "describe", "hand_over", "oversized"]

# the rows of one produce request (one or several) and the future of its acknowledgement
Handed = list[tuple[list[asyncpg.Record], asyncio.Future[Any]]]


class OutboxPublishError(RuntimeError):
    """No row of a batch could be published (Kafka unreachable, ...)."""


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


async def hand_over(
    broker: KafkaBroker, rows: list[asyncpg.Record], *, max_record_bytes: int
) -> tuple[Handed, dict[int, str]]:
    """Give the rows, in id order, to the producer without waiting for the broker.

    Returns the futures of the broker's acknowledgements (each for one or more rows)
    and the rows that could not be handed over (with why): those are retried later.
    A row that could not be handed over stops the rows after it, so that a partition
    never receives a later row before an earlier one.
    """
    producer = _aiokafka_producer(broker)
    if producer is None:
        return await _publish_one_by_one(broker, rows, max_record_bytes)
    return await _BatchBuilder(producer, max_record_bytes).hand_over(rows)


async def _publish_one_by_one(
    broker: KafkaBroker, rows: list[asyncpg.Record], max_record_bytes: int
) -> tuple[Handed, dict[int, str]]:
    """Through FastStream's ``publish`` (no confirmation awaited), one record at a time."""
    handed: Handed = []
    failed: dict[int, str] = {}
    for index, row in enumerate(rows):
        key, value, headers = _record(row)
        if oversized(row, key, value, headers, failed, max_record_bytes):
            continue
        try:
            future = await broker.publish(
                value,
                row["topic"],
                key=key,
                headers={n: v.decode() for n, v in headers},
                no_confirm=True,
            )
        except Exception as exc:
            failed.update(dict.fromkeys((r["id"] for r in rows[index:]), describe(exc)))
            break
        handed.append(([row], future))
    return handed, failed


class _BatchBuilder:
    """One record batch per partition on the broker's own aiokafka producer."""

    def __init__(self, producer: Any, max_record_bytes: int) -> None:
        self.producer = producer
        self.max_record_bytes = max_record_bytes
        self.handed: Handed = []
        self.failed: dict[int, str] = {}
        self.partitions: dict[str, list[int]] = {}
        self.open_batches: dict[tuple[str, int], tuple[Any, list[asyncpg.Record]]] = {}

    async def hand_over(self, rows: list[asyncpg.Record]) -> tuple[Handed, dict[int, str]]:
        for index, row in enumerate(rows):
            try:
                await self._add(row)
            except Exception as exc:
                self.failed.update(dict.fromkeys((r["id"] for r in rows[index:]), describe(exc)))
                break
        for tp in list(self.open_batches):
            await self._flush(tp)
        return self.handed, self.failed

    async def _add(self, row: asyncpg.Record) -> None:
        """Append ``row`` to its partition's open batch (sending that batch when full)."""
        producer = self.producer
        topic = row["topic"]
        known = self.partitions.get(topic)
        if known is None:
            known = self.partitions[topic] = sorted(await producer.partitions_for(topic))
        key, value, headers = _record(row)
        if oversized(row, key, value, headers, self.failed, self.max_record_bytes):
            return  # refused by Kafka, it would also stall its partition: skip it
        tp = (topic, _partition(key, known))
        record = {"key": key, "value": value, "timestamp": None, "headers": headers}
        entry = self.open_batches.get(tp)
        if entry is not None and entry[0].append(**record) is not None:
            entry[1].append(row)
            return
        if entry is not None:
            await self._flush(tp)  # full: send it, start the next one
        builder = producer.create_batch()
        if builder.append(**record) is None:
            self.failed[row["id"]] = "record larger than the producer's max_batch_size"
            return
        self.open_batches[tp] = (builder, [row])

    async def _flush(self, tp: tuple[str, int]) -> None:
        builder, batch = self.open_batches.pop(tp)
        builder.close()
        try:
            future = await self.producer.send_batch(builder, tp[0], partition=tp[1])
        except Exception as exc:
            self.failed.update(dict.fromkeys((r["id"] for r in batch), describe(exc)))
        else:
            self.handed.append((batch, future))


def oversized(
    row: asyncpg.Record,
    key: bytes | None,
    value: bytes,
    headers: list[tuple[str, bytes]],
    failed: dict[int, str],
    max_record_bytes: int,
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
    if bound <= max_record_bytes:
        return False
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
    if size <= max_record_bytes:
        return False
    failed[row["id"]] = f"record of {size} bytes exceeds max_record_bytes={max_record_bytes}"
    return True


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


def _aiokafka_producer(broker: KafkaBroker) -> Any:
    """The connected aiokafka producer inside a FastStream broker, or None."""
    try:
        state = getattr(broker.config.producer, "_producer", None)
        producer = getattr(state, "producer", None)  # raises while not connected
    except Exception:
        return None
    from aiokafka import AIOKafkaProducer

    return producer if isinstance(producer, AIOKafkaProducer) else None
