"""The gap-fill of one account (``app.gapfill``) on fakes of its ports: no server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from qrecon.sim.state import Simulator
from qrecon.sync.app.gapfill import AccountSync
from qrecon.sync.app.ports import Fence
from qrecon.sync.core.sweep import SweepPlan
from qrecon.sync.metrics import SyncMetrics

from ..fakes import FakePublisher, FakeQontoApi, FakeStore
from ..helpers import wait_for

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
PLAN = SweepPlan(
    overlap=timedelta(minutes=10),
    settle_delay=timedelta(seconds=5),
    initial=datetime(2025, 1, 1, tzinfo=UTC),
)


def transactions(n: int) -> tuple[FakeQontoApi, str]:
    sim = Simulator(seed=3)
    api = FakeQontoApi()
    account = ""
    for i in range(n):
        raw: dict[str, Any] = sim.add_transaction(
            amount_cents=100 + i, side="debit", notify=False, at=NOW - timedelta(days=20, hours=i)
        )
        account = raw["bank_account_id"]
        api.add(raw)
    return api, account


def worker(api: FakeQontoApi, store: FakeStore, sink: FakePublisher, account: str) -> AccountSync:
    return AccountSync(
        client=api,
        store=store,
        sink=sink,
        metrics=SyncMetrics(),
        plan=PLAN,
        connection_id="c1",
        bank_account_id=account,
        organization_id="org-1",
        per_page=10,
        clock=lambda: NOW,
    )


async def test_a_sweep_publishes_every_version_once_then_moves_the_watermark() -> None:
    api, account = transactions(25)
    store, sink = FakeStore(), FakePublisher()
    sync = worker(api, store, sink, account)

    assert await sync.run_cycle(asyncio.Event()) == "completed"

    assert sorted(e.transaction.id for e in sink.transactions) == sorted(api.transactions)
    assert {e.source for e in sink.transactions} == {"poll"}
    state = await store.load_account("c1", account)
    assert state.watermark == NOW - PLAN.settle_delay
    assert state.sweep is None
    assert sync.progress.published == 25

    # The next sweep reads the overlap again: nothing new, nothing published.
    later = worker(api, store, sink, account)
    later.clock = lambda: NOW + timedelta(minutes=1)
    assert await later.run_cycle(asyncio.Event()) == "completed"
    assert len(sink.transactions) == 25


async def test_a_lost_lease_stops_the_worker_without_moving_its_checkpoint() -> None:
    api, account = transactions(5)
    store, sink = FakeStore(lease_lost=True), FakePublisher()
    sync = worker(api, store, sink, account)

    await asyncio.wait_for(
        sync.run_forever(
            asyncio.Event(),
            interval=60,
            jitter=0,
            backoff_max=1,
            fence=Fence("gapfill/c1/" + account, "me", 1),
        ),
        timeout=5,
    )

    assert sync.progress.lease_lost == 1
    assert (await store.load_account("c1", account)).watermark is None
    assert not sync.progress.running


async def test_a_failing_api_is_recorded_and_retried_not_fatal() -> None:
    api, account = transactions(3)
    api.fail = RuntimeError("qonto down")
    store, sink = FakeStore(), FakePublisher()
    sync = worker(api, store, sink, account)
    stop = asyncio.Event()

    task = asyncio.create_task(sync.run_forever(stop, interval=60, jitter=0, backoff_max=0.05))
    await asyncio.wait_for(sync.progress.cycle_done.wait(), timeout=5)
    assert sync.progress.last_error == "RuntimeError: qonto down"
    assert store.errors == ["RuntimeError: qonto down"]

    api.fail = None
    await wait_for(lambda: sync.progress.sweeps_completed > 0, limit=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(sink.transactions) == 3
    assert sync.progress.last_error is None
