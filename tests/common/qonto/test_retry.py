"""Retries: exponential backoff with full jitter, Retry-After, bounds, idempotency keys."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from qrecon.common.qonto.client import IDEMPOTENCY_HEADER, RetryPolicy, parse_retry_after
from qrecon.common.qonto.errors import (
    QontoRateLimited,
    QontoServerError,
    QontoTransportError,
)
from qrecon.common.qonto.ratelimit import RateLimiter

from .conftest import MakeClient
from .fakes import FakeClock, FakeQonto, json_response, qonto_error, tx


def test_full_jitter_bounds() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    rng = random.Random(1)
    assert [policy.backoff_cap(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 8, 8]
    for n in range(1, 10):
        samples = [policy.backoff(n, rng) for _ in range(2000)]
        cap = policy.backoff_cap(n)
        assert all(0.0 <= s <= cap for s in samples)
        # Full jitter: spread over the whole [0, cap] range, not clustered near cap.
        assert min(samples) < 0.05 * cap
        assert max(samples) > 0.95 * cap
        assert abs(sum(samples) / len(samples) - cap / 2) < 0.05 * cap
    assert policy.backoff_cap(10_000) == 8.0  # no overflow


def test_parse_retry_after() -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=42), usegmt=True), now=now)
        == 42.0
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=42), usegmt=True), now=now) == 0.0
    )
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None


async def test_5xx_then_success_with_jittered_backoff(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    fake.transactions = [tx(1)]
    fake.script.extend([qonto_error(500), qonto_error(502), qonto_error(503)])
    policy = RetryPolicy(max_attempts=5, base_delay=0.1, max_delay=0.25, max_total_delay=5)
    client = make_client(retry=policy)
    page = await client.list_transactions()
    assert [t.id for t in page.items] == [tx(1)["id"]]
    assert len(fake.requests) == 4
    assert len(clock.sleeps) == 3
    for n, delay in enumerate(clock.sleeps, start=1):
        assert 0 <= delay <= policy.backoff_cap(n)
    assert client.stats == {"requests": 4, "retries": 3, "rate_limited": 0}


async def test_gives_up_after_max_attempts(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    fake.script.extend([qonto_error(503)] * 10)
    with pytest.raises(QontoServerError) as info:
        await make_client(retry=RetryPolicy(max_attempts=3, base_delay=0.01)).get_organization()
    assert info.value.status == 503
    assert info.value.trace_id == "trace-503"
    assert len(fake.requests) == 3
    assert len(clock.sleeps) == 2


async def test_gives_up_when_total_delay_would_exceed_budget(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    fake.script.extend([qonto_error(500, **{"Retry-After": "2"})] * 10)
    policy = RetryPolicy(max_attempts=100, max_total_delay=5.0)
    with pytest.raises(QontoServerError):
        await make_client(retry=policy).get_organization()
    assert clock.sleeps == [2.0, 2.0]  # a third 2 s wait would pass the 5 s budget
    assert sum(clock.sleeps) <= policy.max_total_delay


async def test_429_honours_retry_after_seconds_and_penalises_the_limiter(
    fake: FakeQonto, clock: FakeClock, limiter: RateLimiter, make_client: MakeClient
) -> None:
    fake.script.append(qonto_error(429, "too_many_requests", **{"Retry-After": "3"}))
    seen_by_others: list[float] = []

    async def sleep(seconds: float) -> None:
        # While this request waits, any other request of the process would wait too.
        seen_by_others.append(limiter.would_wait())
        await clock.sleep(seconds)

    client = make_client(retry=RetryPolicy(max_attempts=3, max_total_delay=10), sleep=sleep)
    start = clock()
    org = await client.get_organization()
    assert org["id"] == "org-1"
    assert clock() - start == pytest.approx(3.0)
    assert seen_by_others == [pytest.approx(3.0)]
    assert client.stats["rate_limited"] == 1


async def test_429_without_retry_after_backs_off_and_penalises(
    fake: FakeQonto, clock: FakeClock, limiter: RateLimiter, make_client: MakeClient
) -> None:
    fake.script.extend([qonto_error(429), qonto_error(429)])
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=4.0, max_total_delay=10)
    penalties: list[float] = []

    async def sleep(seconds: float) -> None:
        penalties.append(limiter.would_wait())
        await clock.sleep(seconds)

    await make_client(retry=policy, sleep=sleep).get_organization()
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 1.0
    assert 0 <= clock.sleeps[1] <= 2.0
    assert penalties == [pytest.approx(d) for d in clock.sleeps]


async def test_429_with_http_date_retry_after(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = clock.wall() + timedelta(seconds=30)
    fake.script.append(qonto_error(429, **{"Retry-After": format_datetime(when, usegmt=True)}))
    await make_client(retry=RetryPolicy(max_total_delay=60)).get_organization()
    assert clock.sleeps == [30.0]


async def test_429_beyond_budget_raises_with_retry_after(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    fake.script.append(qonto_error(429, **{"Retry-After": "600"}))
    with pytest.raises(QontoRateLimited) as info:
        await make_client(retry=RetryPolicy(max_total_delay=60)).get_organization()
    assert info.value.retry_after == 600.0
    assert clock.sleeps == []


async def test_transport_errors_and_timeouts_are_retried(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    fake.script.extend([refuse, slow])
    org = await make_client().get_organization()
    assert org["id"] == "org-1"
    assert len(clock.sleeps) == 2

    fake.script.extend([refuse] * 10)
    with pytest.raises(QontoTransportError):
        await make_client(retry=RetryPolicy(max_attempts=2, base_delay=0)).get_organization()


async def test_write_reuses_one_idempotency_key_across_retries(
    fake: FakeQonto, make_client: MakeClient
) -> None:
    fake.script.extend([qonto_error(500), qonto_error(429)])
    client = make_client()
    sub = await client.create_webhook_subscription(
        "https://example.test/hook", ["v1/transactions"], description="d"
    )
    assert sub["id"] == "sub-1"
    assert sub["types"] == ["v1/transactions"]
    keys = [r.headers.get(IDEMPOTENCY_HEADER) for r in fake.requests]
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert keys[0] is not None
    import uuid

    assert uuid.UUID(keys[0]).version == 4
    # A second logical write gets a new key; an explicit key is sent as given.
    await client.create_webhook_subscription("https://example.test/hook", ["v1/transactions"])
    await client.create_webhook_subscription(
        "https://example.test/hook", ["v1/transactions"], idempotency_key="my-key"
    )
    later = [r.headers.get(IDEMPOTENCY_HEADER) for r in fake.requests[3:]]
    assert later[0] not in keys
    assert later[1] == "my-key"
    # Reads carry none.
    await client.get_organization()
    assert IDEMPOTENCY_HEADER.lower() not in fake.requests[-1].headers


async def test_4xx_is_not_retried(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    fake.script.append(json_response(400, {"errors": [{"code": "bad"}]}))
    with pytest.raises(Exception, match="400"):
        await make_client().get_organization()
    assert clock.sleeps == []
    assert len(fake.requests) == 1
