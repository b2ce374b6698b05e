"""The gap-fill of one account (``app.gapfill``) on fakes of its ports: no server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from qrecon.sim.state import Simulator
from qrecon.sync.app.gapfill import AccountSync
from qrecon.sync.app.ports import Fence
from qrecon.sync.core.sweep import ALL_AT_ONCE, TRANSACTION_STATUSES, SweepPlan
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


def worker(
    api: FakeQontoApi,
    store: FakeStore,
    sink: FakePublisher,
    account: str,
    statuses: tuple[str, ...] = TRANSACTION_STATUSES,
) -> AccountSync:
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
        statuses=statuses,
        clock=lambda: NOW,
    )


async def test_a_sweep_publishes_every_version_once_then_moves_the_watermark() -> None:
    api, account = transactions(25)
    store, sink = FakeStore(), FakePublisher()
    sync = worker(api, store, sink, account)

    assert await sync.run_cycle(asyncio.Event()) == "completed"

    assert sorted(e.transaction.id for e in sink.transactions) == sorted(api.transactions)
    assert {e.source for e in sink.transactions} == {"poll"}
    for status in TRANSACTION_STATUSES:
        state = await store.load_account("c1", account, status)
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
    for status in TRANSACTION_STATUSES:
        assert (await store.load_account("c1", account, status)).watermark is None
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


def _pending_then_completed(api: FakeQontoApi, account: str) -> dict[str, Any]:
    """A pending card payment on ``account`` (updated 2 hours before NOW)."""
    raw: dict[str, Any] = {
        "id": "3f1c1d2e-0000-4000-8000-00000000c0de",
        "transaction_id": "card-payment-1",
        "amount": 12.5,
        "amount_cents": 1250,
        "local_amount": 12.5,
        "local_amount_cents": 1250,
        "currency": "EUR",
        "local_currency": "EUR",
        "side": "debit",
        "operation_type": "card",
        "status": "pending",
        "label": "Bistro",
        "settled_at": None,
        "emitted_at": "2025-03-01T10:00:00.000Z",
        "created_at": "2025-03-01T10:00:00.000Z",
        "updated_at": "2025-03-01T10:00:00.000Z",
        "bank_account_id": account,
    }
    api.add(raw)
    return raw


async def _pending_to_completed(statuses: tuple[str, ...], *, strict: bool) -> list[str]:
    """Poll, settle the pending payment, poll again: the statuses published for it."""
    api, account = FakeQontoApi(), "ba-1"
    api.strict = strict
    raw = _pending_then_completed(api, account)
    store, sink = FakeStore(), FakePublisher()
    first = worker(api, store, sink, account, statuses)
    assert await first.run_cycle(asyncio.Event()) == "completed"

    # The card payment settles: Qonto moves it to completed, with a new updated_at.
    raw.update(
        status="completed",
        settled_at="2025-03-01T12:30:00.000Z",
        updated_at="2025-03-01T12:30:00.000Z",
    )
    later = worker(api, store, sink, account, statuses)
    later.clock = lambda: NOW + timedelta(hours=1)
    await later.run_cycle(asyncio.Event())
    return [e.transaction.status for e in sink.transactions if e.transaction.id == raw["id"]]


async def test_per_status_polling_publishes_a_pending_payment_and_its_completion() -> None:
    assert await _pending_to_completed(TRANSACTION_STATUSES, strict=True) == [
        "pending",
        "completed",
    ]


async def test_a_single_multi_status_request_misses_the_completion_against_qonto() -> None:
    # Qonto (the strict fake) answers status[]=pending&status[]=declined&status[]=completed
    # with pending only: the completed version is never read.
    assert await _pending_to_completed((ALL_AT_ONCE,), strict=True) == ["pending"]
    # Only an API honouring every status (lenient) made the single request work.
    assert await _pending_to_completed((ALL_AT_ONCE,), strict=False) == [
        "pending",
        "completed",
    ]


async def test_each_status_has_its_own_request_and_watermark() -> None:
    api, account = transactions(3)
    store, sink = FakeStore(), FakePublisher()
    sync = worker(api, store, sink, account)

    assert await sync.run_cycle(asyncio.Event()) == "completed"

    assert api.status_requests == [("pending",), ("declined",), ("completed",)]
    assert set(sync.progress.by_status) == set(TRANSACTION_STATUSES)
    assert {key[2] for key in store.accounts} == set(TRANSACTION_STATUSES)
    assert sync.progress.watermark == NOW - PLAN.settle_delay


async def test_switching_the_mode_starts_from_the_other_modes_watermark() -> None:
    api, account = transactions(3)
    store, sink = FakeStore(), FakePublisher()
    legacy = worker(api, store, sink, account, (ALL_AT_ONCE,))
    legacy.clock = lambda: NOW - timedelta(hours=1)
    api.strict = False
    assert await legacy.run_cycle(asyncio.Event()) == "completed"
    single = (await store.load_account("c1", account, ALL_AT_ONCE)).watermark
    assert single is not None

    # Per status now: each status starts an overlap before the single sweep's watermark,
    # not from the initial watermark (no full re-read).
    api.strict = True
    api.status_requests.clear()
    api.lower_bounds.clear()
    per_status = worker(api, store, sink, account)
    assert await per_status.run_cycle(asyncio.Event()) == "completed"
    assert len(api.status_requests) == 3
    assert api.lower_bounds == [single - PLAN.overlap] * 3
    for status in TRANSACTION_STATUSES:
        assert (await store.load_account("c1", account, status)).watermark == (
            NOW - PLAN.settle_delay
        )
    assert len(sink.transactions) == 3  # nothing published twice


async def test_a_sweep_far_behind_now_draws_the_budget_as_catch_up_then_live() -> None:
    """Fair share: a first sweep through history (a new connection) asks at
    ``Priority.CATCH_UP``, yielding to live gap-fills; once caught up it asks at ``LIVE``."""
    from qrecon.common.qonto.fairshare import Priority, current_priority

    api, account = transactions(25)
    asked: list[Priority] = []
    get_page = api.get_page

    async def recording(*args: Any, **kwargs: Any) -> Any:
        asked.append(current_priority())
        return await get_page(*args, **kwargs)

    api.get_page = recording  # type: ignore[method-assign]
    store, sink = FakeStore(), FakePublisher()
    first = worker(api, store, sink, account, statuses=(ALL_AT_ONCE,))
    assert await first.run_cycle(asyncio.Event()) == "completed"
    assert asked[0] == Priority.CATCH_UP  # from PLAN.initial, two months behind NOW
    assert first.progress.catching_up is False  # the last page reached now
    asked.clear()
    later = worker(api, store, sink, account, statuses=(ALL_AT_ONCE,))
    later.clock = lambda: NOW + timedelta(minutes=1)
    assert await later.run_cycle(asyncio.Event()) == "completed"
    assert set(asked) == {Priority.LIVE}
