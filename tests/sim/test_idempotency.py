"""``X-Qonto-Idempotency-Key`` on the emulator's writes, and answers lost after processing.

Over real HTTP (the emulator on loopback). Webhook subscriptions are the write at hand:
the API keys get the ``webhook`` scope here so that plain ``login:secret`` headers do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from qrecon.sim.idempotency import IDEMPOTENCY_HEADER, REPLAY_HEADER
from qrecon.sim.state import API_KEY_SCOPES, Simulator
from qrecon.sim.testing import EmulatorHandle, run_emulator

PATH = "/v2/webhook_subscriptions"


@pytest.fixture
def writer() -> Iterator[EmulatorHandle]:
    sim = Simulator()
    sim.api_key_scopes = frozenset({*API_KEY_SCOPES, "webhook"})
    with run_emulator(sim) as handle:
        yield handle


@pytest.fixture
def http(writer: EmulatorHandle) -> Iterator[httpx.Client]:
    with writer.client(timeout=10.0) as client:
        yield client


def subscribe(
    http: httpx.Client, key: str | None, callback: str = "https://hooks.example.test/a", **kw: Any
) -> httpx.Response:
    headers = {IDEMPOTENCY_HEADER: key} if key is not None else {}
    body = {"callback_url": callback, "types": ["v1/transactions"], **kw}
    return http.post(PATH, json=body, headers=headers)


def count(writer: EmulatorHandle) -> int:
    return len(writer.sim.webhook_subscriptions())


def test_the_first_answer_is_replayed_even_for_another_body(
    writer: EmulatorHandle, http: httpx.Client
) -> None:
    key = str(uuid.uuid4())
    first = subscribe(http, key, "https://hooks.example.test/first")
    again = subscribe(http, key.upper(), "https://hooks.example.test/second", description="x")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content  # byte for byte, secret included
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers[REPLAY_HEADER] == "true"
    assert REPLAY_HEADER not in first.headers
    assert count(writer) == 1
    assert writer.sim.webhook_subscriptions()[0]["callback_url"].endswith("/first")
    # Another key, or none, is another write.
    assert subscribe(http, str(uuid.uuid4())).status_code == 201
    assert subscribe(http, None).status_code == 201
    assert subscribe(http, None).status_code == 201
    assert count(writer) == 4


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_a_malformed_key_is_refused_with_a_qonto_error_and_nothing_written(
    writer: EmulatorHandle, http: httpx.Client, key: str
) -> None:
    answer = subscribe(http, key)
    assert answer.status_code == 422
    body = answer.json()
    assert set(body) == {"errors", "trace_id"}
    (error,) = body["errors"]
    assert error["code"] == "unprocessable_entity"
    assert "255 printable characters" in error["detail"]
    assert error["source"] == {"parameter": IDEMPOTENCY_HEADER}
    assert count(writer) == 0


@pytest.mark.parametrize("key", ["order-2026-0042", "5b0f3f3e2d0c4d5c9a3e2b7f9c1d0e11"])
def test_any_key_is_taken_not_only_a_uuid(
    writer: EmulatorHandle, http: httpx.Client, key: str
) -> None:
    """Qonto [doc]: any unique string is a key (a UUID v4 is only recommended)."""
    first = subscribe(http, key)
    assert first.status_code == 201
    again = subscribe(http, key)
    assert again.headers[REPLAY_HEADER] == "true"
    assert again.json() == first.json()
    assert count(writer) == 1


def test_only_a_successful_answer_is_kept(writer: EmulatorHandle, http: httpx.Client) -> None:
    key = str(uuid.uuid4())
    refused = subscribe(http, key, "http://not-https.example.test/h")
    assert refused.status_code == 422
    created = subscribe(http, key)  # the corrected retry is processed
    assert created.status_code == 201
    assert REPLAY_HEADER not in created.headers
    assert subscribe(http, key).json() == created.json()
    assert count(writer) == 1


def test_keys_belong_to_one_organization(writer: EmulatorHandle, http: httpx.Client) -> None:
    sim = writer.sim
    sim.add_organization(slug="beta-sas", secret_key="sk_beta_secret")
    key = str(uuid.uuid4())
    mine = subscribe(http, key)
    with httpx.Client(
        base_url=writer.base_url, headers={"Authorization": "beta-sas:sk_beta_secret"}
    ) as beta:
        theirs = subscribe(beta, key)
    assert mine.status_code == theirs.status_code == 201
    assert REPLAY_HEADER not in theirs.headers
    assert theirs.json() != mine.json()
    assert count(writer) == 2


def test_answers_expire_after_30_minutes_of_the_simulator_clock(
    writer: EmulatorHandle, http: httpx.Client
) -> None:
    clock = writer.sim.clock
    clock.freeze()
    key = str(uuid.uuid4())
    first = subscribe(http, key)
    clock.advance(29 * 60)
    assert subscribe(http, key).headers.get(REPLAY_HEADER) == "true"
    clock.advance(61)
    later = subscribe(http, key)
    assert later.status_code == 201
    assert REPLAY_HEADER not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert count(writer) == 2


def test_deletes_are_idempotent_and_a_key_is_not_reused_across_requests(
    writer: EmulatorHandle, http: httpx.Client
) -> None:
    created = subscribe(http, None).json()
    key = {IDEMPOTENCY_HEADER: str(uuid.uuid4())}
    gone = http.delete(f"{PATH}/{created['id']}", headers=key)
    assert gone.status_code == 204
    again = http.delete(f"{PATH}/{created['id']}", headers=key)
    assert again.status_code == 204  # replayed, where a new delete answers 404
    assert again.headers[REPLAY_HEADER] == "true"
    assert http.delete(f"{PATH}/{created['id']}").status_code == 404
    reused = subscribe(http, key[IDEMPOTENCY_HEADER])
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert count(writer) == 0


async def test_the_same_key_twice_at_once_writes_once(writer: EmulatorHandle) -> None:
    writer.sim.set_faults(slow_ms=50)
    key = {IDEMPOTENCY_HEADER: str(uuid.uuid4())}
    body = {"callback_url": "https://hooks.example.test/a", "types": ["v1/transactions"]}
    async with httpx.AsyncClient(
        base_url=writer.base_url, headers=writer.headers(), timeout=10.0
    ) as http:
        answers = await asyncio.gather(*(http.post(PATH, json=body, headers=key) for _ in range(5)))
    assert [a.status_code for a in answers] == [201] * 5
    assert len({a.content for a in answers}) == 1
    assert sum(REPLAY_HEADER in a.headers for a in answers) == 4
    assert count(writer) == 1


def test_a_lost_answer_was_processed_and_the_retry_gets_it(
    writer: EmulatorHandle, http: httpx.Client
) -> None:
    writer.sim.set_faults(lose_answers=1)
    key = str(uuid.uuid4())
    with pytest.raises(httpx.RemoteProtocolError):
        subscribe(http, key)
    assert writer.sim.faults.lose_answers == 0
    assert count(writer) == 1  # processed: the write happened, its answer did not arrive
    retry = subscribe(http, key)
    assert retry.status_code == 201
    assert retry.headers[REPLAY_HEADER] == "true"
    assert retry.json()["id"] == writer.sim.webhook_subscriptions()[0]["id"]
    assert count(writer) == 1
    # Without a key, the same accident writes twice.
    writer.sim.set_faults(lose_answers=1)
    with pytest.raises(httpx.RemoteProtocolError):
        subscribe(http, None)
    assert subscribe(http, None).status_code == 201
    assert count(writer) == 3


def test_lost_answers_at_random_and_a_reset_forgets_the_keys(
    writer: EmulatorHandle, http: httpx.Client
) -> None:
    writer.sim.set_faults(lost_answer_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/v2/organization")
    writer.sim.set_faults(lost_answer_rate=0.0)
    key = str(uuid.uuid4())
    assert subscribe(http, key).status_code == 201
    assert writer.sim.status()["idempotency_keys"] == 1
    writer.sim.reset(keep_credentials=True)
    assert writer.sim.status()["idempotency_keys"] == 0
    with pytest.raises(ValueError, match="lost_answer_rate"):
        writer.sim.set_faults(lost_answer_rate=2.0)
