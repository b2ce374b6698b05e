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
from collections.abc import Callable
from datetime import date, datetime

from qrecon.common.logging import get_logger
from qrecon.common.qonto.fairshare import Priority, request_priority
from qrecon.common.timeutil import utcnow
from qrecon.sync.app.accounts import discover_bank_accounts
from qrecon.sync.app.hold_lease import hold_lease
from qrecon.sync.app.pages import fetch_page, publish_page
from qrecon.sync.app.ports import (
    BackfillProgress,
    BackfillReport,
    BackfillSettings,
    Clock,
    Connection,
    Fence,
    LeaseLost,
    Leases,
    Publisher,
    QontoApi,
    Store,
)
from qrecon.sync.core.backfill import Backfill, backfill_range, backfill_statuses
from qrecon.sync.core.leases import backfill_lease
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)

__all__ = ["BackfillReport", "backfill_account", "backfill_connection"]


async def backfill_account(
    client: QontoApi,
    *,
    store: Store,
    sink: Publisher,
    metrics: SyncMetrics,
    connection_id: str,
    bank_account_id: str,
    organization_id: str | None,
    since: date | datetime,
    until: date | datetime | None,
    settings: BackfillSettings,
    stop: asyncio.Event | None = None,
    restart: bool = False,
    on_progress: Callable[[BackfillReport, Backfill], None] | None = None,
    clock: Clock = utcnow,
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
    statuses = backfill_statuses(settings.status_per_request)
    if row is None:
        state = Backfill.begin(start, end, settings.backfill_window, statuses)
        row = await store.create_backfill(connection_id, bank_account_id, start, until_key, state)
    else:
        state = row.state
        report.resumed = not row.done
        if restart:
            state = Backfill.begin(start, end, settings.backfill_window, statuses)
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


async def backfill_connection(
    client: QontoApi,
    connection: Connection,
    *,
    store: Store,
    sink: Publisher,
    leases: Leases,
    metrics: SyncMetrics,
    since: date,
    until: date | None,
    settings: BackfillSettings,
    progress: BackfillProgress,
    restart: bool = False,
    stop: asyncio.Event | None = None,
    clock: Clock = utcnow,
) -> list[BackfillReport]:
    """Backfill every account of one connection, one after the other, each under its lease
    (waiting for another process that runs the same backfill). Its requests draw from the
    shared rate budget at ``Priority.BACKFILL``: behind every live gap-fill. An open range
    (``until`` None) ends at ``clock()``."""
    with request_priority(Priority.BACKFILL):
        organization = await client.get_organization()
        org_id = organization.get("id") or connection.organization_id
        accounts = list(connection.bank_account_ids or []) or await discover_bank_accounts(
            client, organization
        )
        if not accounts:
            log.warning("backfill_no_bank_account", connection_id=connection.id)
        reports: list[BackfillReport] = []
        for account_id in accounts:
            tracker = progress.track(f"{connection.id}/{account_id[:8]}")
            start, end, _ = backfill_range(since, until, clock())
            name = backfill_lease(connection.id, account_id, start, None if until is None else end)
            async with hold_lease(
                leases,
                name,
                owner=settings.effective_replica_id,
                ttl=settings.lease_ttl,
                renew_every=settings.lease_renew_interval,
                stop=stop,
                on_wait=tracker.waiting,
            ) as held:
                if held is None:  # stopped while another process ran it
                    reports.append(BackfillReport(connection.id, account_id, start, end))
                    continue
                report = await backfill_account(
                    client,
                    store=store,
                    sink=sink,
                    metrics=metrics,
                    connection_id=connection.id,
                    bank_account_id=account_id,
                    organization_id=str(org_id) if org_id else None,
                    since=since,
                    until=until,
                    settings=settings,
                    stop=held.halt,
                    restart=restart,
                    on_progress=tracker.update,
                    clock=clock,
                    fence=held.fence,
                )
                report.waited_for = held.waited_for
                report.lease_lost = report.lease_lost or held.lost
                reports.append(report)
        return reports
