"""``make demo``: a month of a company's Qonto activity through the whole system.

Starts the emulator, ingest, matcher and sync as processes (Kafka and PostgreSQL come from
``infra/``), subscribes ingest to the emulator's webhooks with 20% of them dropped and some
duplicated or reordered (so sync has gaps to fill), plays a generated month while the back
office publishes its invoices, shows live progress, then a final reconciliation report
checked against the emulator's ground truth.

The demo runs in its own database and under its own topic prefix, so it can be run again
and again and never mixes with ``make up``'s state.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from qrecon.devstack.observe import Observation
from qrecon.devstack.run import PlayOptions, RunResult, accuracy, play_and_settle
from qrecon.devstack.stack import Stack

console = Console()


def _progress_view(obs: Observation, status: dict[str, Any], started: float, phase: str) -> Panel:
    player = status.get("player") or {}
    hooks = status.get("webhooks") or {}
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("phase", phase)
    table.add_row(
        "business time",
        f"{player.get('business_time') or '-'}  ({100 * float(player.get('progress') or 0):.0f}% "
        f"of {player.get('total', '?')} scenario events)",
    )
    table.add_row("qonto transactions", str(status.get("transactions", 0)))
    table.add_row("webhooks", ", ".join(f"{k} {v}" for k, v in sorted(hooks.items()) if v))
    table.add_row(
        "on qonto.transactions.v1",
        f"{len(obs.transactions)} transactions; events "
        + ", ".join(f"{k} {v}" for k, v in sorted(obs.events_by_source.items())),
    )
    table.add_row(
        "match results",
        ", ".join(f"{k} {v}" for k, v in sorted(obs.statuses().items())) or "-",
    )
    lat = obs.latency_percentiles()
    if lat:
        table.add_row("event → result", f"p50 {lat['p50']:.2f} s, p99 {lat['p99']:.2f} s")
    elapsed = time.monotonic() - started
    return Panel(table, title=f"qonto reconciliation demo — {elapsed:.0f} s")


async def run_demo(stack: Stack, options: PlayOptions, *, keep_running: bool = False) -> int:
    started = time.monotonic()
    console.print("[bold]Starting[/] the emulator, ingest, matcher and sync …")
    await asyncio.to_thread(stack.start_all)
    c = stack.config
    console.print(f"Review desk: {c.matcher_url}/desk  (login {c.desk_email} / {c.desk_password})")
    try:
        with Live(console=console, refresh_per_second=2) as live:

            def tick(phase: str, obs: Observation, status: dict[str, Any]) -> None:
                live.update(_progress_view(obs, status, started, phase))

            result = await play_and_settle(stack, options, on_tick=tick)
        console.print(await _report(stack, result))
        missing = result.missing()
        if missing:
            console.print(f"[red]{len(missing)} transactions did not settle[/]: {missing[:5]}")
        return 0 if result.settled else 1
    finally:
        if not keep_running:
            console.print(f"Stopping the services (logs in {stack.config.run_dir}/logs) …")
            await asyncio.to_thread(stack.stop_all)


async def _report(stack: Stack, result: RunResult) -> Group:
    obs = result.observation
    hooks = result.emulator_status.get("webhooks") or {}
    only_poll = sum(1 for v in obs.transactions.values() if v.sources <= {"poll", "backfill"})
    sources = Table(title="Transactions", show_edge=False)
    sources.add_column("")
    sources.add_column("count", justify="right")
    sources.add_row("in Qonto (the emulator's ground truth)", str(len(result.truth)))
    sources.add_row("on qonto.transactions.v1", str(len(obs.transactions)))
    sources.add_row(
        "  with their latest version and its result", str(len(result.truth) - len(result.missing()))
    )
    for source, count in sorted(obs.events_by_source.items()):
        sources.add_row(f"events from {source}", str(count))
    sources.add_row("webhooks the emulator dropped", str(hooks.get("dropped", 0)))
    sources.add_row("transactions only sync delivered", str(only_poll))

    acc = accuracy(result)
    statuses = obs.statuses()
    matches = Table(title="Match results (latest per transaction)", show_edge=False)
    matches.add_column("")
    matches.add_column("count", justify="right")
    for status in ("auto_matched", "suggested", "unmatched", "reverted"):
        matches.add_row(status, str(statuses.get(status, 0)))
    matches.add_row("auto-matches that agree with the ground truth", str(acc.auto_correct))
    matches.add_row("auto-matches that do not", str(acc.auto_wrong))
    matches.add_row(
        "payments of invoices auto-matched",
        f"{100 * acc.coverage:.1f}% ({acc.auto_correct}/{acc.matchable})",
    )

    summary = Table(title="System", show_edge=False)
    summary.add_column("")
    summary.add_column("", justify="right")
    summary.add_row("invoices published by the back office", str(result.invoices_published))
    open_invoices = await _open_invoices(stack)
    if open_invoices is not None:
        summary.add_row("invoices still open", str(open_invoices))
    lat = obs.latency_percentiles()
    if lat:
        summary.add_row(
            "event → match result latency",
            f"p50 {lat['p50']:.2f} s · p90 {lat['p90']:.2f} s · p99 {lat['p99']:.2f} s",
        )
    summary.add_row("demo wall time", f"{result.elapsed:.0f} s")
    c = stack.config
    where = (
        f"Review desk   {c.matcher_url}/desk  login {c.desk_email} / {c.desk_password}\n"
        f"Review queue  curl -H 'Authorization: Bearer <token>' {c.matcher_url}/v1/suggestions\n"
        f"              (API docs {c.matcher_url}/docs; token in {c.run_dir}/stack.json)\n"
        f"Metrics       {c.ingest_url}/metrics  {c.sync_url}/metrics  {c.matcher_url}/metrics\n"
        f"Emulator      {c.emulator_url}/docs · ground truth {c.emulator_url}/_sim/ground_truth\n"
        f"Topics        {c.topic_prefix}qonto.transactions.v1, {c.topic_prefix}invoices.v1,\n"
        f"              {c.topic_prefix}reconciliation.matches.v1 on {c.kafka_bootstrap}\n"
        f"Logs          {c.run_dir}/logs/\n"
        "Explore       make up (everything keeps running), make down"
    )
    return Group(sources, matches, summary, Panel(where, title="Where to look next"))


async def _open_invoices(stack: Stack) -> int | None:
    """Invoices with something left to pay, from the matcher's own state (best effort)."""
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(stack.config.database_url)
        try:
            value = await conn.fetchval(
                "SELECT count(*) FROM matcher_invoices"
                " WHERE allocated_cents <> amount_cents AND status = 'open'"
            )
            return int(value)
        finally:
            await conn.close()
    return None
