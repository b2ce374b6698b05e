"""The PostgreSQL store: checkpoints, seen versions, redundancy accounting (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from qrecon.common.db import create_pool
from qrecon.sync.adapters.store import PublishedVersion, SyncStore, migrate
from qrecon.sync.app.ports import AccountState
from qrecon.sync.core.sweep import PageSummary, Sweep
from qrecon.sync.core.versions import ObservedVersion

T0 = datetime(2025, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SyncStore]:
    pool = await create_pool(database_url)
    try:
        assert await migrate(pool) == [
            "sync/0001_sync_state.sql",
            "sync/0002_sync_leases.sql",
            "sync/0003_status_watermarks.sql",
            "sync/0004_connection_revocations.sql",
            "sync/0005_invoice_watermarks.sql",
        ]
        assert await migrate(pool) == []  # idempotent
        yield SyncStore(pool)
    finally:
        await pool.close()


async def test_checkpoint_round_trip_and_watermark_on_completion(store: SyncStore) -> None:
    sweep = Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 50, status="pending")
    mid = sweep.advance(PageSummary(values=[T0 + timedelta(minutes=5)], has_next=True))
    v1 = PublishedVersion("a", T0, "e1", "poll")
    assert await store.commit_page("c", "acc", published=[v1], sweep=mid) == 0
    state = await store.load_account("c", "acc", "pending")
    assert state.watermark is None
    assert state.sweep == mid
    done = mid.advance(PageSummary(values=[], has_next=False))
    await store.commit_page("c", "acc", published=[], sweep=done)
    state = await store.load_account("c", "acc", "pending")
    assert state.watermark == T0 + timedelta(hours=1)
    assert state.sweep is None
    await store.record_error("c", "acc", "pending", "boom")
    assert (await store.load_account("c", "acc", "pending")).watermark == T0 + timedelta(hours=1)
    # Each status has its own checkpoint: the others have not started.
    assert await store.load_account("c", "acc", "completed") == AccountState(None, None)
    assert [r[2] for r in await store.list_accounts()] == ["pending"]


async def test_newest_version_wins_and_redundant_publishes_are_counted(store: SyncStore) -> None:
    later = T0 + timedelta(seconds=1)
    # The seen consumer recorded a webhook version of "a" while sync was publishing it.
    outcome = await store.record_observed([ObservedVersion("a", later, "wh-1", "webhook")])
    assert [kind for _, kind in outcome] == ["new"]
    sweep = Sweep.begin("updated_at", T0, T0 + timedelta(hours=1))
    published = [
        PublishedVersion("a", later, "poll-a", "poll"),  # same version: redundant
        PublishedVersion("b", T0, "poll-b", "poll"),
    ]
    assert await store.commit_page("c", "acc", published=published, sweep=sweep) == 1
    assert await store.known_versions(["a", "b", "zz"]) == {"a": later, "b": T0}
    outcome = await store.record_observed(
        [
            ObservedVersion("b", T0, "wh-2", "webhook"),  # sync delivered it first
            ObservedVersion("a", T0, "wh-0", "webhook"),  # an older, reordered webhook
            ObservedVersion("a", later, "wh-1", "webhook"),  # redelivered
        ]
    )
    assert [kind for _, kind in outcome] == ["duplicate", "stale", "same_event"]
    assert await store.known_versions(["a"]) == {"a": later}
