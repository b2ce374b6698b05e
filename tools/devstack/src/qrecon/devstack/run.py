"""Play a scenario through a running stack and wait until the system has settled.

Shared by ``make demo`` and the fault-injection suite: the back office publishes invoices
as they are issued, the emulator plays the month, and the run waits until every
transaction's latest version (by the emulator's ground truth) is on the transactions topic
with a match result for that version. ``during`` lets a caller break things mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from qrecon.common.kafka import make_broker, publish_event
from qrecon.common.logging import get_logger
from qrecon.common.schemas import Invoice, InvoiceEvent
from qrecon.common.topics import Topics
from qrecon.devstack.observe import Observation, TopicObserver, same_version
from qrecon.devstack.stack import Stack

log = get_logger(__name__)


@dataclass(kw_only=True)
class PlayOptions:
    seed: int = 7
    month_seconds: float = 60.0
    size: str = "small"
    drop: float = 0.2
    duplicate: float = 0.05
    reorder: float = 0.1
    api_error_rate: float = 0.0
    settle_timeout: float = 120.0
    # The first business day played. Required, never derived from today's date here: which
    # invoices and payments fall inside a fault window depends on it, so a test must name
    # it to be reproducible. Only an entry point a person runs (``qrecon-stack demo``)
    # may choose "the 30 days that end today" for them (:func:`recent_month_start`).
    start: date

    def business_start(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time(), tzinfo=UTC)


def recent_month_start(today: date) -> date:
    """The start of the 30 days that end on ``today`` (what ``make demo`` plays)."""
    return today - timedelta(days=30)


@dataclass
class RunResult:
    observation: Observation
    truth: list[dict[str, Any]]
    allocations: dict[str, dict[str, Any]]
    invoices_published: int
    elapsed: float
    settled: bool
    emulator_status: dict[str, Any] = field(default_factory=dict)

    def missing(self) -> list[str]:
        """Transactions whose latest version or its result never arrived."""
        out = []
        for tx in self.truth:
            view = self.observation.transactions.get(str(tx["id"]))
            result = self.observation.results.get(str(tx["id"]))
            if (
                view is None
                or not same_version(view.version, tx["updated_at"])
                or result is None
                or not same_version(str(result.get("transaction_version")), tx["updated_at"])
            ):
                out.append(str(tx["id"]))
        return out


class BackOffice:
    """Publishes the company's invoices to ``invoices.v1`` as they are issued.

    It reads them from the emulator (the scenario's invoices, in the Invoice contract) and
    publishes each one once, as ``open``: the back office learns that an invoice is paid
    from this system, not the other way round. Cancellations are published as such.

    An invoice created *and* canceled before the back office could ever publish it (say,
    both while Kafka was down) is *withdrawn*: downstream never heard of it, so there is
    nothing to retract, and publishing a cancel of an unknown id would only leave a
    tombstone. It is accounted for all the same (:meth:`accounted`), so a run knows every
    invoice of the scenario has been dealt with.
    """

    def __init__(self, stack: Stack, topics: Topics) -> None:
        self.stack = stack
        self.topics = topics
        self.published: dict[str, str] = {}
        self.withdrawn: set[str] = set()

    def accounted(self) -> int:
        """Invoices published (open or canceled) or withdrawn before publication."""
        return len(self.published) + len(self.withdrawn - self.published.keys())

    async def sync_once(self, broker: Any) -> int:
        rows = await asyncio.to_thread(self.stack.ground_truth, "invoices")
        sent = 0
        for row in rows:
            invoice_id = str(row["id"])
            status = "canceled" if row.get("status") == "canceled" else "open"
            if self.published.get(invoice_id) == status:
                continue
            if status == "canceled" and invoice_id not in self.published:
                self.withdrawn.add(invoice_id)  # never published: nothing to cancel downstream
                continue
            event = (
                InvoiceEvent(
                    event_type="invoice.cancel", invoice_id=invoice_id, source="back_office"
                )
                if status == "canceled"
                else InvoiceEvent(
                    invoice=Invoice.model_validate({**row, "status": status}),
                    source="back_office",
                )
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


Tick = Callable[[str, Observation, dict[str, Any]], None]


async def play_and_settle(
    stack: Stack,
    options: PlayOptions,
    *,
    on_tick: Tick | None = None,
    during: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> RunResult:
    """Play a month and wait for the system to settle (or ``settle_timeout``)."""
    config = stack.config
    topics = Topics(config.topic_prefix)
    started = time.monotonic()
    stack.set_faults(
        drop=options.drop,
        duplicate=options.duplicate,
        reorder=options.reorder,
        error_rate=options.api_error_rate,
    )
    observer = TopicObserver(config.kafka_bootstrap, topics)
    await observer.start()
    obs = observer.observation
    broker = make_broker(config.kafka_bootstrap, client_id="back-office")
    await broker.start()
    back_office = BackOffice(stack, topics)
    breaker = asyncio.create_task(during()) if during is not None else None

    async def publish_invoices() -> None:
        # The back office keeps trying while Kafka is down (the fault suite stops it).
        try:
            await asyncio.wait_for(back_office.sync_once(broker), 30)
        except Exception as exc:
            log.warning("back_office_publish_failed", error=repr(exc))

    try:
        stack.play(
            seed=options.seed,
            months=1,
            size=options.size,
            month_seconds=options.month_seconds,
            start=options.business_start().isoformat(),
        )
        while True:
            await publish_invoices()
            status = await asyncio.to_thread(stack.status)
            if on_tick:
                on_tick("playing the month", obs, status)
            if (status.get("player") or {}).get("state") in ("done", "stopped", "failed"):
                break
            await asyncio.sleep(1.0)
        if breaker is not None:
            await breaker
        await publish_invoices()
        truth = await asyncio.to_thread(stack.ground_truth, "transactions")
        result = RunResult(obs, truth, {}, 0, 0.0, False)
        deadline = time.monotonic() + options.settle_timeout
        while time.monotonic() < deadline:
            await publish_invoices()
            status = await asyncio.to_thread(stack.status)
            if on_tick:
                on_tick("waiting for sync to fill the gaps and the matcher to decide", obs, status)
            if not result.missing() and back_office.accounted() >= _invoice_count(status):
                result.settled = True
                break
            await asyncio.sleep(1.0)
        result.allocations = {
            a["transaction_id"]: a
            for a in await asyncio.to_thread(stack.ground_truth, "allocations")
        }
        result.invoices_published = len(back_office.published)
        result.elapsed = time.monotonic() - started
        result.emulator_status = await asyncio.to_thread(stack.status)
        return result
    finally:
        if breaker is not None and not breaker.done():
            breaker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await breaker
        await observer.stop()
        await broker.stop()


def _invoice_count(status: dict[str, Any]) -> int:
    return int(status.get("client_invoices", 0)) + int(status.get("supplier_invoices", 0))


@dataclass
class Accuracy:
    matchable: int = 0
    auto_correct: int = 0
    auto_wrong: int = 0
    wrong_ids: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.auto_correct / self.matchable if self.matchable else 1.0


def accuracy(result: RunResult) -> Accuracy:
    """Auto-matches against the emulator's true allocations."""
    acc = Accuracy()
    for tx in result.truth:
        tx_id = str(tx["id"])
        truth_row = result.allocations.get(tx_id) or {}
        true_invoices = {a["invoice_id"] for a in truth_row.get("allocations", [])}
        if true_invoices and tx.get("status") == "completed":
            acc.matchable += 1
        decided = result.observation.results.get(tx_id) or {}
        if decided.get("status") == "auto_matched":
            got = {a["invoice_id"] for a in decided.get("allocations", [])}
            if got and got <= true_invoices:
                acc.auto_correct += 1
            else:
                acc.auto_wrong += 1
                acc.wrong_ids.append(tx_id)
    return acc


def over_allocated_invoices(result: RunResult, invoice_amounts: dict[str, int]) -> dict[str, int]:
    """Invoices whose effective auto-matched allocations exceed their amount (must be none)."""
    allocated: dict[str, int] = {}
    for decided in result.observation.results.values():
        if decided.get("status") != "auto_matched":
            continue
        for allocation in decided.get("allocations", []):
            invoice_id = str(allocation["invoice_id"])
            allocated[invoice_id] = allocated.get(invoice_id, 0) + int(allocation["amount_cents"])
    return {
        invoice_id: total
        for invoice_id, total in allocated.items()
        if total > abs(invoice_amounts.get(invoice_id, 0))
    }
