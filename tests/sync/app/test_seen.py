"""Recording versions read back from the topic (``app.seen``) on a fake store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qrecon.sync.app.seen import record_observed
from qrecon.sync.core.versions import ObservedVersion
from qrecon.sync.metrics import SyncMetrics

from ..fakes import FakeStore

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def count(metrics: SyncMetrics, name: str, *labels: str) -> float:
    metric = getattr(metrics, name)
    value: float = (metric.labels(*labels) if labels else metric)._value.get()
    return value


async def test_webhook_versions_are_recorded_and_races_with_sync_are_counted() -> None:
    store, metrics = FakeStore(), SyncMetrics()
    webhook = ObservedVersion("tx-1", T0, "ev-webhook", "webhook")
    await record_observed(store, metrics, [webhook], own=2, unreadable=1)
    assert store.seen == {"tx-1": T0}
    assert count(metrics, "observed", "webhook", "new") == 1
    assert count(metrics, "observed", "sync", "own") == 2
    assert count(metrics, "observed", "?", "unreadable") == 1

    # sync published the same version under its own event id: a redundant publish...
    polled = ObservedVersion("tx-1", T0, "ev-poll", "poll")
    await record_observed(store, metrics, [polled])
    assert count(metrics, "redundant", "poll") == 1

    # ...and a webhook arriving after sync delivered the version first.
    later = T0 + timedelta(minutes=1)
    store.seen["tx-2"], store.seen_events["tx-2"] = later, "ev-poll-2"
    await record_observed(store, metrics, [ObservedVersion("tx-2", later, "ev-w2", "webhook")])
    assert count(metrics, "delivered_first") == 1
    assert store.seen["tx-2"] == later
