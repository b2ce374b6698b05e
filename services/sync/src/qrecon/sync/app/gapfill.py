"""The continuous gap-fill of one bank account: sweep, publish, checkpoint, sleep, repeat.

An account has one sweep per transaction status (``core.sweep.status_keys``: pending,
declined, completed, each with its own watermark and checkpoint, since Qonto answers a
multi-status request with one status only), or one sweep for every status at once with
``SYNC_STATUS_PER_REQUEST=false``. A cycle runs each status's sweep in turn.

For each status, every cycle resumes the sweep in progress (after a restart: exactly where the last
acknowledged page left it) or plans a new one from the watermark (``core.sweep``). Pages
are fetched one ahead (the next request is known as soon as a page is read, since the
keyset cursor depends only on it), so Qonto and Kafka/PostgreSQL work overlap; the
checkpoint of a page still waits for its own publish to be acknowledged.

Stop (SIGTERM) is honoured between pages: the page being published is finished and
checkpointed, a page being fetched is abandoned (nothing of it was published), and the
watermark never moves past what Kafka acknowledged.

Under a lease (``fence``, see ``qrecon.sync.app.ownership``) every checkpoint also checks, in
its own transaction, that this replica still owns the account; when it does not
(``LeaseLost``), nothing is written and the worker returns at once: the new owner resumes
from the last checkpoint (the page published meanwhile is published again, same event ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from qrecon.common.logging import get_logger
from qrecon.common.qonto.fairshare import Priority, request_priority
from qrecon.common.timeutil import utcnow
from qrecon.sync.app.pages import FetchedPage, fetch_page, publish_page
from qrecon.sync.app.ports import (
    AccountState,
    Clock,
    Fence,
    LeaseLost,
    Publisher,
    QontoApi,
    Store,
)
from qrecon.sync.core.revocation import is_catching_up
from qrecon.sync.core.sweep import (
    ALL_AT_ONCE,
    TRANSACTION_STATUSES,
    Sweep,
    SweepPlan,
    SweepUnstable,
    backoff_delay,
    jittered,
    lag_seconds,
    latest_covered,
)
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)

CycleOutcome = Literal["completed", "idle", "stopped"]


@dataclass
class AccountProgress:
    """What the lag gauge and the tests read (``watermark`` and ``covered_until``: the
    earliest over the account's statuses; ``by_status``: each status's own)."""

    watermark: datetime | None = None
    covered_until: datetime | None = None
    by_status: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)
    #: Cycles that completed the account's sweeps (every status's, one after the other):
    #: after the first one, the account is caught up to that cycle's end.
    sweeps_completed: int = 0
    pages: int = 0
    published: int = 0
    skipped: int = 0
    redundant: int = 0
    last_error: str | None = None
    lease_lost: int = 0
    running: bool = False  # a run_forever is under way (this replica owns the account)
    catching_up: bool = False  # the last page asked was far behind now (history)
    cycle_done: asyncio.Event = field(default_factory=asyncio.Event)


class AccountSync:
    """Gap-fill of one (connection, bank account)."""

    def __init__(
        self,
        *,
        client: QontoApi,
        store: Store,
        sink: Publisher,
        metrics: SyncMetrics,
        plan: SweepPlan,
        connection_id: str,
        bank_account_id: str,
        organization_id: str | None,
        per_page: int = 100,
        prefetch: bool = True,
        statuses: tuple[str, ...] = TRANSACTION_STATUSES,
        clock: Clock = utcnow,
        catch_up_after: float = 3600.0,
    ) -> None:
        if not statuses:
            raise ValueError("an account needs at least one status to poll")
        self.client = client
        self.store = store
        self.sink = sink
        self.metrics = metrics
        self.plan = plan
        self.connection_id = connection_id
        self.bank_account_id = bank_account_id
        self.organization_id = organization_id
        self.per_page = per_page
        self.prefetch = prefetch
        self.statuses = statuses
        self.clock = clock
        # A sweep whose cursor is further behind than this is catching up (a new
        # connection's history): its requests yield the shared budget to live gap-fills.
        self.catch_up_after = catch_up_after
        self.progress = AccountProgress()
        self._status = statuses[0]  # the status being swept (errors are recorded on it)
        self._log = log.bind(connection_id=connection_id, bank_account_id=bank_account_id)

    def update_lag(self) -> None:
        covered = latest_covered(self.progress.covered_until, self.progress.watermark)
        self.metrics.lag.labels(self.connection_id, self.bank_account_id).set(
            lag_seconds(covered, self.clock())
        )
        if self.progress.watermark is not None:
            self.metrics.watermark.labels(self.connection_id, self.bank_account_id).set(
                self.progress.watermark.timestamp()
            )

    async def _fetch(self, sweep: Sweep) -> FetchedPage:
        catching_up = is_catching_up(sweep.cursor, self.clock(), self.catch_up_after)
        self.progress.catching_up = catching_up
        with request_priority(Priority.CATCH_UP if catching_up else Priority.LIVE):
            return await fetch_page(self.client, self.bank_account_id, sweep.request())

    def _track(self, status: str, watermark: datetime | None, covered: datetime | None) -> None:
        """Record one status's progress; the account's is the earliest of its statuses."""
        self.progress.by_status[status] = (watermark, covered)
        known = [self.progress.by_status.get(s) for s in self.statuses]
        watermarks = [k[0] if k else None for k in known]
        covereds = [k[1] if k else None for k in known]
        self.progress.watermark = (
            None if any(w is None for w in watermarks) else min(w for w in watermarks if w)
        )
        self.progress.covered_until = (
            None if any(c is None for c in covereds) else min(c for c in covereds if c)
        )

    async def run_cycle(self, stop: asyncio.Event, fence: Fence | None = None) -> CycleOutcome:
        """Resume or start the sweep of each status and run it to its end (or until
        ``stop``): "completed" when one sweep completed, "idle" when none had anything to
        ask for.

        With a ``fence``, checkpoints are written only while the lease is held
        (``LeaseLost`` otherwise).
        """
        outcome: CycleOutcome = "idle"
        for status in self.statuses:
            if stop.is_set():
                return "stopped"
            self._status = status
            result = await self._run_status(status, stop, fence)
            if result == "stopped":
                return "stopped"
            if result == "completed":
                outcome = "completed"
        if outcome == "completed":
            self.progress.sweeps_completed += 1
        return outcome

    async def _load(self, status: str) -> AccountState:
        """The status's checkpoint; one never written starts from the other mode's
        watermark (``SYNC_STATUS_PER_REQUEST`` switched): a status from the single sweep's,
        the single sweep from the earliest status's. Everything below either was read."""
        state = await self.store.load_account(self.connection_id, self.bank_account_id, status)
        if state.watermark is not None or state.sweep is not None:
            return state
        others = TRANSACTION_STATUSES if status == ALL_AT_ONCE else (ALL_AT_ONCE,)
        marks = [
            (await self.store.load_account(self.connection_id, self.bank_account_id, o)).watermark
            for o in others
        ]
        known = [m for m in marks if m is not None]
        if not known or len(known) < len(marks):
            return state
        self._log.info("watermark_inherited", status=status, watermark=min(known).isoformat())
        return AccountState(min(known), None)

    async def _run_status(
        self, status: str, stop: asyncio.Event, fence: Fence | None
    ) -> CycleOutcome:
        state = await self._load(status)
        sweep = state.sweep
        if sweep is None:
            sweep = self.plan.next_sweep(state.watermark, self.clock(), status)
            if sweep is None:
                self._track(status, state.watermark, state.watermark)
                return "idle"
            if sweep.per_page != self.per_page:
                sweep = Sweep.begin(
                    sweep.field, sweep.start, sweep.end, self.per_page, status=status
                )
            self._log.debug(
                "sweep_started",
                status=status,
                start=sweep.start.isoformat(),
                end=sweep.end.isoformat(),
            )
        else:
            self._log.info(
                "sweep_resumed", status=status, cursor=sweep.cursor.isoformat(), page=sweep.page
            )
            sweep = replace(sweep, tie_restarts=0)  # a new attempt at an unstable tie group
        watermark = state.watermark
        self._track(status, watermark, sweep.covered_until)
        pending: asyncio.Task[FetchedPage] | None = asyncio.create_task(self._fetch(sweep))
        try:
            while True:
                assert pending is not None
                page = await _until_stopped(pending, stop)
                if page is None:
                    return "stopped"
                try:
                    after = sweep.advance(page.summary)
                except SweepUnstable:
                    self.metrics.sweeps.labels(self.connection_id, "unstable").inc()
                    raise
                pending = None
                if self.prefetch and not after.done and not stop.is_set():
                    pending = asyncio.create_task(self._fetch(after))
                result = await publish_page(
                    page,
                    store=self.store,
                    sink=self.sink,
                    metrics=self.metrics,
                    connection_id=self.connection_id,
                    organization_id=self.organization_id,
                    source="poll",
                )
                redundant = await self.store.commit_page(
                    self.connection_id,
                    self.bank_account_id,
                    published=result.published,
                    sweep=after,
                    fence=fence,
                )
                if redundant:
                    self.metrics.redundant.labels("poll").inc(redundant)
                    self.progress.redundant += redundant
                self.metrics.pages.labels(self.connection_id, "poll").inc()
                self.progress.pages += 1
                self.progress.published += len(result.published)
                self.progress.skipped += result.skipped
                sweep = after
                if sweep.done:
                    watermark = sweep.end
                self._track(status, watermark, sweep.covered_until)
                if sweep.done:
                    self.progress.catching_up = False  # up to now - settle delay
                    self.metrics.sweeps.labels(self.connection_id, "completed").inc()
                    self.update_lag()
                    self._log.info(
                        "sweep_completed",
                        status=status,
                        watermark=sweep.end.isoformat(),
                        pages=sweep.pages_read,
                    )
                    return "completed"
                self.update_lag()
                if stop.is_set():
                    return "stopped"
                if pending is None:
                    pending = asyncio.create_task(self._fetch(sweep))
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending

    async def run_forever(
        self,
        stop: asyncio.Event,
        *,
        interval: float,
        jitter: float,
        backoff_max: float,
        rng: random.Random | None = None,
        fence: Fence | None = None,
    ) -> None:
        """Cycles started every jittered ``interval`` (at once when a long catch-up took
        longer); failures back off, and never stop the other accounts or connections.
        Returns on ``stop``, or at once when the lease behind ``fence`` is lost."""
        rng = rng or random.Random()
        self.progress.running = True
        try:
            await self._run_forever(stop, interval, jitter, backoff_max, rng, fence)
        finally:
            self.progress.running = False

    async def _run_forever(
        self,
        stop: asyncio.Event,
        interval: float,
        jitter: float,
        backoff_max: float,
        rng: random.Random,
        fence: Fence | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not stop.is_set():
            started = loop.time()
            try:
                outcome = await self.run_cycle(stop, fence)
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                self.progress.lease_lost += 1
                self._log.warning("account_lease_lost", detail="another replica owns it now")
                return
            except Exception as exc:  # QontoError, SweepUnstable, Kafka, PostgreSQL...
                failures += 1
                kind = type(exc).__name__
                self.progress.last_error = f"{kind}: {exc}"
                self.metrics.errors.labels(self.connection_id, "poll", kind).inc()
                self._log.warning("sync_cycle_failed", error=kind, detail=str(exc)[:500])
                with contextlib.suppress(Exception):
                    await self.store.record_error(
                        self.connection_id, self.bank_account_id, self._status, f"{kind}: {exc}"
                    )
                delay = backoff_delay(failures, 1.0, backoff_max, rng.random())
                retry_after = getattr(exc, "retry_after", None)
                if isinstance(retry_after, int | float) and retry_after > delay:
                    delay = float(retry_after)
            else:
                failures = 0
                self.progress.last_error = None
                if outcome == "stopped":
                    break
                delay = max(0.0, jittered(interval, jitter, rng.random()) - (loop.time() - started))
            finally:
                self.progress.cycle_done.set()
            self.update_lag()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)


async def _until_stopped(
    task: asyncio.Task[FetchedPage], stop: asyncio.Event
) -> FetchedPage | None:
    """The task's result, or None (task cancelled) if ``stop`` is set first."""
    if stop.is_set():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return None
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None
