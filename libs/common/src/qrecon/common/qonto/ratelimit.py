"""A client-side limiter for Qonto's per-IP rate limits.

Qonto allows 1,000 requests per 10 s and 10,000 per 10 min **per IP address**
(docs.qonto.com/get-started/general/rate-limitations); over that it answers 429. Every
client and every connection of a process must therefore draw from one budget:
``RateLimiter.process_default()`` is that shared instance, and ``QontoClient`` uses it
unless told otherwise.

Each window is a sliding log of the instants at which requests were (or will be) sent.
``acquire`` *reserves* the earliest instant that keeps every window within its limit and
sleeps until then, so waiters are served in arrival order and never wake up together to
fight for one slot. ``penalise`` (after a 429 / ``Retry-After``) moves every future slot
past the penalty. The limiter holds no asyncio primitive, so one instance serves any
number of tasks and event loops in the process (not threads: use one per thread).

Several processes behind one IP share Qonto's limit: give each a fraction of it
(``RateLimiter(((250, 10.0), (2500, 600.0)))`` for four replicas).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

DEFAULT_LIMITS: tuple[tuple[int, float], ...] = ((1000, 10.0), (10000, 600.0))

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class _Window:
    __slots__ = ("limit", "margin", "period", "sent")

    def __init__(self, limit: int, period: float, margin: float = 0.0) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(f"a rate limit needs limit >= 1 and period > 0, got {limit}/{period}")
        self.limit = limit
        self.period = period
        self.margin = margin
        self.sent: deque[float] = deque()

    def earliest(self, now: float) -> float:
        """The earliest instant >= now at which one more request fits."""
        sent = self.sent
        while sent and sent[0] <= now - self.period:
            sent.popleft()
        if len(sent) < self.limit:
            return now
        # The limit-th most recent request must have left the window.
        return sent[-self.limit] + self.period + self.margin


class RateLimiter:
    """Async limiter over several sliding windows at once (FIFO, reservation based)."""

    _process_default: RateLimiter | None = None

    def __init__(
        self,
        limits: Sequence[tuple[int, float]] = DEFAULT_LIMITS,
        clock: Clock = time.monotonic,
        *,
        sleep: Sleep = asyncio.sleep,
        margin: float = 0.05,
    ) -> None:
        # ``margin``: extra seconds a slot waits beyond the window, so that network jitter
        # cannot make Qonto see one request too many in its own window.
        self._windows = [_Window(int(limit), float(period), margin) for limit, period in limits]
        self._clock = clock
        self._sleep = sleep
        self._last = float("-inf")  # the latest instant reserved so far
        self._penalty_until = float("-inf")
        self.waited_total = 0.0  # seconds callers spent waiting (for metrics)
        self.acquired_total = 0

    @property
    def limits(self) -> tuple[tuple[int, float], ...]:
        return tuple((w.limit, w.period) for w in self._windows)

    @staticmethod
    def parse_limits(spec: str) -> tuple[tuple[int, float], ...]:
        """``"1000/10s,10000/10m"`` -> ``((1000, 10.0), (10000, 600.0))`` (units s, m, h;
        seconds when none), for a setting such as ``QONTO_RATE_LIMITS``."""
        units = {"s": 1.0, "m": 60.0, "h": 3600.0}
        limits: list[tuple[int, float]] = []
        for part in spec.replace(" ", "").split(","):
            if not part:
                continue
            count, sep, period = part.partition("/")
            if not sep or not count or not period:
                raise ValueError(f"a rate limit is <count>/<period>, got {part!r}")
            factor = units.get(period[-1].lower())
            seconds = float(period[:-1]) * factor if factor else float(period)
            limits.append((int(count), seconds))
        if not limits:
            raise ValueError("no rate limit in an empty specification")
        return tuple(limits)

    @classmethod
    def from_spec(cls, spec: str, **kw: Any) -> RateLimiter:
        return cls(cls.parse_limits(spec), **kw)

    @classmethod
    def unlimited(cls) -> RateLimiter:
        """A limiter that never waits (benchmarks, tests against a local emulator)."""
        return cls(())

    @classmethod
    def process_default(cls) -> RateLimiter:
        """The per-process instance every client shares by default (Qonto's limits)."""
        if RateLimiter._process_default is None:
            RateLimiter._process_default = RateLimiter()
        return RateLimiter._process_default

    @classmethod
    def set_process_default(cls, limiter: RateLimiter | None) -> None:
        """Replace the shared instance (e.g. a fraction of the limit per replica)."""
        RateLimiter._process_default = limiter

    def reserve(self) -> float:
        """Reserve the next slot; returns how long the caller must wait before sending."""
        now = self._clock()
        at = max(now, self._penalty_until, self._last)
        for window in self._windows:
            at = max(at, window.earliest(now))
        for window in self._windows:
            window.sent.append(at)
        self._last = at
        self.acquired_total += 1
        return at - now

    async def acquire(self) -> None:
        """Wait until one more request may be sent, and count it as sent."""
        wait = self.reserve()
        if wait > 0:
            self.waited_total += wait
            await self._sleep(wait)

    def penalise(self, seconds: float) -> None:
        """After a 429: nobody sends before ``seconds`` from now."""
        if seconds > 0:
            self._penalty_until = max(self._penalty_until, self._clock() + seconds)

    def would_wait(self) -> float:
        """How long a request made now would wait (without reserving anything)."""
        now = self._clock()
        at = max(now, self._penalty_until, self._last)
        for window in self._windows:
            at = max(at, window.earliest(now))
        return at - now

    def __repr__(self) -> str:
        return f"RateLimiter(limits={self.limits!r})"


__all__ = ["DEFAULT_LIMITS", "RateLimiter"]
