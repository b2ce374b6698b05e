"""A write whose answer is lost is retried with the same ``X-Qonto-Idempotency-Key``, and
Qonto (here the emulator, over real HTTP) replays the first answer: one subscription.

Two ways of losing the answer after the request reached the server: the emulator's
``lose_answers`` fault (it processes the request, then closes the connection before the
body), and a transport that receives the answer and raises a read error instead of
returning it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from qrecon.common.qonto.auth import ApiKeyAuth
from qrecon.common.qonto.client import IDEMPOTENCY_HEADER, QontoClient, RetryPolicy
from qrecon.common.qonto.ratelimit import RateLimiter
from qrecon.sim.idempotency import REPLAY_HEADER
from qrecon.sim.state import API_KEY_SCOPES, Simulator
from qrecon.sim.testing import EmulatorHandle, arun_emulator

FAST = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.1, max_total_delay=5.0)
CALLBACK = "https://hooks.example.test/qonto"


class LosingTransport(httpx.AsyncHTTPTransport):
    """Real HTTP; the answers of the first ``lose`` writes reach us and are dropped."""

    def __init__(self, lose: int = 0) -> None:
        super().__init__()
        self.lose = lose
        self.sent: list[httpx.Request] = []
        self.answers: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = await super().handle_async_request(request)
        await response.aread()
        self.answers.append((request, response))
        if request.method == "POST" and self.lose > 0:
            self.lose -= 1
            raise httpx.ReadError("connection reset while reading the answer", request=request)
        return response


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorHandle]:
    sim = Simulator()
    sim.api_key_scopes = frozenset({*API_KEY_SCOPES, "webhook"})  # writes with the API key
    async with arun_emulator(sim) as handle:
        yield handle


def client_for(emulator: EmulatorHandle, transport: httpx.AsyncBaseTransport) -> QontoClient:
    return QontoClient(
        base_url=emulator.base_url,
        auth=ApiKeyAuth(emulator.login, SecretStr(emulator.secret_key)),
        limiter=RateLimiter.unlimited(),
        retry=FAST,
        transport=transport,
    )


async def test_an_answer_lost_by_the_server_is_retried_and_replayed(
    emulator: EmulatorHandle,
) -> None:
    emulator.sim.set_faults(lose_answers=1)  # processed, then the connection closes
    transport = LosingTransport()
    async with client_for(emulator, transport) as client:
        subscription = await client.create_webhook_subscription(CALLBACK, ["v1/transactions"])
        assert client.stats["retries"] == 1

    stored = emulator.sim.webhook_subscriptions(with_secret=True)
    assert len(stored) == 1, "the retried write created a second subscription"
    assert subscription["id"] == stored[0]["id"]
    assert subscription["secret"] == stored[0]["secret"]
    posts = [r for r in transport.sent if r.method == "POST"]
    assert len(posts) == 2
    keys = {r.headers[IDEMPOTENCY_HEADER] for r in posts}
    assert len(keys) == 1
    assert uuid.UUID(keys.pop()).version == 4
    assert transport.answers[-1][1].headers[REPLAY_HEADER] == "true"


async def test_an_answer_lost_on_the_way_back_is_retried_and_replayed(
    emulator: EmulatorHandle,
) -> None:
    transport = LosingTransport(lose=2)  # two answers in a row never reach the caller
    async with client_for(emulator, transport) as client:
        subscription = await client.create_webhook_subscription(
            CALLBACK, ["v1/transactions"], description="qrecon"
        )
        assert client.stats["retries"] == 2
        assert [s["id"] for s in await client.list_webhook_subscriptions()] == [subscription["id"]]

    posted = [response for request, response in transport.answers if request.method == "POST"]
    assert [a.status_code for a in posted] == [201] * 3
    assert [REPLAY_HEADER in a.headers for a in posted] == [False, True, True]
    assert len(emulator.sim.webhook_subscriptions()) == 1
    # Each logical write has its own key: a second subscription is a second one.
    async with client_for(emulator, LosingTransport()) as client:
        await client.create_webhook_subscription(CALLBACK, ["v1/transactions"])
    assert len(emulator.sim.webhook_subscriptions()) == 2
