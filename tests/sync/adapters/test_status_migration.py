"""Upgrading a live sync database to one watermark per transaction status (0003).

A database of the previous schema holds one row per (connection, account): a completed
watermark, and a sweep in progress paging a tie group. After the migration each status
(pending, declined, completed) starts from that watermark and that sweep's keyset cursor
(back on page 1: an offset in a tie group of every status means nothing for one status),
the old row stays as status ``all`` (the single request of SYNC_STATUS_PER_REQUEST=false),
and the store reads and writes each status apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from qrecon.common.db import apply_migrations
from qrecon.sync.adapters.store import SyncStore, migrations, sweep_to_json
from qrecon.sync.core.sweep import TRANSACTION_STATUSES, PageSummary, Sweep

pytestmark = pytest.mark.integration

T0 = datetime(2025, 5, 1, 10, 0, tzinfo=UTC)


async def test_existing_watermarks_and_sweeps_carry_over_to_each_status(
    pool: asyncpg.Pool,
) -> None:
    steps = migrations()
    assert steps[2].name == "0003_status_watermarks.sql"
    before, rest = steps[:2], steps[2:]
    # A sweep of the previous schema (no status in its JSON) inside a tie group, page 3.
    tied = Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 10)
    tied = tied.advance(PageSummary(values=[T0 + timedelta(minutes=5)] * 10, has_next=True))
    tied = tied.advance(PageSummary([tied.cursor] * 10, has_next=True, total_count=40))
    tied = tied.advance(PageSummary([tied.cursor] * 10, has_next=True, total_count=40))
    assert tied.page == 3
    legacy_json = sweep_to_json(tied)
    del legacy_json["status"]
    async with pool.acquire() as conn:
        await apply_migrations(conn, before)
        await conn.execute(
            "INSERT INTO sync_watermarks (connection_id, bank_account_id, watermark, last_error)"
            " VALUES ('c', 'done', $1, 'old error')",
            T0,
        )
        await conn.execute(
            "INSERT INTO sync_watermarks (connection_id, bank_account_id, watermark, sweep)"
            " VALUES ('c', 'busy', $1, $2)",
            T0 - timedelta(days=1),
            legacy_json,
        )
        assert await apply_migrations(conn, rest) == [f"sync/{m.name}" for m in rest]

    store = SyncStore(pool)
    rows = await store.list_accounts()
    assert sorted((r[1], r[2]) for r in rows) == sorted(
        (account, status)
        for account in ("busy", "done")
        for status in ("all", *TRANSACTION_STATUSES)
    )
    for status in TRANSACTION_STATUSES:
        done = await store.load_account("c", "done", status)
        assert done.watermark == T0
        assert done.sweep is None
        busy = await store.load_account("c", "busy", status)
        assert busy.watermark == T0 - timedelta(days=1)
        assert busy.sweep is not None
        assert busy.sweep.status == status
        assert busy.sweep.cursor == tied.cursor
        assert (busy.sweep.start, busy.sweep.end) == (tied.start, tied.end)
        assert (busy.sweep.page, busy.sweep.tie_total) == (1, None)
        assert busy.sweep.request().statuses == (status,)
    # The old row, untouched, is the single multi-status sweep's.
    legacy = await store.load_account("c", "busy", "all")
    assert legacy.sweep == tied

    # Each status now moves on its own.
    assert busy.sweep is not None
    finished = busy.sweep.advance(PageSummary(values=[], has_next=False))
    await store.commit_page("c", "busy", published=[], sweep=finished)
    assert (await store.load_account("c", "busy", "completed")).watermark == tied.end
    assert (await store.load_account("c", "busy", "pending")).sweep is not None

    # A row written without a status is refused: the key has no default any more.
    with pytest.raises(asyncpg.NotNullViolationError):
        await pool.execute(
            "INSERT INTO sync_watermarks (connection_id, bank_account_id) VALUES ('c', 'x')"
        )
