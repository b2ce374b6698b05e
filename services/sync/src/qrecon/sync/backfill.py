"""``qonto-sync backfill``: history by ``settled_at`` windows, resumable, with progress.

Each (connection, bank account) gets a row in ``sync_backfills`` keyed by the requested
range; its state (window and keyset cursor) is checkpointed after every published page,
in the same PostgreSQL transaction as the record of what was published. Kill it, run the
same command again: it continues. An open-ended backfill (no ``--until``) freezes its end
when it starts; run again after it completed, it carries on from there to now.

One process at a time runs a given backfill (account and requested range): it holds the
lease ``backfill/<connection>/<account>/<since>/<until|open>`` while it runs, and every
page's checkpoint checks it. A second invocation of the same range waits for the lease
(the first one's progress is then its starting point, usually "already done"); when the
holder was killed, the lease expires ``SYNC_LEASE_TTL_SECONDS`` after its last renewal and
the waiting one resumes from the last checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from qrecon.common.db import create_pool
from qrecon.common.kafka import kafka_security, make_broker, security_options
from qrecon.common.logging import get_logger
from qrecon.common.qonto import QontoClient, RateLimiter, RetryPolicy
from qrecon.common.timeutil import utcnow
from qrecon.common.topic_admin import require_topics
from qrecon.sync.adapters import qonto as qonto_adapter
from qrecon.sync.adapters.leases import Fence, LeaseLost, LeaseStore, hold_lease
from qrecon.sync.adapters.publisher import EventSink, KafkaSink
from qrecon.sync.adapters.store import SyncStore, migrate
from qrecon.sync.core.backfill import Backfill, backfill_range
from qrecon.sync.core.leases import backfill_lease
from qrecon.sync.metrics import SyncMetrics
from qrecon.sync.pages import fetch_page, publish_page
from qrecon.sync.service import PRODUCER_TUNING
from qrecon.sync.settings import SyncSettings

log = get_logger(__name__)


@dataclass
class BackfillReport:
    connection_id: str
    bank_account_id: str
    since: datetime
    until: datetime
    pages: int = 0
    published: int = 0
    skipped: int = 0
    resumed: bool = False
    already_done: bool = False
    completed: bool = False
    waited_for: str | None = None  # the replica that held this backfill when it started
    lease_lost: bool = False


async def backfill_account(
    client: QontoClient,
    *,
    store: SyncStore,
    sink: EventSink,
    metrics: SyncMetrics,
    connection_id: str,
    bank_account_id: str,
    organization_id: str | None,
    since: date | datetime,
    until: date | datetime | None,
    settings: SyncSettings,
    stop: asyncio.Event | None = None,
    restart: bool = False,
    on_progress: Callable[[BackfillReport, Backfill], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
    fence: Fence | None = None,
) -> BackfillReport:
    """Backfill one account (resumable). With a ``fence`` (the backfill's lease), every
    checkpoint checks the lease; a lost lease ends it (``report.lease_lost``)."""
    now = clock()
    start, end, clamped = backfill_range(since, until, now)
    if clamped:
        log.warning("backfill_since_clamped", since=start.isoformat(), reason="Qonto's epoch")
    until_key = None if until is None else end
    row = await store.find_backfill(connection_id, bank_account_id, start, until_key)
    report = BackfillReport(connection_id, bank_account_id, start, end)
    if row is None:
        state = Backfill.begin(start, end, settings.backfill_window)
        row = await store.create_backfill(connection_id, bank_account_id, start, until_key, state)
    else:
        state = row.state
        report.resumed = not row.done
        if restart:
            state = Backfill.begin(start, end, settings.backfill_window)
            await store.reset_backfill(row.id, state)
        elif row.done and until is None and state.until < end:
            state = state.extended(end)  # open-ended: carry on to now
            await store.reset_backfill(row.id, state)
        elif row.done:
            report.already_done = True
            report.completed = True
            report.until = state.until
            return report
    report.until = state.until
    if on_progress:
        on_progress(report, state)
    while not state.done:
        if stop is not None and stop.is_set():
            return report
        page = await fetch_page(client, bank_account_id, state.sweep.request())
        after = state.advance(page.summary)
        result = await publish_page(
            page,
            store=store,
            sink=sink,
            metrics=metrics,
            connection_id=connection_id,
            organization_id=organization_id,
            source="backfill",
        )
        try:
            redundant = await store.commit_backfill_page(
                row.id,
                connection_id=connection_id,
                published=result.published,
                skipped=result.skipped,
                state=after,
                fence=fence,
            )
        except LeaseLost:
            log.warning("backfill_lease_lost", lease=fence.name if fence else None)
            report.lease_lost = True
            return report
        metrics.pages.labels(connection_id, "backfill").inc()
        metrics.redundant.labels("backfill").inc(redundant)
        state = after
        report.pages += 1
        report.published += len(result.published)
        report.skipped += result.skipped
        if on_progress:
            on_progress(report, state)
    report.completed = True
    return report


async def run_backfill(
    settings: SyncSettings,
    *,
    since: date,
    until: date | None,
    connection_id: str | None,
    restart: bool = False,
    console: Console | None = None,
    stop: asyncio.Event | None = None,
    retry: RetryPolicy | None = None,
    limiter: RateLimiter | None = None,
) -> list[BackfillReport]:
    """Backfill every account of the chosen connection(s), with a rich progress bar."""
    console = console or Console(stderr=True)
    metrics = SyncMetrics()
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=4)
    reports: list[BackfillReport] = []
    try:
        await migrate(pool)
        store = SyncStore(pool)
        leases = LeaseStore(pool)
        conns = [
            c
            for c in qonto_adapter.connections(settings)
            if connection_id is None or c.id == connection_id
        ]
        if not conns:
            raise SystemExit(
                f"no such connection: {connection_id!r}"
                if connection_id
                else "no connection configured (QONTO_* or SYNC_CONNECTIONS)"
            )
        token_store = await qonto_adapter.oauth_token_store(pool, settings, conns)
        limiter = limiter or qonto_adapter.make_limiter(settings)
        await require_topics(
            settings.kafka_bootstrap_servers,
            settings.required_topics(),
            **security_options(settings),
        )
        broker = make_broker(
            settings.kafka_bootstrap_servers,
            client_id="qonto-sync-backfill",
            security=kafka_security(settings),
            log_level=logging.DEBUG,
            **PRODUCER_TUNING,
        )
        await broker.start()
        sink = KafkaSink(broker, settings.topics)
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f}%"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as progress:
                for conn in conns:
                    client, _ = qonto_adapter.build_client(
                        settings,
                        conn.id,
                        limiter=limiter,
                        metrics=metrics,
                        token_store=token_store,
                        retry=retry,
                    )
                    async with client:
                        organization = await client.get_organization()
                        org_id = organization.get("id")
                        accounts = list(conn.bank_account_ids or []) or [
                            str(a["id"]) for a in qonto_adapter.bank_accounts_of(organization)
                        ]
                        for account_id in accounts:
                            task = progress.add_task(
                                f"{conn.id}/{account_id[:8]}", total=1000, detail=""
                            )
                            start, end, _ = backfill_range(since, until, utcnow())
                            name = backfill_lease(
                                conn.id, account_id, start, None if until is None else end
                            )
                            async with hold_lease(
                                leases,
                                name,
                                owner=settings.effective_replica_id,
                                ttl=settings.lease_ttl,
                                renew_every=settings.lease_renew_interval,
                                stop=stop,
                                on_wait=_waiting_callback(progress, task),
                            ) as held:
                                if held is None:  # stopped while another process ran it
                                    reports.append(BackfillReport(conn.id, account_id, start, end))
                                    continue
                                report = await backfill_account(
                                    client,
                                    store=store,
                                    sink=sink,
                                    metrics=metrics,
                                    connection_id=conn.id,
                                    bank_account_id=account_id,
                                    organization_id=str(org_id) if org_id else None,
                                    since=since,
                                    until=until,
                                    settings=settings,
                                    stop=held.halt,
                                    restart=restart,
                                    on_progress=_progress_callback(progress, task),
                                    fence=held.fence,
                                )
                                report.waited_for = held.waited_for
                                report.lease_lost = report.lease_lost or held.lost
                                reports.append(report)
        finally:
            await broker.stop()
    finally:
        await pool.close()
    return reports


def _waiting_callback(progress: Progress, task: TaskID) -> Callable[[str | None], None]:
    def update(owner: str | None) -> None:
        progress.update(task, detail=f"waiting: {owner or 'another process'} is running it")

    return update


def _progress_callback(
    progress: Progress, task: TaskID
) -> Callable[[BackfillReport, Backfill], None]:
    def update(report: BackfillReport, state: Backfill) -> None:
        progress.update(
            task,
            completed=round(state.progress * 1000),
            detail=(
                f"settled ≤ {state.covered_until:%Y-%m-%d} · {report.pages} pages · "
                f"{report.published} published · {report.skipped} already seen"
                + (" · resumed" if report.resumed else "")
            ),
        )

    return update
