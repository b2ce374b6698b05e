"""The process-wide limiter: sliding windows, several at once, FIFO, penalties."""

from __future__ import annotations

import asyncio

import pytest

from qrecon.common.qonto.ratelimit import DEFAULT_LIMITS, RateLimiter

from .fakes import FakeClock


def sent_in_any_window(times: list[float], limit: int, period: float) -> int:
    """The most requests any window of ``period`` seconds saw (window (t - period, t])."""
    worst = 0
    for i, t in enumerate(times):
        count = sum(1 for u in times[: i + 1] if u > t - period)
        worst = max(worst, count)
    return worst


async def test_burst_up_to_limit_then_waits_for_the_window(clock: FakeClock) -> None:
    limiter = RateLimiter(((5, 10.0),), clock=clock, sleep=clock.sleep, margin=0.0)
    sent: list[float] = []
    for _ in range(12):
        await limiter.acquire()
        sent.append(clock())
    assert sent[:5] == [1000.0] * 5  # the burst is allowed at once
    assert sent[5:10] == [1010.0] * 5  # then one window later
    assert sent[10:] == [1020.0] * 2
    assert sent_in_any_window(sent, 5, 10.0) == 5


async def test_several_windows_at_once(clock: FakeClock) -> None:
    # 3 per second and 5 per 10 s: the long window binds after the fifth request.
    limiter = RateLimiter(((3, 1.0), (5, 10.0)), clock=clock, sleep=clock.sleep, margin=0.0)
    sent: list[float] = []
    for _ in range(11):
        await limiter.acquire()
        sent.append(clock() - 1000.0)
    assert sent == [0, 0, 0, 1, 1, 10, 10, 10, 11, 11, 20]
    assert sent_in_any_window(sent, 3, 1.0) <= 3
    assert sent_in_any_window(sent, 5, 10.0) <= 5


async def test_concurrent_waiters_never_exceed_the_limit_and_are_fifo(clock: FakeClock) -> None:
    limiter = RateLimiter(((10, 1.0), (25, 10.0)), clock=clock, sleep=clock.sleep, margin=0.0)
    order: list[int] = []
    waits: list[float] = []

    async def one(i: int) -> None:
        wait = limiter.reserve()  # what acquire() does, minus the sleep
        waits.append(1000.0 + wait + (clock() - 1000.0))
        order.append(i)

    await asyncio.gather(*(one(i) for i in range(60)))
    assert order == list(range(60))
    assert waits == sorted(waits)  # slots handed out in arrival order
    assert sent_in_any_window(waits, 10, 1.0) <= 10
    assert sent_in_any_window(waits, 25, 10.0) <= 25


async def test_penalise_holds_everyone_back(clock: FakeClock) -> None:
    limiter = RateLimiter(((100, 10.0),), clock=clock, sleep=clock.sleep, margin=0.0)
    await limiter.acquire()
    limiter.penalise(7.5)
    assert limiter.would_wait() == pytest.approx(7.5)
    await limiter.acquire()
    assert clock() == pytest.approx(1007.5)
    limiter.penalise(2.0)
    limiter.penalise(1.0)  # a shorter penalty does not shorten the longer one
    assert limiter.would_wait() == pytest.approx(2.0)


async def test_margin_and_old_requests_leave_the_window(clock: FakeClock) -> None:
    limiter = RateLimiter(((2, 10.0),), clock=clock, sleep=clock.sleep, margin=0.25)
    await limiter.acquire()
    await limiter.acquire()
    assert limiter.would_wait() == pytest.approx(10.25)
    clock.advance(60)
    assert limiter.would_wait() == 0.0
    await limiter.acquire()
    assert clock.sleeps == []


def test_defaults_and_process_default_is_shared() -> None:
    assert DEFAULT_LIMITS == ((1000, 10.0), (10000, 600.0))
    assert RateLimiter().limits == DEFAULT_LIMITS
    previous = RateLimiter._process_default
    try:
        RateLimiter.set_process_default(None)
        first = RateLimiter.process_default()
        assert RateLimiter.process_default() is first
        assert first.limits == DEFAULT_LIMITS
        custom = RateLimiter(((250, 10.0),))
        RateLimiter.set_process_default(custom)
        assert RateLimiter.process_default() is custom
    finally:
        RateLimiter.set_process_default(previous)


async def test_unlimited_never_waits(clock: FakeClock) -> None:
    limiter = RateLimiter.unlimited()
    for _ in range(10_000):
        assert limiter.reserve() == 0.0


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        RateLimiter(((0, 10.0),))
    with pytest.raises(ValueError):
        RateLimiter(((10, 0.0),))


def test_limits_from_a_setting() -> None:
    assert RateLimiter.parse_limits("1000/10s, 10000/10m") == DEFAULT_LIMITS
    assert RateLimiter.parse_limits("250/10,1/1h") == ((250, 10.0), (1, 3600.0))
    assert RateLimiter.from_spec("5/2.5s").limits == ((5, 2.5),)
    for bad in ("", "10", "x/10s", "10/", "10/xs"):
        with pytest.raises(ValueError):
            RateLimiter.parse_limits(bad)
