"""Prometheus metrics of the matcher service (process-wide; ``/metrics`` exposes them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RESULTS = Counter(
    "matcher_results_total",
    "Match results committed (each is published once through the outbox).",
    ["status", "cause"],
)
EVENT_TO_RESULT = Histogram(
    "matcher_event_to_result_seconds",
    "From a transaction event's observed_at to the commit of its result.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
PROCESSING = Histogram(
    "matcher_record_processing_seconds",
    "Time to process one consumed record (decision and commit included).",
    ["topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
RECORDS = Counter(
    "matcher_records_total",
    "Consumed records by outcome (applied, stale, dead_lettered, ...).",
    ["topic", "outcome"],
)
CONSUMER_LAG = Gauge(
    "matcher_consumer_lag",
    "Records between the consumer position and the partition's high watermark.",
    ["topic", "partition"],
)
CONFLICTS = Counter(
    "matcher_allocation_conflicts_total",
    "Decisions re-taken because PostgreSQL showed an invoice's residual had moved.",
)
RETRIES = Counter(
    "matcher_record_retries_total",
    "Record processing retries, by kind (transient, error).",
    ["kind"],
)
DLQ = Counter("matcher_dead_lettered_total", "Records sent to a dead-letter topic.", ["topic"])
PAYMENT_LINKS = Counter(
    "matcher_payment_links_total",
    "v1/payment-links webhooks read, by outcome (applied, paid, stale).",
    ["outcome"],
)
OPEN_INVOICES = Gauge("matcher_cached_invoices", "Invoices in this replica's cache.")
API_AUTH_FAILURES = Counter(
    "matcher_api_auth_failures_total",
    "Review API requests refused with 401, by route template and reason (missing, invalid).",
    ["route", "reason"],
)
