"""Sync's consumer of ``qonto.events.v1`` (group ``SYNC_EVENTS_CONSUMER_GROUP``): it reads
the ``v1/consent-revocations`` webhooks ingest verified and hands each to the supervisor,
which records it and stops the connections it names (``app.revocations``). Every other
event type is skipped from its ``event-type`` header without decoding. Offsets are
committed after the batch is handled (a crash reads it again: recording is idempotent);
a value that is not a readable revocation is counted and skipped (it cannot get better).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from qrecon.common.logging import get_logger
from qrecon.common.timeutil import utcnow
from qrecon.sync.app.ports import Clock
from qrecon.sync.core.revocation import (
    CONSENT_REVOCATIONS,
    ConsentRevocation,
    parse_consent_revocation,
)
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)

HEADER_EVENT_TYPE = "event-type"
HEADER_CONNECTION_ID = "connection-id"

OnRevocation = Callable[[ConsentRevocation], Awaitable[list[str]]]


def _header(headers: Any, name: str) -> str | None:
    value = (headers or {}).get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


async def handle_event(
    body: bytes,
    headers: Any,
    *,
    on_revocation: OnRevocation,
    metrics: SyncMetrics,
    clock: Clock = utcnow,
) -> None:
    """One record of ``qonto.events.v1``."""
    if _header(headers, HEADER_EVENT_TYPE) != CONSENT_REVOCATIONS:
        return
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    revocation = parse_consent_revocation(
        envelope, connection_id=_header(headers, HEADER_CONNECTION_ID), received_at=clock()
    )
    if revocation is None:
        metrics.revocations.labels("invalid").inc()
        log.warning("consent_revocation_unreadable")
        return
    newly = await on_revocation(revocation)
    metrics.revocations.labels("revoked" if newly else "unmatched").inc()


def register_events_consumer(
    broker: KafkaBroker,
    *,
    topic: str,
    group_id: str,
    on_revocation: OnRevocation,
    metrics: SyncMetrics,
    clock: Clock = utcnow,
) -> None:
    """Subscribe (before ``broker.start()``)."""

    @broker.subscriber(topic, group_id=group_id, auto_offset_reset="earliest")
    async def qonto_events(message: KafkaMessage) -> None:
        try:
            await handle_event(
                message.body,
                message.headers,
                on_revocation=on_revocation,
                metrics=metrics,
                clock=clock,
            )
        except Exception as exc:
            # Not committed: it comes again. Pause so a PostgreSQL outage is no hot loop.
            metrics.errors.labels("-", "events_consumer", type(exc).__name__).inc()
            log.warning("consent_revocation_not_recorded", error=type(exc).__name__)
            await asyncio.sleep(1.0)
            raise
