"""Holding one lease for the length of a piece of work (a ``qonto-sync backfill`` of one
account and range): wait until it is free, take it, keep it renewed, release it.

The lease's ``halt`` is set when a renewal finds it taken over, when renewals kept failing
for ``ttl`` (PostgreSQL unreachable: it may have expired), or on ``stop``; every
checkpoint of the work presents ``held.fence`` (``LeaseLost`` once another process owns it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from qrecon.common.logging import get_logger
from qrecon.sync.app.ports import Fence, Leases

log = get_logger(__name__)


@dataclass
class HeldLease:
    """A lease held by ``hold_lease``; ``halt`` is set when it is lost or on ``stop``."""

    fence: Fence
    halt: asyncio.Event = field(default_factory=asyncio.Event)
    lost: bool = False
    waited_for: str | None = None  # the other owner this one waited for, if any


@contextlib.asynccontextmanager
async def hold_lease(
    store: Leases,
    name: str,
    *,
    owner: str,
    ttl: float,
    renew_every: float,
    stop: asyncio.Event | None = None,
    on_wait: Callable[[str | None], None] | None = None,
) -> AsyncIterator[HeldLease | None]:
    """Wait until ``name`` is free, take it, keep it renewed, release it on exit.

    Yields None when ``stop`` is set before the lease could be taken. While held, the
    lease's ``halt`` is set if a renewal finds it taken over, or if renewals kept failing
    for ``ttl`` (it may have expired), or when ``stop`` is set.
    """
    loop = asyncio.get_running_loop()
    waited_for: str | None = None
    while True:
        if stop is not None and stop.is_set():
            yield None
            return
        sent = loop.time()
        taken = await store.acquire([name], owner, ttl)
        if name in taken:
            break
        holder = (await store.holders([name])).get(name)
        waited_for = holder.owner if holder is not None else None
        if on_wait is not None:
            on_wait(waited_for)
        log.info("lease_busy", lease=name, owner=waited_for)
        await _sleep_or_stop(stop, renew_every)
    held = HeldLease(Fence(name, owner, taken[name]), waited_for=waited_for)
    log.info("lease_acquired", lease=name, token=held.fence.token)

    async def keep() -> None:
        confirmed = sent
        while not held.halt.is_set():
            await _sleep_or_stop(held.halt, renew_every)
            if held.halt.is_set():
                return
            attempt = loop.time()
            try:
                renewed = await store.renew(owner, [held.fence], ttl)
            except Exception as exc:  # PostgreSQL unreachable: retry until ttl is spent
                log.warning("lease_renewal_failed", lease=name, error=type(exc).__name__)
                if loop.time() - confirmed > ttl:
                    held.lost = True
                    held.halt.set()
                continue
            if name not in renewed:
                held.lost = True
                held.halt.set()
                log.warning("lease_lost", lease=name)
                return
            confirmed = attempt

    async def forward_stop() -> None:
        assert stop is not None
        await stop.wait()
        held.halt.set()

    keeper = asyncio.create_task(keep())
    stopper = asyncio.create_task(forward_stop()) if stop is not None else None
    try:
        yield held
    finally:
        for task in (keeper, stopper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if not held.lost:
            with contextlib.suppress(Exception):
                await store.release(held.fence)
                log.info("lease_released", lease=name)


async def _sleep_or_stop(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
