"""``make demo``: a month of a company's Qonto activity through the whole system.

Starts the emulator, ingest, matcher and sync as processes (Kafka and PostgreSQL come from
``infra/``), subscribes ingest to the emulator's webhooks with 20% of them dropped and some
duplicated or reordered (so sync has gaps to fill), plays a generated month at a chosen
speed while the back office publishes its invoices, shows live progress, then a final
reconciliation report checked against the emulator's ground truth.

The demo runs in its own database and under its own topic prefix, so it can be run again
and again and never mixes with ``make up``'s state.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from qrecon.common.kafka import make_broker, publish_event
from qrecon.common.schemas import Invoice, InvoiceEvent
from qrecon.common.topics import Topics
from qrecon.devstack.observe import Observation, TopicObserver
from qrecon.devstack.stack import Stack

console = Console()


@dataclass
class DemoOptions:
    seed: int = 7
    month_seconds: float = 60.0
    size: str = "small"
    drop: float = 0.2
    duplicate: float = 0.05
    reorder: float = 0.1
    settle_timeout: float = 120.0
    keep_running: bool = False


class BackOffice:
    """Publishes the company's invoices to ``invoices.v1`` as they are issued.

    It reads them from the emulator (the scenario's invoices, in the Invoice contract) and
    publishes each one once, as ``open``: the back office learns that an invoice is paid
    from this system, not the other way round. Cancellations are published as such.
    """

    def __init__(self, stack: Stack, topics: Topics) -> None:
        self.stack = stack
        self.topics = topics
        self.published: dict[str, str] = {}

    async def sync_once(self, broker: Any) -> int:
        rows = await asyncio.to_thread(self.stack.ground_truth, "invoices")
        sent = 0
        for row in rows:
            invoice_id = str(row["id"])
            status = "canceled" if row.get("status") == "canceled" else "open"
            if self.published.get(invoice_id) == status:
                continue
            invoice = Invoice.model_validate({**row, "status": status})
            if status == "canceled" and invoice_id not in self.published:
                continue  # never seen as open: nothing to cancel downstream
            event = (
                InvoiceEvent(
                    event_type="invoice.cancel", invoice_id=invoice_id, source="back_office"
                )
                if status == "canceled"
                else InvoiceEvent(invoice=invoice, source="back_office")
            )
            await publish_event(
                broker,
                self.topics.invoices,
                key=invoice_id,
                value=event,
                event_id=event.event_id,
                event_type=event.event_type,
            )
            self.published[invoice_id] = status
            sent += 1
        return sent


def _progress_view(stack: Stack, obs: Observation, started: float, phase: str) -> Panel:
    status = stack.status()
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
    return Panel(table, title=f"qonto reconciliation demo — {time.monotonic() - started:.0f} s")


def _converged(obs: Observation, truth: list[dict[str, Any]]) -> tuple[int, int]:
    """(transactions whose latest version is on the topic, ... that also have its result)."""
    on_topic = with_result = 0
    for tx in truth:
        view = obs.transactions.get(str(tx["id"]))
        if view is None or _same(view.version, tx["updated_at"]) is False:
            continue
        on_topic += 1
        result = obs.results.get(str(tx["id"]))
        if result is not None and _same(str(result.get("transaction_version")), tx["updated_at"]):
            with_result += 1
    return on_topic, with_result


def _same(a: str, b: str) -> bool:
    from qrecon.devstack.observe import _ts

    return _ts(a) == _ts(b)


async def run_demo(stack: Stack, options: DemoOptions) -> int:
    config = stack.config
    topics = Topics(config.topic_prefix)
    started = time.monotonic()
    console.print("[bold]Starting[/] the emulator, ingest, matcher and sync …")
    await asyncio.to_thread(stack.start_all)
    stack.set_faults(drop=options.drop, duplicate=options.duplicate, reorder=options.reorder)
    observer = TopicObserver(config.kafka_bootstrap, topics)
    await observer.start()
    broker = make_broker(config.kafka_bootstrap, client_id="demo-back-office")
    back_office = BackOffice(stack, topics)
    obs = observer.observation
    await broker.start()
    try:
        stack.play(
            seed=options.seed, months=1, size=options.size, month_seconds=options.month_seconds
        )
        with Live(console=console, refresh_per_second=2) as live:
            phase = "playing the month"
            while True:
                await back_office.sync_once(broker)
                live.update(_progress_view(stack, obs, started, phase))
                player = stack.status().get("player") or {}
                if player.get("state") in ("done", "stopped", "failed"):
                    break
                await asyncio.sleep(1.0)
            await back_office.sync_once(broker)
            truth = await asyncio.to_thread(stack.ground_truth, "transactions")
            phase = "waiting for sync to fill the gaps and the matcher to decide"
            deadline = time.monotonic() + options.settle_timeout
            while time.monotonic() < deadline:
                on_topic, with_result = _converged(obs, truth)
                live.update(
                    Group(
                        _progress_view(stack, obs, started, phase),
                        f"  latest versions on the topic: {on_topic}/{len(truth)}, "
                        f"with their result: {with_result}/{len(truth)}",
                    )
                )
                if with_result == len(truth):
                    break
                await asyncio.sleep(1.0)
        report = await _report(stack, obs, truth, back_office, time.monotonic() - started)
        console.print(report)
        on_topic, with_result = _converged(obs, truth)
        return 0 if with_result == len(truth) else 1
    finally:
        await observer.stop()
        await broker.stop()
        if not options.keep_running:
            console.print("Stopping the services (logs in .run/demo/logs) …")
            await asyncio.to_thread(stack.stop_all)


async def _report(
    stack: Stack,
    obs: Observation,
    truth: list[dict[str, Any]],
    back_office: BackOffice,
    elapsed: float,
) -> Group:
    allocations = {a["transaction_id"]: a for a in stack.ground_truth("allocations")}
    webhooks = stack.status().get("webhooks") or {}
    # Sources: which transactions only sync delivered (webhooks dropped or never sent).
    only_poll = sum(1 for v in obs.transactions.values() if v.sources <= {"poll", "backfill"})
    by_source = Table(title="Transactions on qonto.transactions.v1", show_edge=False)
    by_source.add_column("")
    by_source.add_column("count", justify="right")
    by_source.add_row("transactions in Qonto (ground truth)", str(len(truth)))
    by_source.add_row("transactions on the topic", str(len(obs.transactions)))
    for source, count in sorted(obs.events_by_source.items()):
        by_source.add_row(f"events from {source}", str(count))
    by_source.add_row("transactions only sync delivered", str(only_poll))
    by_source.add_row(
        "webhooks dropped by the emulator", str(webhooks.get("dropped", webhooks.get("drop", 0)))
    )

    statuses = obs.statuses()
    correct = wrong = matchable = auto_on_matchable = 0
    for tx in truth:
        tx_id = str(tx["id"])
        true_alloc = {
            a["invoice_id"] for a in (allocations.get(tx_id) or {}).get("allocations", [])
        }
        result = obs.results.get(tx_id) or {}
        if true_alloc and tx.get("status") == "completed":
            matchable += 1
        if result.get("status") == "auto_matched":
            got = {a["invoice_id"] for a in result.get("allocations", [])}
            if got and got <= true_alloc:
                correct += 1
                auto_on_matchable += 1
            else:
                wrong += 1
    matches = Table(title="Match results (latest per transaction)", show_edge=False)
    matches.add_column("")
    matches.add_column("count", justify="right")
    for status in ("auto_matched", "suggested", "unmatched", "reverted"):
        matches.add_row(status, str(statuses.get(status, 0)))
    matches.add_row("auto-matches agreeing with the ground truth", str(correct))
    matches.add_row("auto-matches disagreeing", str(wrong))
    if matchable:
        matches.add_row(
            "coverage of payments that pay invoices",
            f"{100 * auto_on_matchable / matchable:.1f}% ({auto_on_matchable}/{matchable})",
        )

    open_invoices = await _open_invoices(stack)
    lat = obs.latency_percentiles()
    summary = Table(title="System", show_edge=False)
    summary.add_column("")
    summary.add_column("", justify="right")
    summary.add_row("invoices published by the back office", str(len(back_office.published)))
    if open_invoices is not None:
        summary.add_row("invoices still open (residual > 0)", str(open_invoices))
    if lat:
        summary.add_row(
            "event → match result latency",
            f"p50 {lat['p50']:.2f} s · p90 {lat['p90']:.2f} s · p99 {lat['p99']:.2f} s",
        )
    summary.add_row("demo wall time", f"{elapsed:.0f} s")
    c = stack.config
    where = (
        f"Review API  {c.matcher_url}/docs (bearer token in {c.run_dir}/stack.json)\n"
        f"Metrics     {c.ingest_url}/metrics  {c.sync_url}/metrics  {c.matcher_url}/metrics\n"
        f"Emulator    {c.emulator_url}/docs  ·  ground truth {c.emulator_url}/_sim/ground_truth\n"
        f"Topics      {c.topic_prefix}qonto.transactions.v1, {c.topic_prefix}invoices.v1, "
        f"{c.topic_prefix}reconciliation.matches.v1 on {c.kafka_bootstrap}\n"
        f"Logs        {c.run_dir}/logs/\n"
        "Keep it all running to explore: make up (and make down)"
    )
    return Group(by_source, matches, summary, Panel(where, title="Where to look next"))


async def _open_invoices(stack: Stack) -> int | None:
    """Invoices with a residual left, from the matcher's own state."""
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(stack.config.database_url)
        try:
            value = await conn.fetchval(
                "SELECT count(*) FROM matcher_invoices WHERE residual_cents > 0 AND status = 'open'"
            )
            return int(value)
        finally:
            await conn.close()
    return None
