"""The use case of receiving a webhook, on fakes of its ports (no server, no HTTP)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from qrecon.common.qonto.signature import signature_header
from qrecon.ingest.app.ports import InboxUnavailable
from qrecon.ingest.app.webhooks import NotDurable, ReceiveWebhook, RecordTooLarge
from qrecon.ingest.core.payload import PayloadError
from qrecon.ingest.core.signature import SignatureError

from ..conftest import SECRET, FakeRuntime, encode, transaction_data, webhook

NOW = 1_737_716_100.0  # 2025-01-24T10:55:00Z


def body_of(event_id: str = "ev-1", tx_id: str = "tx-1") -> bytes:
    return encode(webhook(event_id=event_id, data=transaction_data(tx_id)))


def signed(body: bytes, secret: str = SECRET, at: float = NOW) -> str:
    return signature_header(secret, body, int(at))


def reader(body: bytes) -> tuple[list[int], Callable[[], Awaitable[bytes]]]:
    reads: list[int] = []

    async def read() -> bytes:
        reads.append(len(body))
        return body

    return reads, read


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime(clock=NOW)


async def test_an_accepted_webhook_is_stored_once_on_its_topic(runtime: FakeRuntime) -> None:
    receive = ReceiveWebhook(runtime)
    body = body_of()
    connection = receive.connection("default")
    assert connection is not None
    _, read = reader(body)
    accepted = await receive(connection, signed(body), read)
    assert (accepted.event_id, accepted.new) == ("ev-1", True)
    [(key, (topic, routed))] = runtime.inbox.rows.items()
    assert key == ("default", "ev-1")
    assert topic == "fake.qonto.transactions.v1"
    assert routed.key == "tx-1"


async def test_a_redelivery_is_acknowledged_again_without_a_second_row(
    runtime: FakeRuntime,
) -> None:
    receive = ReceiveWebhook(runtime)
    connection = receive.connection("default")
    assert connection is not None
    body = body_of()
    first = await receive(connection, signed(body), reader(body)[1])
    # Qonto signs the retry again, later: same event, new signature.
    again = await receive(
        connection,
        signed(body, at=NOW + 30),
        reader(body)[1],
    )
    assert first.new
    assert not again.new
    assert again.event_id == first.event_id == "ev-1"
    assert len(runtime.inbox.rows) == 1


async def test_a_wrong_signature_is_refused_and_nothing_is_stored(runtime: FakeRuntime) -> None:
    receive = ReceiveWebhook(runtime)
    connection = receive.connection("default")
    assert connection is not None
    body = body_of()
    with pytest.raises(SignatureError) as refused:
        await receive(connection, signed(body, secret="not-the-secret"), reader(body)[1])
    assert refused.value.code == "invalid_signature"
    assert runtime.inbox.rows == {}


async def test_a_stale_or_missing_signature_is_refused_before_the_body_is_read(
    runtime: FakeRuntime,
) -> None:
    receive = ReceiveWebhook(runtime)
    connection = receive.connection("default")
    assert connection is not None
    body = body_of()
    reads, read = reader(body)
    with pytest.raises(SignatureError) as stale:
        await receive(connection, signed(body, at=NOW - 3600), read)
    with pytest.raises(SignatureError) as missing:
        await receive(connection, None, read)
    assert (stale.value.code, missing.value.code) == ("stale_timestamp", "missing_signature")
    assert reads == []
    assert runtime.inbox.rows == {}


async def test_unknown_connection_signed_garbage_big_records_and_a_down_inbox(
    runtime: FakeRuntime,
) -> None:
    receive = ReceiveWebhook(runtime)
    assert receive.connection("nobody") is None
    connection = receive.connection("default")
    assert connection is not None

    garbage = b'{"test":"data"}'
    with pytest.raises(PayloadError):
        await receive(connection, signed(garbage), reader(garbage)[1])

    runtime.max_record_bytes = 100
    body = body_of()
    with pytest.raises(RecordTooLarge):
        await receive(connection, signed(body), reader(body)[1])

    runtime.max_record_bytes = 1_000_000
    runtime.inbox.fail = InboxUnavailable("down")
    with pytest.raises(NotDurable):
        await receive(connection, signed(body), reader(body)[1])
    assert runtime.inbox.rows == {}
