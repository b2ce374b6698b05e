"""Leases against the real PostgreSQL: exclusive, expiring, fenced checkpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from qrecon.common.db import create_pool
from qrecon.sync.adapters.leases import Fence, LeaseLost, LeaseStore, assert_held
from qrecon.sync.adapters.store import PublishedVersion, SyncStore, migrate
from qrecon.sync.app.hold_lease import hold_lease
from qrecon.sync.core.leases import gapfill_lease
from qrecon.sync.core.sweep import PageSummary, Sweep

NAME = gapfill_lease("default", "acc-1")
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SWEEP = Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 100)


def read_up_to(version: PublishedVersion) -> Sweep:
    """The sweep's checkpoint after a page ending with ``version``."""
    return SWEEP.advance(PageSummary(values=[version.updated_at], has_next=True))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=6)
    try:
        await migrate(pool)
        yield pool
    finally:
        await pool.close()


async def expire(pool: asyncpg.Pool, name: str) -> None:
    """What ttl seconds without renewal do (a dead owner), without waiting for it."""
    await pool.execute(
        "UPDATE sync_leases SET expires_at = clock_timestamp() - interval '1 ms' WHERE name = $1",
        name,
    )


async def test_one_owner_at_a_time_and_a_new_token_at_every_takeover(
    pool: asyncpg.Pool,
) -> None:
    leases = LeaseStore(pool)
    assert await leases.acquire([NAME], "a", 30) == {NAME: 1}
    assert await leases.acquire([NAME], "b", 30) == {}
    assert await leases.acquire([NAME], "a", 30) == {}  # not even its own: no re-entry
    assert await leases.renew("a", [Fence(NAME, "a", 1)], 30) == {NAME}
    holder = (await leases.holders([NAME, "gapfill/x/never"]))[NAME]
    assert (holder.owner, holder.token) == ("a", 1)
    assert (await leases.holders(["gapfill/x/never"]))["gapfill/x/never"].owner is None

    await expire(pool, NAME)  # a stopped renewing (killed, paused, partitioned)
    assert (await leases.holders([NAME]))[NAME].owner is None
    assert await leases.acquire([NAME], "b", 30) == {NAME: 2}
    assert await leases.renew("a", [Fence(NAME, "a", 1)], 30) == set()  # a learns it lost it
    assert not await leases.release(Fence(NAME, "a", 1))  # and cannot release b's

    assert await leases.release(Fence(NAME, "b", 2))
    assert await leases.acquire([NAME], "a", 30) == {NAME: 3}  # released: free at once


async def test_a_stale_owner_cannot_checkpoint_after_a_takeover(pool: asyncpg.Pool) -> None:
    leases, store = LeaseStore(pool), SyncStore(pool)
    old = Fence(NAME, "a", (await leases.acquire([NAME], "a", 30))[NAME])
    first = PublishedVersion("tx-1", T0 + timedelta(minutes=1), "ev-1", "poll")
    await store.commit_page(
        "default", "acc-1", published=[first], sweep=read_up_to(first), fence=old
    )

    await expire(pool, NAME)
    new = Fence(NAME, "b", (await leases.acquire([NAME], "b", 30))[NAME])
    later = PublishedVersion("tx-2", T0 + timedelta(minutes=30), "ev-2", "poll")
    await store.commit_page(
        "default", "acc-1", published=[later], sweep=read_up_to(later), fence=new
    )

    stale = PublishedVersion("tx-3", T0 + timedelta(minutes=2), "ev-3", "poll")
    with pytest.raises(LeaseLost):
        await store.commit_page(
            "default", "acc-1", published=[stale], sweep=read_up_to(stale), fence=old
        )
    state = await store.load_account("default", "acc-1", "all")
    assert state.sweep is not None
    assert state.sweep.cursor == later.updated_at  # b's checkpoint stands
    assert set(await store.known_versions(["tx-1", "tx-2", "tx-3"])) == {"tx-1", "tx-2"}


async def test_a_checkpoint_in_progress_holds_off_the_takeover(pool: asyncpg.Pool) -> None:
    """The fence check locks the lease row: a takeover waits for the checkpoint's commit,
    so the new owner always reads the old owner's last checkpoint."""
    leases = LeaseStore(pool)
    old = Fence(NAME, "a", (await leases.acquire([NAME], "a", 2.0))[NAME])
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await assert_held(conn, old)
        # The lease expires while the checkpoint is being written (a slow commit).
        for _ in range(600):
            if (await leases.holders([NAME]))[NAME].owner is None:
                break
            await asyncio.sleep(0.1)
        takeover = asyncio.create_task(leases.acquire([NAME], "b", 30))
        await asyncio.sleep(0.5)
        assert not takeover.done()  # waiting for the row lock
        await conn.execute(
            "INSERT INTO sync_watermarks (connection_id, bank_account_id, status, watermark)"
            " VALUES ('default', 'acc-1', 'completed', $1)",
            T0,
        )
        await transaction.commit()
    assert await asyncio.wait_for(takeover, 30) == {NAME: 2}
    with pytest.raises(LeaseLost):
        async with pool.acquire() as conn, conn.transaction():
            await assert_held(conn, old)


async def test_hold_lease_waits_for_a_dead_holder_then_notices_a_takeover(
    pool: asyncpg.Pool,
) -> None:
    leases = LeaseStore(pool)
    await leases.acquire([NAME], "ghost", 1.0)  # a holder that will never renew
    waits: list[str | None] = []
    async with hold_lease(
        leases, NAME, owner="me", ttl=30, renew_every=0.2, on_wait=waits.append
    ) as held:
        assert held is not None
        assert held.waited_for == "ghost"
        assert waits
        assert waits[0] == "ghost"
        assert held.fence.token == 2
        assert not held.halt.is_set()
        await expire(pool, NAME)
        assert await leases.acquire([NAME], "thief", 30) == {NAME: 3}
        await asyncio.wait_for(held.halt.wait(), 30)  # the next renewal finds out
        assert held.lost
    assert (await leases.holders([NAME]))[NAME].owner == "thief"  # not released by "me"

    stop = asyncio.Event()
    stop.set()
    async with hold_lease(leases, NAME, owner="me", ttl=30, renew_every=0.2, stop=stop) as none:
        assert none is None  # stopped while waiting


async def test_heartbeats_count_live_replicas(pool: asyncpg.Pool) -> None:
    leases = LeaseStore(pool)
    await leases.heartbeat("a", 30, owned=2, wanted=4)
    live = await leases.heartbeat("b", 30, owned=1, wanted=4)
    assert sorted((r.replica_id, r.owned, r.wanted) for r in live) == [
        ("a", 2, 4),
        ("b", 1, 4),
    ]
    await leases.leave("a")
    assert [r.replica_id for r in await leases.heartbeat("b", 30, owned=1, wanted=4)] == ["b"]
