"""Prometheus metrics of ingest (``GET /metrics``).

The relay's own metrics come from :mod:`qrecon.common.outbox` with ``table="ingest_inbox"``:
``qrecon_outbox_published_total`` (published), ``qrecon_outbox_backlog`` (not yet
published), ``qrecon_outbox_publish_errors_total``, ``qrecon_outbox_delay_seconds``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter(
    "ingest_webhooks_received_total",
    "Webhook requests received, by connection ('unknown' when not configured).",
    ["connection"],
)
REJECTED = Counter(
    "ingest_webhooks_rejected_total",
    "Webhook requests refused, by reason (the error code of the answer).",
    ["reason"],
)
ACCEPTED = Counter(
    "ingest_webhooks_accepted_total",
    "Webhooks made durable and acknowledged: outcome new or duplicate.",
    ["outcome"],
)
ACK_LATENCY = Histogram(
    "ingest_ack_latency_seconds",
    "Time from receiving a webhook request to acknowledging it (2xx), body read included.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
KAFKA_CONNECTED = Gauge("ingest_kafka_connected", "1 once the Kafka producer is connected.")
