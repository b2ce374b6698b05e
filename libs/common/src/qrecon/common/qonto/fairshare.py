"""One rate budget shared fairly: by priority first, then round-robin between lanes.

Qonto's rate limit is per IP address (``ratelimit``), so a deployment keeps **one** budget
whatever the number of organisations it serves. The plain ``RateLimiter`` hands slots out
in arrival order: a connection that queues a thousand requests (the first sweep of a new
organisation's history, a backfill) would make every other connection wait behind all of
them. ``FairRateLimiter`` keeps the same sliding windows but decides *who* gets the next
free slot:

1. **priority**: ``Priority.LIVE`` (a caught-up gap-fill, invoices, discovery) before
   ``Priority.CATCH_UP`` (a gap-fill far behind) before ``Priority.BACKFILL``; so that a
   lower class is slowed, never frozen, every ``lower_every``-th slot goes to the next
   lower class that is waiting;
2. **round-robin between lanes** within a class: each connection's client draws through
   its own lane (``limiter.lane(connection_id)``), and waiting lanes take turns, one slot
   each, however many requests each has queued.

A request's priority is the ``request_priority`` context in force when it is made (a
context variable: tasks created inside inherit it). When nobody waits and the budget has
room, a request goes at once (no queue, no task). Waiters are resolved by one pump task
per limiter, on the event loop of the waiters: use one ``FairRateLimiter`` per loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from enum import IntEnum

from qrecon.common.qonto.ratelimit import DEFAULT_LIMITS, Clock, RateLimiter, Sleep


class Priority(IntEnum):
    """Who goes first when the budget is short (lower value first)."""

    LIVE = 0
    CATCH_UP = 1
    BACKFILL = 2


_PRIORITY: ContextVar[Priority] = ContextVar("qonto_request_priority", default=Priority.LIVE)


@contextmanager
def request_priority(priority: Priority) -> Iterator[None]:
    """Requests made inside (and by tasks created inside) draw at ``priority``."""
    token = _PRIORITY.set(priority)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


def current_priority() -> Priority:
    return _PRIORITY.get()


class FairRateLimiter(RateLimiter):
    """``RateLimiter``'s windows, with slots granted by priority, then lane by lane."""

    def __init__(
        self,
        limits: Sequence[tuple[int, float]] = DEFAULT_LIMITS,
        clock: Clock = time.monotonic,
        *,
        sleep: Sleep = asyncio.sleep,
        margin: float = 0.05,
        lower_every: int = 10,
    ) -> None:
        super().__init__(limits, clock, sleep=sleep, margin=margin)
        if lower_every < 2:
            raise ValueError("lower_every must be at least 2")
        self.lower_every = lower_every
        # priority -> lane -> waiters (FIFO within a lane); rotation: lanes waiting, in turn
        self._waiters: dict[Priority, dict[str, deque[asyncio.Future[None]]]] = {
            p: {} for p in Priority
        }
        self._rotation: dict[Priority, deque[str]] = {p: deque() for p in Priority}
        self._pump: asyncio.Task[None] | None = None
        self._served_higher = 0  # consecutive slots given while a lower class waited
        self.granted: dict[str, int] = {}  # slots per lane (metrics, tests)

    @classmethod
    def unlimited(cls) -> FairRateLimiter:
        return cls(())

    def lane(self, name: str) -> RateLimiter:
        """The limiter one connection's client uses: same budget, its own turn."""
        return _Lane(self, name)

    # ------------------------------------------------------------ acquiring

    async def acquire(self) -> None:
        await self.acquire_for("-")

    async def acquire_for(self, lane: str, priority: Priority | None = None) -> None:
        """Wait for a slot as ``lane``, at ``priority`` (default: the current context's)."""
        level = current_priority() if priority is None else priority
        loop = asyncio.get_running_loop()
        if self._pump is not None and self._pump.get_loop() is not loop:
            self._forget_other_loop()
        if not self._has_waiters() and self.would_wait() <= 0:
            self.reserve()
            self._count(lane)
            return
        future: asyncio.Future[None] = loop.create_future()
        queue = self._waiters[level].setdefault(lane, deque())
        if not queue:
            self._rotation[level].append(lane)
        queue.append(future)
        started = self._clock()
        if self._pump is None or self._pump.done():
            self._pump = loop.create_task(self._run_pump())
        await future  # cancelled: the pump skips it
        self.waited_total += max(0.0, self._clock() - started)
        self._count(lane)

    def _forget_other_loop(self) -> None:
        """Used from another event loop than the waiters' (a loop that ended, in tests):
        those waiters can never run again; start afresh on this loop."""
        for level in Priority:
            self._waiters[level] = {}
            self._rotation[level] = deque()
        self._pump = None

    def _count(self, lane: str) -> None:
        self.granted[lane] = self.granted.get(lane, 0) + 1

    def _has_waiters(self) -> bool:
        return any(self._rotation[p] for p in Priority)

    def waiting(self) -> dict[str, int]:
        """Requests waiting, per lane (every class)."""
        counts: dict[str, int] = {}
        for lanes in self._waiters.values():
            for lane, queue in lanes.items():
                alive = sum(1 for f in queue if not f.done())
                if alive:
                    counts[lane] = counts.get(lane, 0) + alive
        return counts

    # ------------------------------------------------------------ granting

    async def _run_pump(self) -> None:
        while self._has_waiters():
            wait = self.would_wait()
            if wait > 0:
                await self._sleep(wait)
                continue
            future = self._next()
            if future is None:
                break
            self.reserve()
            future.set_result(None)

    def _classes_waiting(self) -> list[Priority]:
        return [p for p in Priority if self._rotation[p]]

    def _next(self) -> asyncio.Future[None] | None:
        """The next waiter by the policy (cancelled waiters are dropped on the way)."""
        while True:
            classes = self._classes_waiting()
            if not classes:
                return None
            level = classes[0]
            if len(classes) > 1:
                self._served_higher += 1
                if self._served_higher >= self.lower_every:
                    self._served_higher = 0
                    level = classes[1]
            else:
                self._served_higher = 0
            future = self._pop(level)
            if future is not None:
                return future

    def _pop(self, level: Priority) -> asyncio.Future[None] | None:
        rotation = self._rotation[level]
        lane = rotation.popleft()
        queue = self._waiters[level][lane]
        found: asyncio.Future[None] | None = None
        while queue and found is None:
            candidate = queue.popleft()
            if not candidate.done():
                found = candidate
        if any(not f.done() for f in queue):
            rotation.append(lane)  # its next request waits for the others' turn
        else:
            queue.clear()
        return found


class _Lane(RateLimiter):
    """A connection's view of a ``FairRateLimiter`` (what its transport holds)."""

    def __init__(self, parent: FairRateLimiter, name: str) -> None:
        super().__init__((), parent._clock, sleep=parent._sleep)
        self.parent = parent
        self.name = name

    @property
    def limits(self) -> tuple[tuple[int, float], ...]:
        return self.parent.limits

    async def acquire(self) -> None:
        started = self._clock()
        await self.parent.acquire_for(self.name)
        self.waited_total += max(0.0, self._clock() - started)
        self.acquired_total += 1

    def reserve(self) -> float:
        return self.parent.reserve()

    def penalise(self, seconds: float) -> None:
        self.parent.penalise(seconds)  # a 429 is the IP's: everyone holds back

    def would_wait(self) -> float:
        return self.parent.would_wait()

    def __repr__(self) -> str:
        return f"FairRateLimiter.lane({self.name!r}, limits={self.limits!r})"


__all__ = ["FairRateLimiter", "Priority", "current_priority", "request_priority"]
