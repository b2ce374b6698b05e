"""Fixtures of the Qonto client's tests."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from qrecon.common.qonto.auth import ApiKeyAuth, Auth
from qrecon.common.qonto.client import QontoClient, RetryPolicy
from qrecon.common.qonto.ratelimit import RateLimiter

from .fakes import LOGIN, SECRET_KEY, FakeClock, FakeQonto

FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, max_total_delay=1.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeQonto:
    return FakeQonto(clock=clock)


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0)


MakeClient = Callable[..., QontoClient]


@pytest.fixture
async def make_client(
    fake: FakeQonto, clock: FakeClock, limiter: RateLimiter
) -> AsyncIterator[MakeClient]:
    """Clients on the fake Qonto; every wait goes through the fake clock (no real sleep)."""
    made: list[QontoClient] = []

    def make(auth: Auth | None = None, **kw: Any) -> QontoClient:
        kw.setdefault("retry", FAST_RETRY)
        kw.setdefault("limiter", limiter)
        kw.setdefault("rng", random.Random(7))
        kw.setdefault("sleep", clock.sleep)
        kw.setdefault("now", clock.wall)
        client = QontoClient(
            base_url="https://thirdparty.qonto.test",
            auth=auth or ApiKeyAuth(LOGIN, SecretStr(SECRET_KEY)),
            transport=fake.transport(),
            **kw,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
