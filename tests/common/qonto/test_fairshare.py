"""Fair share of the one per-IP budget: one organisation's history cannot starve another's
live gap-fill (priority first, then round-robin between connections). Fake clock: time
moves only when the limiter sleeps."""

from __future__ import annotations

import asyncio

from qrecon.common.qonto.fairshare import FairRateLimiter, Priority, request_priority

from .fakes import FakeClock
from .test_ratelimit import sent_in_any_window


def limiter_at(clock: FakeClock, per_second: int = 10, **kw: int) -> FairRateLimiter:
    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        await asyncio.sleep(0)  # as a real sleep does: the other tasks run meanwhile

    return FairRateLimiter(((per_second, 1.0),), clock=clock, sleep=sleep, margin=0.0, **kw)


async def test_a_backfill_queue_does_not_delay_another_connections_gap_fill(
    clock: FakeClock,
) -> None:
    limiter = limiter_at(clock)
    grants: list[tuple[str, float]] = []
    reserved: list[float] = []
    reserve = limiter.reserve

    def logged() -> float:
        wait = reserve()
        reserved.append(clock() + wait)
        return wait

    limiter.reserve = logged  # type: ignore[method-assign]

    async def request(lane: str, priority: Priority) -> None:
        with request_priority(priority):
            await limiter.lane(lane).acquire()
        grants.append((lane, clock()))

    # Organisation A starts a long catch-up: 200 requests queued at once.
    backfill = [asyncio.create_task(request("org-a", Priority.CATCH_UP)) for _ in range(200)]
    await asyncio.sleep(0)
    # Organisation B's regular gap-fill arrives behind them.
    live = [asyncio.create_task(request("org-b", Priority.LIVE)) for _ in range(5)]
    await asyncio.gather(*backfill, *live)

    b_times = [t for lane, t in grants if lane == "org-b"]
    a_times = [t for lane, t in grants if lane == "org-a"]
    assert len(b_times) == 5
    assert len(a_times) == 200
    # B is served at the first free slots once it waits (the first windows went to A's
    # burst), not after A's 20 s of queue.
    assert max(b_times) <= 1002.0
    assert max(a_times) == 1020.0  # A loses nothing, it only waited its turn
    assert sent_in_any_window(reserved, 10, 1.0) <= 10  # the one budget still holds
    assert limiter.granted == {"org-a": 200, "org-b": 5}


async def test_connections_of_one_class_take_turns(clock: FakeClock) -> None:
    limiter = limiter_at(clock, per_second=1)
    order: list[str] = []

    async def request(lane: str) -> None:
        await limiter.lane(lane).acquire()
        order.append(lane)

    first = [asyncio.create_task(request("a")) for _ in range(6)]
    await asyncio.sleep(0)
    second = [asyncio.create_task(request("b")) for _ in range(3)]
    await asyncio.gather(*first, *second)
    # "a" arrived first with 6 queued: after its first slot, one each, in turn.
    assert order == ["a", "a", "b", "a", "b", "a", "b", "a", "a"]


async def test_a_lower_class_is_slowed_never_frozen(clock: FakeClock) -> None:
    limiter = limiter_at(clock, per_second=1, lower_every=4)
    order: list[str] = []

    async def request(lane: str, priority: Priority) -> None:
        with request_priority(priority):
            await limiter.lane(lane).acquire()
        order.append(lane)

    limiter.reserve()  # the slot of this second is taken: everyone below queues
    tasks = [asyncio.create_task(request("backfill", Priority.BACKFILL)) for _ in range(3)]
    tasks += [asyncio.create_task(request("live", Priority.LIVE)) for _ in range(8)]
    await asyncio.gather(*tasks)
    # Every 4th slot goes to the waiting lower class while the higher one is busy.
    assert order[:8] == ["live", "live", "live", "backfill", "live", "live", "live", "backfill"]
    assert sorted(order) == ["backfill"] * 3 + ["live"] * 8


async def test_a_cancelled_waiter_gives_its_turn_away(clock: FakeClock) -> None:
    limiter = limiter_at(clock, per_second=1)
    limiter.reserve()
    order: list[str] = []

    async def request(lane: str) -> None:
        await limiter.lane(lane).acquire()
        order.append(lane)

    gone = asyncio.create_task(request("gone"))
    stays = asyncio.create_task(request("stays"))
    await asyncio.sleep(0)
    gone.cancel()
    await stays
    assert order == ["stays"]
    assert limiter.waiting() == {}


async def test_a_429_penalty_holds_every_lane(clock: FakeClock) -> None:
    limiter = limiter_at(clock, per_second=100)
    limiter.lane("a").penalise(30.0)
    await limiter.lane("b").acquire()
    assert clock() == 1030.0


async def test_nobody_waiting_and_room_left_goes_at_once(clock: FakeClock) -> None:
    limiter = limiter_at(clock)
    for _ in range(10):
        await limiter.lane("a").acquire()
    assert clock() == 1000.0
    assert limiter.waited_total == 0.0


def test_a_limiter_left_by_an_ended_event_loop_serves_the_next_one() -> None:
    clock = FakeClock()
    limiter = limiter_at(clock, per_second=1)

    async def strand() -> None:
        limiter.reserve()
        waiter = asyncio.create_task(limiter.lane("a").acquire())
        await asyncio.sleep(0)
        waiter.cancel()  # the loop ends with the pump still waiting

    async def use() -> float:
        await limiter.lane("b").acquire()
        return clock()

    asyncio.run(strand())
    assert asyncio.run(use()) >= 1001.0
