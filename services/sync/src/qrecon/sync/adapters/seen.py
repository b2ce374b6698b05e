"""Sync's own consumer of ``qonto.transactions.v1`` (group ``SYNC_CONSUMER_GROUP``): it
decodes each batch and hands it to ``app.seen.record_observed``.

It records the newest version of every transaction that *other* producers put on the
topic (ingest, from webhooks), so that the gap-fill publishes only what is missing. Sync's
own events (``poll``/``backfill``) are recognised from the raw bytes and skipped without
decoding: whoever published them already recorded them in the same PostgreSQL
transaction as its checkpoint (that is also where sync counts its redundant publishes: a
version recorded meanwhile from another event). A webhook version that arrives after sync
published it is counted as ``delivered_before_webhook``. The offsets are committed after
the batch is recorded (a crash re-reads it: recording is idempotent).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from faststream.kafka import KafkaBroker

from qrecon.common.logging import get_logger
from qrecon.common.timeutil import ensure_aware
from qrecon.sync.app.ports import Store
from qrecon.sync.app.seen import record_observed
from qrecon.sync.core.versions import ObservedVersion
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)

# TransactionEvent serialises ``source`` among its first fields, without spaces.
_OWN_MARKERS = (b'"source":"poll"', b'"source":"backfill"')
_HEAD = 400


def is_sync_event(raw: bytes | bytearray) -> bool:
    head = raw[:_HEAD]
    return any(marker in head for marker in _OWN_MARKERS)


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


async def record_batch(store: Store, metrics: SyncMetrics, bodies: Sequence[Any]) -> None:
    """Decode a batch of raw values and record the versions of other producers' events."""
    others = [b for b in bodies if not (isinstance(b, bytes | bytearray) and is_sync_event(b))]
    observed = [o for o in (observed_from_body(b) for b in others) if o is not None]
    await record_observed(
        store,
        metrics,
        observed,
        own=len(bodies) - len(others),
        unreadable=len(others) - len(observed),
    )


def register_seen_consumer(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    store: Store,
    metrics: SyncMetrics,
) -> None:
    """Subscribe the recorder (before ``broker.start()``)."""

    async def raw_bodies(message: Any) -> Any:  # no JSON decoding by FastStream
        return message.body

    @broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        auto_offset_reset="earliest",
        max_records=500,
        batch_timeout_ms=200,
        decoder=raw_bodies,
    )
    async def seen_versions(bodies: list[Any]) -> None:
        try:
            await record_batch(store, metrics, bodies)
        except Exception as exc:
            # Not committed: the batch comes again. Pause so a PostgreSQL outage is not
            # a hot loop.
            metrics.errors.labels("-", "seen_consumer", type(exc).__name__).inc()
            log.warning("seen_versions_not_recorded", error=type(exc).__name__)
            await asyncio.sleep(1.0)
            raise
