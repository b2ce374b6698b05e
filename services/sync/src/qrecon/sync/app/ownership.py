"""Sharing sync's work among replicas: each unit (an account's gap-fill, a connection's
invoices) runs on the one replica that holds its lease.

Every ``qonto-sync run`` replica wants every unit of its configuration and runs a
``LeaseManager``. Each round (``renew_every``, ``ttl / 3`` by default, and at once when a
new unit appears) it

1. heartbeats (``sync_replicas``) and renews every lease it holds in one statement; a
   lease not renewed (taken over) or not confirmed for ``ttl`` (PostgreSQL unreachable:
   it may have expired) is dropped and its worker halted;
2. reads who holds the units it wants, and decides with ``core.leases.plan_leases``
   which free ones to take (its fair share, plus any left free for two rounds) and
   whether to hand one over to a replica below its share;
3. takes them (one ``INSERT ... ON CONFLICT``, a fencing token each) and starts their
   workers with the ``Fence`` they must present at every checkpoint.

A worker stops on ``halt`` (service stop, lost lease, handover) at a page boundary; the
lease is then released, so another replica takes over at its next round. A replica that
dies releases nothing: its leases expire ``ttl`` after its last renewal, and the others
take them over at their next round — within ``ttl + 2 * renew_every`` (three rounds if
they disagree about the number of units). A new owner resumes from the last checkpoint.

The leases themselves are behind the ``Leases`` port (``adapters.leases`` in PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from qrecon.common.logging import get_logger
from qrecon.sync.app.ports import Fence, Leases
from qrecon.sync.core.leases import LeaseKey, parse_lease, plan_leases
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)

#: What runs while a lease is held: returns when ``halt`` is set (or the lease is lost).
Runner = Callable[[Fence, asyncio.Event], Awaitable[None]]


@dataclass
class Slot:
    """One unit of work this replica wants, owned or not."""

    name: str
    key: LeaseKey
    runner: Runner
    fence: Fence | None = None
    halt: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    confirmed_at: float = 0.0  # when the last confirmed renewal (or acquisition) was sent
    acquired_at: float = 0.0
    free_since: float | None = None
    sticky_until: float = 0.0
    holder: str | None = None  # who holds it, as last read
    lost: bool = False
    handing_over: bool = False

    @property
    def owned(self) -> bool:
        return self.fence is not None and not self.lost

    @property
    def busy(self) -> bool:
        """A worker is still running (possibly finishing a page after a loss)."""
        return self.task is not None and not self.task.done()


class LeaseManager:
    """Holds this replica's leases and runs the workers of the ones it owns."""

    def __init__(
        self,
        store: Leases,
        *,
        replica_id: str,
        ttl: float,
        renew_every: float,
        metrics: SyncMetrics,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.replica_id = replica_id
        self.ttl = ttl
        self.renew_every = renew_every
        self.metrics = metrics
        self.rng = rng or random.Random()
        self.slots: dict[str, Slot] = {}
        self.live_replicas = 0
        self.share = 0
        self.rounds = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._retired: list[Slot] = []  # given up, their workers possibly still finishing
        self._log = log.bind(replica_id=replica_id)
        self._loop_time = asyncio.get_running_loop().time

    # ------------------------------------------------------------ what is wanted

    def want(self, name: str, runner: Runner) -> None:
        """Ask for ``name`` (idempotent); its ``runner`` runs whenever it is owned here."""
        if name in self.slots:
            return
        key = parse_lease(name)
        self.slots[name] = Slot(name, key, runner)
        self._gauge(key, 0)
        self._wake.set()

    def unwant(self, name: str) -> None:
        """Give ``name`` up for good (a revoked connection): its worker halts at its next
        page boundary and releases the lease; it is never taken again by this replica."""
        slot = self.slots.pop(name, None)
        if slot is None:
            return
        slot.halt.set()
        self._retired.append(slot)
        self._wake.set()

    def owns(self, name: str) -> bool:
        slot = self.slots.get(name)
        return slot is not None and slot.owned

    @property
    def owned(self) -> list[str]:
        return sorted(name for name, slot in self.slots.items() if slot.owned)

    def holder(self, name: str) -> str | None:
        slot = self.slots.get(name)
        if slot is None:
            return None
        return self.replica_id if slot.owned else slot.holder

    def snapshot(self) -> dict[str, Any]:
        """For ``/readyz``."""
        return {
            "id": self.replica_id,
            "live_replicas": self.live_replicas,
            "fair_share": self.share,
            "owned": self.owned,
            "leases": {
                name: {"owner": self.holder(name), "owned": slot.owned}
                for name, slot in sorted(self.slots.items())
            },
            "last_error": self.last_error,
        }

    # ------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until ``stop``; then halts every worker, releases, leaves."""
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.round()
                    self.last_error = None
                except Exception as exc:  # PostgreSQL down: leases expire locally
                    self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                    self.metrics.errors.labels("-", "leases", type(exc).__name__).inc()
                    self._log.warning("lease_round_failed", error=self.last_error)
                waker = asyncio.create_task(self._wake.wait())
                stopper = asyncio.create_task(stop.wait())
                try:
                    await asyncio.wait(
                        {waker, stopper},
                        timeout=self.renew_every,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waker.cancel()
                    stopper.cancel()
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        for slot in [*self.slots.values(), *self._retired]:
            slot.halt.set()
        slots = [*self.slots.values(), *self._retired]
        tasks = [s.task for s in slots if s.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.store.leave(self.replica_id)

    async def round(self) -> None:
        now = self._loop_time()
        self.rounds += 1
        # 1. Leases not confirmed for ttl may have expired at PostgreSQL: stop using them.
        for slot in self.slots.values():
            if slot.owned and now - slot.confirmed_at > self.ttl:
                self._drop(slot, "expired")
        owned = [s for s in self.slots.values() if s.owned]
        sent = self._loop_time()
        replicas = await self.store.heartbeat(
            self.replica_id, self.ttl, owned=len(owned), wanted=len(self.slots)
        )
        renewed = await self.store.renew(
            self.replica_id, [s.fence for s in owned if s.fence is not None], self.ttl
        )
        for slot in owned:
            if slot.name in renewed:
                slot.confirmed_at = sent
            else:
                self._drop(slot, "lost")
        self.live_replicas = len({r.replica_id for r in replicas} | {self.replica_id})
        self.metrics.replicas_live.set(self.live_replicas)

        # 2. Who holds what; decide.
        holders = await self.store.holders(list(self.slots))
        now = self._loop_time()
        for name, slot in self.slots.items():
            holder = holders.get(name)
            slot.holder = holder.owner if holder is not None else None
            if slot.owned or slot.holder is not None:
                slot.free_since = None
            elif slot.free_since is None:
                slot.free_since = now
        free = [
            name
            for name, slot in self.slots.items()
            if slot.holder is None and not slot.owned and not slot.busy
        ]
        orphaned = [
            name
            for name in free
            if (since := self.slots[name].free_since) is not None
            and now - since >= 2 * self.renew_every
        ]
        releasable = [
            name
            for name, slot in self.slots.items()
            if slot.owned
            and not slot.handing_over
            and now - slot.acquired_at >= self.ttl
            and now >= slot.sticky_until
        ]
        plan = plan_leases(
            me=self.replica_id,
            wanted=list(self.slots),
            owned=[name for name, slot in self.slots.items() if slot.owned],
            free=free,
            orphaned=orphaned,
            releasable=releasable,
            replicas=replicas,
            rng=self.rng,
        )
        self.share = plan.share

        # 3. Take, start; hand over.
        if plan.acquire:
            sent = self._loop_time()
            taken = await self.store.acquire(plan.acquire, self.replica_id, self.ttl)
            for name, token in taken.items():
                slot = self.slots[name]
                rescued = name in orphaned and len(self.owned) >= plan.share
                self._start(slot, Fence(name, self.replica_id, token), sent, rescued=rescued)
        for name in plan.release:
            slot = self.slots[name]
            slot.handing_over = True
            slot.halt.set()
            self._log.info("lease_handover", lease=name, fair_share=plan.share)

    # ------------------------------------------------------------ workers

    def _start(self, slot: Slot, fence: Fence, sent: float, *, rescued: bool) -> None:
        slot.fence = fence
        slot.lost = False
        slot.handing_over = False
        slot.halt = asyncio.Event()
        slot.confirmed_at = sent
        slot.acquired_at = sent
        slot.free_since = None
        slot.holder = self.replica_id
        if rescued:  # taken beyond the fair share because nobody else did: keep it a while
            slot.sticky_until = sent + 10 * self.ttl
        slot.task = asyncio.create_task(self._drive(slot, fence, slot.halt))
        self._gauge(slot.key, 1)
        self.metrics.lease_changes.labels(slot.key.kind, slot.key.connection_id, "acquired").inc()
        self._log.info("lease_acquired", lease=slot.name, token=fence.token, rescued=rescued)

    async def _drive(self, slot: Slot, fence: Fence, halt: asyncio.Event) -> None:
        try:
            await slot.runner(fence, halt)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._log.error("lease_worker_failed", lease=slot.name, error=type(exc).__name__)
        finally:
            if slot.fence is fence:
                slot.fence = None
                slot.holder = None
                # Token-fenced: releases only if still ours (after "expired", it may be:
                # PostgreSQL was unreachable, nobody took it), so it is free again at once.
                released = False
                with contextlib.suppress(Exception):
                    released = await self.store.release(fence)
                if released:
                    self.metrics.lease_changes.labels(
                        slot.key.kind, slot.key.connection_id, "released"
                    ).inc()
                    self._log.info("lease_released", lease=slot.name, token=fence.token)
                self._gauge(slot.key, 0)
                self._wake.set()

    def _drop(self, slot: Slot, change: str) -> None:
        """The lease is gone (``lost``: taken over; ``expired``: not confirmed in time)."""
        slot.lost = True
        slot.holder = None
        slot.halt.set()
        self._gauge(slot.key, 0)
        self.metrics.lease_changes.labels(slot.key.kind, slot.key.connection_id, change).inc()
        self._log.warning("lease_dropped", lease=slot.name, change=change)

    def _gauge(self, key: LeaseKey, value: int) -> None:
        self.metrics.lease_owned.labels(key.kind, key.connection_id, key.bank_account_id or "").set(
            value
        )
