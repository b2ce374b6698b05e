"""The console of ``qonto-sync backfill`` and ``qonto-sync status`` (rich)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from qrecon.sync.app.ports import BackfillReport, Holder
from qrecon.sync.core.backfill import Backfill
from qrecon.sync.core.leases import gapfill_lease
from qrecon.sync.core.sweep import Sweep


def backfill_progress(console: Console) -> Progress:
    """One bar per account; ``RichBackfillProgress`` feeds it."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


class _Bar:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress = progress
        self.task = task

    def waiting(self, owner: str | None) -> None:
        detail = f"waiting: {owner or 'another process'} is running it"
        self.progress.update(self.task, detail=detail)

    def update(self, report: BackfillReport, state: Backfill) -> None:
        self.progress.update(
            self.task,
            completed=round(state.progress * 1000),
            detail=(
                f"settled ≤ {state.covered_until:%Y-%m-%d} · {report.pages} pages · "
                f"{report.published} published · {report.skipped} already seen"
                + (" · resumed" if report.resumed else "")
            ),
        )


class RichBackfillProgress:
    """The ``BackfillProgress`` port on a rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def track(self, label: str) -> _Bar:
        return _Bar(self.progress, self.progress.add_task(label, total=1000, detail=""))


def print_backfill_reports(console: Console, reports: Sequence[BackfillReport]) -> None:
    for r in reports:
        state = "done" if r.completed else "interrupted (run again to continue)"
        if r.already_done:
            state = "already done"
        if r.lease_lost:
            state = "interrupted: another process took this backfill over"
        if r.waited_for:
            state += f" (after waiting for {r.waited_for})"
        console.print(
            f"{r.connection_id}/{r.bank_account_id}: {state}, {r.pages} pages, "
            f"{r.published} published, {r.skipped} already on the topic "
            f"[{r.since:%Y-%m-%d} .. {r.until:%Y-%m-%d %H:%M}]"
        )


def print_status(
    console: Console,
    rows: Sequence[tuple[str, str, str, datetime | None, Sweep | None]],
    holders: dict[str, Holder],
) -> None:
    table = Table("connection", "bank account", "status", "watermark", "sweep in progress", "owner")
    for connection_id, account_id, status, watermark, sweep in rows:
        holder = holders.get(gapfill_lease(connection_id, account_id))
        table.add_row(
            connection_id,
            account_id,
            status,
            watermark.isoformat() if watermark else "-",
            f"cursor {sweep.cursor.isoformat()} page {sweep.page}" if sweep else "-",
            (holder.owner if holder is not None else None) or "-",
        )
    console.print(table)
