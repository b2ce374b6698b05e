"""Prometheus metrics of qonto-sync (one registry per service instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SyncMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.lag = Gauge(
            "qonto_sync_lag_seconds",
            "How far behind now the fully synced updated_at range ends",
            ["connection", "bank_account"],
            registry=r,
        )
        self.watermark = Gauge(
            "qonto_sync_watermark_timestamp_seconds",
            "Unix time up to which every version is on the topic",
            ["connection", "bank_account"],
            registry=r,
        )
        self.api_requests = Counter(
            "qonto_sync_api_requests_total",
            "HTTP requests sent to Qonto (retries included), by status code",
            ["connection", "endpoint", "status"],
            registry=r,
        )
        self.api_rate_limited = Counter(
            "qonto_sync_api_rate_limited_total",
            "Qonto answers 429 Too Many Requests",
            ["connection"],
            registry=r,
        )
        self.api_latency = Histogram(
            "qonto_sync_api_request_seconds",
            "Duration of HTTP requests to Qonto",
            ["connection", "endpoint"],
            registry=r,
        )
        self.published = Counter(
            "qonto_sync_versions_published_total",
            "Transaction versions sync published on qonto.transactions.v1",
            ["connection", "source"],
            registry=r,
        )
        self.skipped_seen = Counter(
            "qonto_sync_versions_skipped_total",
            "Polled versions not published because already on the topic (or older)",
            ["connection", "source"],
            registry=r,
        )
        self.redundant = Counter(
            "qonto_sync_redundant_publishes_total",
            "Versions sync published that another event had already delivered (or stale)",
            ["source"],
            registry=r,
        )
        self.delivered_first = Counter(
            "qonto_sync_delivered_before_webhook_total",
            "Versions sync published before the webhook carrying them reached the topic",
            registry=r,
        )
        self.observed = Counter(
            "qonto_sync_observed_versions_total",
            "Versions read back from qonto.transactions.v1 by sync's consumer",
            ["source", "outcome"],
            registry=r,
        )
        self.unparseable = Counter(
            "qonto_sync_unparseable_transactions_total",
            "API items that do not parse as a transaction (sent to the DLQ)",
            ["connection"],
            registry=r,
        )
        self.unauthorized = Counter(
            "qonto_sync_http_unauthorized_total",
            "Requests to /v1/status refused for a missing or wrong SYNC_ADMIN_TOKEN",
            registry=r,
        )
        self.pages = Counter(
            "qonto_sync_pages_total",
            "Pages of transactions read",
            ["connection", "kind"],
            registry=r,
        )
        self.sweeps = Counter(
            "qonto_sync_sweeps_total",
            "Sweeps by outcome",
            ["connection", "outcome"],
            registry=r,
        )
        self.errors = Counter(
            "qonto_sync_errors_total",
            "Failures of a connection's work, by error type",
            ["connection", "kind", "error"],
            registry=r,
        )
        self.invoices_published = Counter(
            "qonto_sync_invoices_published_total",
            "Invoice events published on invoices.v1",
            ["connection", "qonto_kind", "event_type"],
            registry=r,
        )
        self.invoices_skipped = Counter(
            "qonto_sync_invoices_skipped_total",
            "Qonto invoices not published (unchanged, draft, incomplete)",
            ["connection", "qonto_kind", "reason"],
            registry=r,
        )
        self.lease_owned = Gauge(
            "qonto_sync_lease_owned",
            "1 while this replica owns the work (summed over replicas: 1 per unit of work)",
            ["kind", "connection", "bank_account"],
            registry=r,
        )
        self.lease_changes = Counter(
            "qonto_sync_lease_changes_total",
            "Leases acquired, released, lost (taken over) or expired (renewals failing)",
            ["kind", "connection", "change"],
            registry=r,
        )
        self.replicas_live = Gauge(
            "qonto_sync_replicas_live",
            "Live qonto-sync replicas sharing the work, as this one last saw them",
            registry=r,
        )
        self.connection_state = Gauge(
            "qonto_sync_connection_state",
            "1 for the state each connection is in (polling, backfilling, revoked, failing)",
            ["connection", "state"],
            registry=r,
        )
        self.revocations = Counter(
            "qonto_sync_consent_revocations_total",
            "v1/consent-revocations webhooks read, by outcome (revoked, unmatched, invalid)",
            ["outcome"],
            registry=r,
        )
        self.rate_granted = Gauge(
            "qonto_sync_rate_limiter_granted_total",
            "Requests each connection drew from the shared rate budget",
            ["connection"],
            registry=r,
        )
        self.rate_wait = Gauge(
            "qonto_sync_rate_limiter_wait_seconds_total",
            "Seconds requests waited for the shared rate budget",
            registry=r,
        )
