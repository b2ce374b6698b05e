"""``SyncSettings``: every knob of qonto-sync, from the environment (and ``.env`` files).

Connections (organizations) to poll:

* the **default connection**, id ``default`` (``SYNC_DEFAULT_CONNECTION_ID``), from the
  ``QONTO_*`` variables a Qonto user already has (``QONTO_ORGANIZATION_ID`` +
  ``QONTO_API_KEY``, the ``QONTO_SANDBOX_*`` ones when ``QONTO_ENVIRONMENT=sandbox``, or
  ``QONTO_CLIENT_ID``/``QONTO_CLIENT_SECRET`` for OAuth); it is skipped when no credential
  is set;
* plus ``SYNC_CONNECTIONS``, a JSON list, one object per further organization::

    [{"id": "acme", "organization_id": "acme-sas-1234", "api_key": "<secret key>"},
     {"id": "beta", "auth": "oauth", "client_id": "...", "client_secret": "...",
      "refresh_token": "<seed, used only if none is stored yet>",
      "environment": "sandbox", "staging_token": "...",
      "bank_account_ids": ["..."], "invoices": true}]

  ``auth`` is ``api_key`` (``organization_id`` is the login, ``api_key`` the secret key)
  or ``oauth`` (tokens kept in PostgreSQL, table ``qonto_oauth_tokens``, per connection
  id). ``api_base_url``/``oauth_base_url`` override the hosts (e.g. the emulator).
  Secrets are ``SecretStr``: they never print.

Every event a connection publishes carries its organisation: the id Qonto reports
(``GET /v2/organization``, the id of the webhooks too), else the configured
``organization_id`` (when the organisation cannot be read).

All connections of a process share one rate budget (``SYNC_RATE_LIMITS``, Qonto's per-IP
limits by default: give each replica a fraction when several run behind one IP), shared
fairly (``qrecon.common.qonto.fairshare``: live gap-fill first, then connections in turn).

Replicas share the work through leases in PostgreSQL (``SYNC_LEASE_TTL_SECONDS``,
``SYNC_LEASE_RENEW_SECONDS``, ``SYNC_REPLICA_ID``; see ``qrecon.sync.app.ownership``).
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from qrecon.common.settings import (
    ENV_FILES,
    QontoSettings,
    ServiceSettings,
    qonto_api_base_url,
    qonto_oauth_base_url,
    qonto_oauth_token_url,
)
from qrecon.common.timeutil import ensure_aware
from qrecon.sync.core.sweep import QONTO_EPOCH

# Kafka producer of ``run`` and ``backfill``: a page is published as one burst of up to 100
# records, let them share produce requests.
PRODUCER_TUNING: dict[str, Any] = {"max_batch_size": 1 << 20, "linger_ms": 2}


class ConnectionSpec(BaseModel):
    """One organization to poll (an entry of ``SYNC_CONNECTIONS``)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    auth: Literal["api_key", "oauth"] = "api_key"
    organization_id: str | None = None
    api_key: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    environment: Literal["production", "sandbox"] = "production"
    staging_token: SecretStr | None = None
    api_base_url: str | None = None
    oauth_base_url: str | None = None
    # None: QONTO_OAUTH_TOKEN_PATH (``/oauth2/token``; the newer reference: /v2/oauth2/token)
    oauth_token_path: str | None = Field(None, pattern=r"^/[^?#\s]*$")
    bank_account_ids: list[str] | None = None
    invoices: bool | None = None  # None: follow SYNC_INVOICES_ENABLED

    @model_validator(mode="after")
    def _credentials(self) -> ConnectionSpec:
        if self.auth == "api_key":
            key = self.api_key.get_secret_value() if self.api_key else ""
            if not key:
                raise ValueError(f"connection {self.id!r}: api_key is required")
            if ":" in key and not self.organization_id:
                login, _, secret = key.partition(":")  # "login:secret" in one value
                self.organization_id = login
                self.api_key = SecretStr(secret)
            if not self.organization_id:
                raise ValueError(f"connection {self.id!r}: organization_id (the login) is needed")
        elif not (self.client_id and self.client_secret):
            raise ValueError(f"connection {self.id!r}: oauth needs client_id and client_secret")
        return self

    @property
    def is_sandbox(self) -> bool:
        return self.environment == "sandbox"

    @property
    def effective_api_base_url(self) -> str:
        return qonto_api_base_url(self.environment, self.api_base_url)

    @property
    def effective_oauth_base_url(self) -> str:
        return qonto_oauth_base_url(self.environment, self.oauth_base_url, self.api_base_url)

    def oauth_token_url(self, default_path: str) -> str:
        """The token endpoint: this connection's ``oauth_token_path``, else ``default_path``
        (``QONTO_OAUTH_TOKEN_PATH``), on its OAuth host."""
        return qonto_oauth_token_url(
            self.effective_oauth_base_url, self.oauth_token_path or default_path
        )


class SyncSettings(ServiceSettings, QontoSettings):
    """Settings of qonto-sync (``SYNC_*``), with the shared infrastructure and Qonto ones."""

    model_config = SettingsConfigDict(env_file=ENV_FILES, extra="ignore", populate_by_name=True)

    # Connections
    connections: list[ConnectionSpec] = Field(
        default_factory=list, validation_alias=AliasChoices("SYNC_CONNECTIONS")
    )
    default_connection_id: str = Field("default", validation_alias="SYNC_DEFAULT_CONNECTION_ID")
    default_bank_account_ids: list[str] | None = Field(
        None, validation_alias="SYNC_BANK_ACCOUNT_IDS"
    )

    # Continuous gap-fill
    poll_interval: float = Field(60.0, gt=0, validation_alias="SYNC_POLL_INTERVAL_SECONDS")
    poll_jitter: float = Field(0.2, ge=0, le=1, validation_alias="SYNC_POLL_JITTER")
    overlap: float = Field(600.0, ge=0, validation_alias="SYNC_OVERLAP_SECONDS")
    settle_delay: float = Field(5.0, ge=0, validation_alias="SYNC_SETTLE_DELAY_SECONDS")
    initial_watermark: datetime = Field(QONTO_EPOCH, validation_alias="SYNC_INITIAL_WATERMARK")
    per_page: int = Field(100, ge=1, le=100, validation_alias="SYNC_PER_PAGE")
    # One cheap request per connection; a transaction on a newly opened account waits this long.
    accounts_refresh: float = Field(300.0, gt=0, validation_alias="SYNC_ACCOUNTS_REFRESH_SECONDS")
    error_backoff_max: float = Field(300.0, gt=0, validation_alias="SYNC_ERROR_BACKOFF_MAX_SECONDS")
    prefetch: bool = Field(True, validation_alias="SYNC_PREFETCH")
    # One transaction status per request (pending, declined, completed), each with its own
    # watermark: Qonto answers a multi-status request with one status only. false: the old
    # single request listing the three statuses (for an API that honours them all).
    status_per_request: bool = Field(True, validation_alias="SYNC_STATUS_PER_REQUEST")
    # On SIGTERM: how long the pages being published may take before their tasks are cancelled.
    shutdown_timeout: float = Field(60.0, gt=0, validation_alias="SYNC_SHUTDOWN_TIMEOUT_SECONDS")

    # Shared rate budget: "1000/10,10000/600" (requests/seconds, comma separated)
    rate_limits: str = Field("1000/10,10000/600", validation_alias="SYNC_RATE_LIMITS")

    # Consent revocations (a consumer of qonto.events.v1; v1/consent-revocations stops a
    # connection's polling) and how often every replica re-reads the revoked connections.
    revocations_enabled: bool = Field(True, validation_alias="SYNC_CONSENT_REVOCATIONS")
    events_consumer_group: str = Field(
        "qonto-sync-events", validation_alias="SYNC_EVENTS_CONSUMER_GROUP"
    )
    revocations_refresh: float = Field(
        5.0, gt=0, validation_alias="SYNC_REVOCATIONS_REFRESH_SECONDS"
    )
    # Fair share: a sweep whose cursor is further behind now than this is catching up (a
    # new connection's history) and yields the shared budget to live gap-fills.
    catch_up_after: float = Field(3600.0, gt=0, validation_alias="SYNC_CATCH_UP_AFTER_SECONDS")

    # Seen versions (a consumer of qonto.transactions.v1)
    consumer_group: str = Field("qonto-sync-seen", validation_alias="SYNC_CONSUMER_GROUP")
    seen_consumer_enabled: bool = Field(True, validation_alias="SYNC_SEEN_CONSUMER")

    # Invoices
    invoices_enabled: bool = Field(False, validation_alias="SYNC_INVOICES_ENABLED")
    invoices_interval: float = Field(300.0, gt=0, validation_alias="SYNC_INVOICES_INTERVAL_SECONDS")

    # For tests, demos and replays only (never in production): sync's clock starts at this
    # aware ISO instant (naive is UTC) and advances with real elapsed time from there; the
    # sweeps' ends, an open backfill's end and revocations' arrival read it. Unset: the
    # wall clock. A warning is logged at start when it is set.
    clock_start: datetime | None = Field(None, validation_alias="SYNC_CLOCK_START")

    # Backfill
    backfill_window_days: float = Field(31.0, gt=0, validation_alias="SYNC_BACKFILL_WINDOW_DAYS")

    # Ownership among replicas (leases in PostgreSQL)
    replica_id: str | None = Field(
        None, min_length=1, max_length=200, validation_alias="SYNC_REPLICA_ID"
    )
    lease_ttl: float = Field(15.0, gt=0, validation_alias="SYNC_LEASE_TTL_SECONDS")
    lease_renew: float | None = Field(None, gt=0, validation_alias="SYNC_LEASE_RENEW_SECONDS")

    # HTTP (health, readiness, metrics)
    http_host: str = Field("127.0.0.1", validation_alias="SYNC_HOST")
    http_port: int = Field(8081, ge=0, le=65535, validation_alias="SYNC_PORT")
    # Bearer token of /v1/status (accounts, replicas, errors); unset: that route is 404.
    admin_token: SecretStr | None = Field(None, validation_alias="SYNC_ADMIN_TOKEN")

    @field_validator("initial_watermark")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return max(ensure_aware(value), QONTO_EPOCH)

    @field_validator("clock_start")
    @classmethod
    def _aware_start(cls, value: datetime | None) -> datetime | None:
        return None if value is None else ensure_aware(value)

    @field_validator("rate_limits")
    @classmethod
    def _limits_parse(cls, value: str) -> str:
        parse_rate_limits(value)
        return value

    @model_validator(mode="after")
    def _lease_timing(self) -> SyncSettings:
        if self.lease_renew is not None and self.lease_renew * 2 > self.lease_ttl:
            raise ValueError(
                "SYNC_LEASE_RENEW_SECONDS must be at most half of SYNC_LEASE_TTL_SECONDS"
            )
        return self

    @property
    def lease_renew_interval(self) -> float:
        """How often leases are renewed and free ones looked for (``ttl / 3`` by default)."""
        return self.lease_renew if self.lease_renew is not None else self.lease_ttl / 3.0

    @cached_property
    def effective_replica_id(self) -> str:
        """``SYNC_REPLICA_ID``, or ``<host>-<pid>-<random>`` (unique per process)."""
        if self.replica_id:
            return self.replica_id
        return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"

    @property
    def overlap_delta(self) -> timedelta:
        return timedelta(seconds=self.overlap)

    @property
    def settle_delta(self) -> timedelta:
        return timedelta(seconds=self.settle_delay)

    @property
    def backfill_window(self) -> timedelta:
        return timedelta(days=self.backfill_window_days)

    @property
    def rate_limit_pairs(self) -> tuple[tuple[int, float], ...]:
        return parse_rate_limits(self.rate_limits)

    def has_default_connection(self) -> bool:
        oauth = bool(self.client_id and self.client_secret)
        api_key = bool(self.effective_api_key and self.effective_organization_id)
        return oauth or api_key

    def all_connection_ids(self) -> list[str]:
        ids = [self.default_connection_id] if self.has_default_connection() else []
        ids.extend(c.id for c in self.connections)
        return ids

    def required_topics(self) -> list[str]:
        """The topics sync publishes (and dead-letters) to, checked at startup."""
        t = self.topics
        names = [t.transactions, t.dlq(t.transactions)]
        if self.revocations_enabled:
            names.append(t.qonto_events)
        if self.invoices_enabled:
            names.append(t.invoices)
        return names

    @model_validator(mode="after")
    def _unique_ids(self) -> SyncSettings:
        ids = self.all_connection_ids()
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"connection ids must be unique: {sorted(duplicates)}")
        return self


def parse_rate_limits(text: str) -> tuple[tuple[int, float], ...]:
    """``"1000/10,10000/600"`` -> ``((1000, 10.0), (10000, 600.0))``; ``""`` is unlimited."""
    pairs: list[tuple[int, float]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        count, sep, seconds = part.partition("/")
        if not sep:
            raise ValueError(f"a rate limit is 'requests/seconds', got {part!r}")
        pairs.append((int(count), float(seconds)))
    return tuple(pairs)
