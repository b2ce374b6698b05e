"""The per-record policy of the consumers: transient failures wait, poison goes to the DLQ.

No server needed: the records are built by hand and the broker's publish is captured.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from qrecon.common import topics as topic_names
from qrecon.common.kafka import make_broker
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.kafka import Interrupted, StreamConsumers
from qrecon.matcher.settings import MatcherSettings


@dataclass
class Record:
    value: bytes
    topic: str = "p.qonto.transactions.v1"
    partition: int = 2
    offset: int = 41
    key: bytes = b"tx-1"
    headers: list[tuple[str, bytes]] = field(default_factory=lambda: [("event-id", b"e-1")])


@pytest.fixture
def consumers(monkeypatch: pytest.MonkeyPatch) -> tuple[StreamConsumers, list[dict[str, Any]]]:
    settings = MatcherSettings(MATCHER_MAX_ATTEMPTS=3, MATCHER_RETRY_BACKOFF_SECONDS=0.001)
    broker = make_broker("127.0.0.1:1", client_id="policy-test")
    published: list[dict[str, Any]] = []

    async def publish(value: bytes, topic: str, **kwargs: Any) -> None:
        published.append({"value": value, "topic": topic, **kwargs})

    monkeypatch.setattr(broker, "publish", publish)
    return StreamConsumers(broker, None, settings, Topics("p.")), published  # type: ignore[arg-type]


async def test_transient_failures_are_retried_without_dead_lettering(
    consumers: tuple[StreamConsumers, list[dict[str, Any]]],
) -> None:
    stream, published = consumers
    calls = 0

    async def apply(_: bytes) -> str:
        nonlocal calls
        calls += 1
        if calls <= 5:  # more than MATCHER_MAX_ATTEMPTS: transient failures are not counted
            raise asyncpg.ConnectionDoesNotExistError("connection was closed")
        return "applied"

    assert await stream._process(Record(b"{}"), apply) == "applied"
    assert calls == 6
    assert published == []


async def test_stopping_interrupts_a_record_waiting_on_a_transient_failure(
    consumers: tuple[StreamConsumers, list[dict[str, Any]]],
) -> None:
    stream, published = consumers

    async def apply(_: bytes) -> str:
        raise OSError("connection refused")

    task = asyncio.create_task(stream._process(Record(b"{}"), apply))
    await asyncio.sleep(0.05)
    stream.stopping.set()
    with pytest.raises(Interrupted):
        await asyncio.wait_for(task, 5)
    assert published == []  # not effected: it will be delivered again


async def test_a_persistent_error_goes_to_the_dlq_after_bounded_attempts(
    consumers: tuple[StreamConsumers, list[dict[str, Any]]],
) -> None:
    stream, published = consumers
    calls = 0

    async def apply(_: bytes) -> str:
        nonlocal calls
        calls += 1
        raise KeyError("a bug on this record")

    assert await stream._process(Record(b'{"x": 1}'), apply) is None
    assert calls == 3
    [dead] = published
    assert dead["topic"] == "p.qonto.transactions.v1.dlq"
    assert dead["key"] == b"tx-1"
    assert dead["value"] == b'{"x": 1}'
    headers = dead["headers"]
    assert headers["event-id"] == "e-1"
    assert headers[topic_names.HEADER_DLQ_ATTEMPTS] == "3"
    assert headers[topic_names.HEADER_DLQ_SOURCE_PARTITION] == "2"
    assert headers[topic_names.HEADER_DLQ_SOURCE_OFFSET] == "41"
    assert "KeyError" in headers[topic_names.HEADER_DLQ_ERROR]


async def test_an_undecodable_record_goes_to_the_dlq_at_once(
    consumers: tuple[StreamConsumers, list[dict[str, Any]]],
) -> None:
    stream, published = consumers
    record = Record(b"\xff\xfe not json", headers=[("bad", b"\xff")])
    assert await stream._process(record, stream._apply_transaction) is None
    [dead] = published
    assert dead["headers"][topic_names.HEADER_DLQ_ATTEMPTS] == "1"
    assert dead["headers"]["bad"] == "\ufffd"


async def test_an_event_without_organisation_and_no_default_is_dead_lettered_at_once() -> None:
    """Never guessed, never retried: the DLQ says why, the record is kept whole."""
    from qrecon.common.schemas import TransactionEvent
    from qrecon.matcher.app.cache import MatcherState
    from qrecon.matcher.app.service import MatcherService
    from qrecon.matcher.core import EngineConfig, MatchingEngine

    from .factories import transaction

    settings = MatcherSettings(MATCHER_MAX_ATTEMPTS=3, MATCHER_RETRY_BACKOFF_SECONDS=0.001)
    broker = make_broker("127.0.0.1:1", client_id="policy-test")
    published: list[dict[str, Any]] = []

    async def publish(value: bytes, topic: str, **kwargs: Any) -> None:
        published.append({"value": value, "topic": topic, **kwargs})

    broker.publish = publish  # type: ignore[method-assign]
    service = MatcherService(None, MatchingEngine(EngineConfig()), MatcherState())  # type: ignore[arg-type]
    stream = StreamConsumers(broker, service, settings, Topics("p."))
    value = (
        TransactionEvent(event_id="e-1", source="webhook", transaction=transaction(1000))
        .model_dump_json()
        .encode()
    )
    assert await stream._process(Record(value), stream._apply_transaction) is None
    [dead] = published
    assert dead["topic"] == "p.qonto.transactions.v1.dlq"
    assert dead["value"] == value
    assert dead["headers"][topic_names.HEADER_DLQ_ATTEMPTS] == "1"
    assert "MATCHER_DEFAULT_ORGANIZATION" in dead["headers"][topic_names.HEADER_DLQ_ERROR]
