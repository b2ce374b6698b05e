"""Recording the versions other producers put on ``qonto.transactions.v1`` (ingest, from
webhooks), so that the gap-fill publishes only what is missing.

The consumer (``adapters.seen``) decodes a batch and calls ``record_observed``; sync's own
events never reach it (their publisher recorded them with its checkpoint). A sync version
that turns out to be already recorded is a redundant publish; a webhook version that
arrives after sync published it is counted as ``delivered_before_webhook``. Recording is
idempotent: a batch read again after a crash changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from qrecon.sync.app.ports import Store
from qrecon.sync.core.versions import ObservedVersion
from qrecon.sync.metrics import SyncMetrics

SYNC_SOURCES = frozenset({"poll", "backfill"})


async def record_observed(
    store: Store,
    metrics: SyncMetrics,
    observed: Sequence[ObservedVersion],
    *,
    own: int = 0,
    unreadable: int = 0,
) -> None:
    """Record ``observed``; ``own`` (sync's events, skipped) and ``unreadable`` (no version)
    are only counted."""
    if own:
        metrics.observed.labels("sync", "own").inc(own)
    if unreadable:
        metrics.observed.labels("?", "unreadable").inc(unreadable)
    for item, outcome in await store.record_observed(observed):
        metrics.observed.labels(item.source, outcome).inc()
        if item.source in SYNC_SOURCES and outcome in ("duplicate", "stale"):
            metrics.redundant.labels(item.source).inc()
        elif item.source not in SYNC_SOURCES and outcome == "duplicate":
            metrics.delivered_first.inc()
