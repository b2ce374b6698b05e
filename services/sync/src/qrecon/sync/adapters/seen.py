"""Sync's own consumer of ``qonto.transactions.v1`` (group ``SYNC_CONSUMER_GROUP``).

It records the newest version of every transaction on the topic, whoever published it
(ingest from a webhook, sync, a backfill), so that the gap-fill publishes only what is
missing; and it measures redundancy: a version sync published that another event had
already delivered. The offsets are committed after the batch is recorded (a crash
re-reads it: recording is idempotent).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from faststream.kafka import KafkaBroker

from qrecon.common.logging import get_logger
from qrecon.common.timeutil import ensure_aware
from qrecon.sync.adapters.store import SyncStore
from qrecon.sync.core.versions import ObservedVersion
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)

SYNC_SOURCES = frozenset({"poll", "backfill"})


def observed_from_body(body: Any) -> ObservedVersion | None:
    """The version a ``TransactionEvent`` carries, read leniently (None if it has none)."""
    if isinstance(body, bytes | bytearray | str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if not isinstance(body, dict):
        return None
    tx = body.get("transaction")
    if not isinstance(tx, dict):
        return None
    tx_id, updated_at, event_id = tx.get("id"), tx.get("updated_at"), body.get("event_id")
    if not tx_id or not updated_at or not event_id:
        return None
    try:
        version = ensure_aware(datetime.fromisoformat(str(updated_at).replace("Z", "+00:00")))
    except ValueError:
        return None
    return ObservedVersion(str(tx_id), version, str(event_id), str(body.get("source") or "?"))


async def record_batch(store: SyncStore, metrics: SyncMetrics, bodies: Sequence[Any]) -> None:
    observed = [o for o in (observed_from_body(b) for b in bodies) if o is not None]
    if len(observed) != len(bodies):
        metrics.observed.labels("?", "unreadable").inc(len(bodies) - len(observed))
    for item, outcome in await store.record_observed(observed):
        metrics.observed.labels(item.source, outcome).inc()
        if item.source in SYNC_SOURCES and outcome in ("duplicate", "stale"):
            metrics.redundant.labels(item.source).inc()
        elif item.source not in SYNC_SOURCES and outcome == "duplicate":
            metrics.delivered_first.inc()


def register_seen_consumer(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    store: SyncStore,
    metrics: SyncMetrics,
) -> None:
    """Subscribe the recorder (before ``broker.start()``)."""

    @broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        auto_offset_reset="earliest",
        max_records=500,
        batch_timeout_ms=200,
    )
    async def seen_versions(bodies: list[Any]) -> None:
        await record_batch(store, metrics, bodies)
