"""Prometheus metrics of ingest (``GET /metrics``).

=====================================  =====================================================
``ingest_webhooks_received_total``     webhook requests, by ``connection`` (``unknown``)
``ingest_webhooks_rejected_total``     refused, by ``reason`` (the error code answered)
``ingest_webhooks_accepted_total``     acknowledged, by ``outcome`` (``new``/``duplicate``)
``ingest_consent_revocations_total``   ``v1/consent-revocations`` accepted, by ``connection``
``ingest_ack_latency_seconds``         histogram: request received → 2xx sent (body read
                                       and durable write included)
``ingest_kafka_connected``             1 once the producer is connected
``qrecon_outbox_published_total``      published by the relay (``table="ingest_inbox"``)
``qrecon_outbox_backlog``              rows not yet published
``qrecon_outbox_publish_errors_total`` failed publication attempts
``qrecon_outbox_delay_seconds``        histogram: row created → broker acknowledgement
=====================================  =====================================================

The per-request counters are plain integers bumped on the event loop (one thread: no lock
needed) and exported by a collector when ``/metrics`` is scraped; prometheus-client's own
counters take a lock on every increment, which costs more than the rest of the accounting.
"""

from __future__ import annotations

import bisect
from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import REGISTRY, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class IngestMetrics(Collector):
    def __init__(self) -> None:
        self.received: Tally[str] = Tally()
        self.rejected: Tally[str] = Tally()
        self.accepted: Tally[str] = Tally()
        self.revocations: Tally[str] = Tally()
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0

    def observe_latency(self, seconds: float) -> None:
        self._buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._latency_sum += seconds

    def collect(self) -> Iterator[Metric]:
        for name, doc, label, tally in (
            ("ingest_webhooks_received", "Webhook requests received, by connection "
             "('unknown' when not configured).", "connection", self.received),
            ("ingest_webhooks_rejected", "Webhook requests refused, by reason (the error "
             "code of the answer).", "reason", self.rejected),
            ("ingest_webhooks_accepted", "Webhooks made durable and acknowledged: outcome "
             "new or duplicate.", "outcome", self.accepted),
            ("ingest_consent_revocations", "v1/consent-revocations webhooks accepted (a user "
             "revoked the app), by connection.", "connection", self.revocations),
        ):  # fmt: skip
            family = CounterMetricFamily(name, doc, labels=[label])
            for value, count in sorted(tally.items()):
                family.add_metric([value], count)
            yield family
        cumulative, running = [], 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self._buckets, strict=True):
            running += count
            cumulative.append((_le(bound), running))
        yield HistogramMetricFamily(
            "ingest_ack_latency_seconds",
            "Time from receiving a webhook request to acknowledging it (2xx), body read and "
            "durable write included.",
            buckets=cumulative,
            sum_value=self._latency_sum,
        )


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


METRICS = IngestMetrics()
REGISTRY.register(METRICS)
KAFKA_CONNECTED = Gauge("ingest_kafka_connected", "1 once the Kafka producer is connected.")
