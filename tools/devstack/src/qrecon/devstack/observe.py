"""Watch the topics as a downstream consumer would: what reached Kafka, and how fast.

Reads ``qonto.transactions.v1`` and ``reconciliation.matches.v1`` from the beginning (no
consumer group: it commits nothing and disturbs no one) and keeps, per transaction, its
latest version and the sources that delivered it, and the latest match result.
End-to-end latency is measured per transaction version from the moment the system first
saw it (``observed_at``: webhook receipt or poll) to the broker timestamp of the first
match result published for that version.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer

from qrecon.common.topics import Topics


@dataclass
class TransactionView:
    version: str = ""
    status: str = ""
    sources: set[str] = field(default_factory=set)
    events: int = 0
    first_observed: dict[str, float] = field(default_factory=dict)  # version -> epoch s


@dataclass
class Observation:
    transactions: dict[str, TransactionView] = field(
        default_factory=lambda: defaultdict(TransactionView)
    )
    events_by_source: Counter[str] = field(default_factory=Counter)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    result_records: int = 0
    latencies: list[float] = field(default_factory=list)
    _latency_seen: set[tuple[str, str]] = field(default_factory=set)

    def on_transaction(self, body: dict[str, Any]) -> None:
        tx = body.get("transaction", {})
        tx_id, version = str(tx.get("id")), str(tx.get("updated_at"))
        view = self.transactions[tx_id]
        source = str(body.get("source", "?"))
        self.events_by_source[source] += 1
        view.events += 1
        view.sources.add(source)
        if _ts(version) >= _ts(view.version or version):
            view.version, view.status = version, str(tx.get("status", ""))
        observed = body.get("observed_at")
        if observed:
            at = datetime.fromisoformat(observed).timestamp()
            view.first_observed[version] = min(view.first_observed.get(version, at), at)

    def on_result(self, body: dict[str, Any], broker_ts_ms: int) -> None:
        self.result_records += 1
        tx_id = str(body.get("transaction_id"))
        version = str(body.get("transaction_version"))
        current = self.results.get(tx_id)
        if current is None or (_ts(version), str(body.get("decided_at"))) >= (
            _ts(str(current.get("transaction_version"))),
            str(current.get("decided_at")),
        ):
            self.results[tx_id] = body
        key = (tx_id, version)
        view = self.transactions.get(tx_id)
        if key not in self._latency_seen and view is not None:
            for seen_version, at in view.first_observed.items():
                if _ts(seen_version) == _ts(version):
                    self._latency_seen.add(key)
                    self.latencies.append(max(0.0, broker_ts_ms / 1000 - at))
                    break

    def statuses(self) -> Counter[str]:
        return Counter(str(r.get("status")) for r in self.results.values())

    def latency_percentiles(self) -> dict[str, float]:
        if not self.latencies:
            return {}
        ordered = sorted(self.latencies)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

        return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99), "max": ordered[-1]}


def same_version(a: str, b: str) -> bool:
    """Two ``updated_at`` texts name the same instant (formats differ: ``Z``, ``+00:00``)."""
    return _ts(a) == _ts(b)


def _ts(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class TopicObserver:
    """Consumes in the background until stopped; ``observation`` is live."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.observation = Observation()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topics.transactions,
            self.topics.matches,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=2000,
        )
        await consumer.start()
        self._task = asyncio.create_task(self._run(consumer))

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=250, max_records=2000)
                for tp, records in batches.items():
                    for record in records:
                        try:
                            body = json.loads(record.value)
                        except (TypeError, ValueError):
                            continue
                        if tp.topic == self.topics.transactions:
                            self.observation.on_transaction(body)
                        else:
                            self.observation.on_result(body, record.timestamp)
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
