"""``MatcherSettings``: the one settings class of ``qonto-matcher run`` (environment, ``.env``)."""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr

from qrecon.common.settings import ServiceSettings


def _default_client_id() -> str:
    return f"qonto-matcher-{socket.gethostname()}-{os.getpid()}"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class MatcherSettings(ServiceSettings):
    """Everything ``qonto-matcher run`` reads, with its environment variable."""

    host: str = Field("127.0.0.1", validation_alias=_env("MATCHER_HOST"))
    port: int = Field(8082, validation_alias=_env("MATCHER_PORT"))
    api_token: SecretStr | None = Field(None, validation_alias=_env("MATCHER_API_TOKEN"))
    api_enabled: bool = Field(True, validation_alias=_env("MATCHER_API_ENABLED"))

    # The organisation of an event that names none (and of the state kept before
    # organisations existed, adopted at startup). Unset: such events are dead-lettered.
    default_organization: str | None = Field(
        None, min_length=1, max_length=255, validation_alias=_env("MATCHER_DEFAULT_ORGANIZATION")
    )

    group_id: str = Field("qonto-matcher", validation_alias=_env("MATCHER_GROUP_ID"))
    client_id: str = Field(
        default_factory=_default_client_id, validation_alias=_env("MATCHER_CLIENT_ID")
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", validation_alias=_env("MATCHER_AUTO_OFFSET_RESET")
    )
    # Rebalances (a replica joins or leaves) complete within about one heartbeat.
    heartbeat_interval_ms: int = Field(
        1000, ge=100, validation_alias=_env("MATCHER_HEARTBEAT_INTERVAL_MS")
    )
    session_timeout_ms: int = Field(
        10000, ge=1000, validation_alias=_env("MATCHER_SESSION_TIMEOUT_MS")
    )
    batch_size: int = Field(200, ge=1, validation_alias=_env("MATCHER_BATCH_SIZE"))
    # Records of different transactions processed at once within a batch (same key: in order).
    concurrency: int = Field(4, ge=1, le=64, validation_alias=_env("MATCHER_CONCURRENCY"))
    # Poison handling: attempts of a failing record before it goes to <topic>.dlq.
    max_attempts: int = Field(3, ge=1, validation_alias=_env("MATCHER_MAX_ATTEMPTS"))
    retry_backoff_seconds: float = Field(
        0.2, ge=0, validation_alias=_env("MATCHER_RETRY_BACKOFF_SECONDS")
    )
    # The longest wait between two retries of a record failing on a transient error.
    max_transient_backoff_seconds: float = Field(
        5.0, gt=0, validation_alias=_env("MATCHER_MAX_TRANSIENT_BACKOFF_SECONDS")
    )
    # Optimistic allocation: decisions re-taken after a conflict on an invoice's residual.
    conflict_retries: int = Field(8, ge=0, validation_alias=_env("MATCHER_CONFLICT_RETRIES"))

    # Shadow mode (false): the engine's auto_matched decisions are published as suggested
    # (reason matcher.shadow_mode), so nothing is matched without a reviewer.
    auto_match: bool = Field(True, validation_alias=_env("MATCHER_AUTO_MATCH"))

    # Qonto payment links (v1/payment-links webhooks on qonto.events.v1) as evidence: a
    # credit of a paid link's amount, settled from PAYMENT_LINK_DAYS_BEFORE days before to
    # PAYMENT_LINK_DAYS_AFTER days after the link was paid, pays the link's invoice.
    payment_links: bool = Field(True, validation_alias=_env("MATCHER_PAYMENT_LINKS"))
    # qonto.events.v1 is read in a consumer group of its own (its offsets apart from the
    # transactions' and invoices').
    events_group_id: str = Field(
        "qonto-matcher-events", validation_alias=_env("MATCHER_EVENTS_CONSUMER_GROUP")
    )
    payment_link_days_before: float = Field(
        1.0, ge=0, le=30, validation_alias=_env("MATCHER_PAYMENT_LINK_DAYS_BEFORE")
    )
    payment_link_days_after: float = Field(
        5.0, ge=0, le=60, validation_alias=_env("MATCHER_PAYMENT_LINK_DAYS_AFTER")
    )

    reexamine_days: int = Field(180, ge=0, validation_alias=_env("MATCHER_REEXAMINE_DAYS"))
    reexamine_limit: int = Field(2000, ge=0, validation_alias=_env("MATCHER_REEXAMINE_LIMIT"))

    cache_refresh_seconds: float = Field(
        1.0, gt=0, validation_alias=_env("MATCHER_CACHE_REFRESH_SECONDS")
    )
    cache_full_reload_seconds: float = Field(
        300.0, gt=0, validation_alias=_env("MATCHER_CACHE_FULL_RELOAD_SECONDS")
    )
    # The incremental refresh re-reads rows changed this long before its last read (rows
    # stamped early and committed late are not missed).
    cache_refresh_overlap_seconds: float = Field(
        5.0, ge=0, validation_alias=_env("MATCHER_CACHE_REFRESH_OVERLAP_SECONDS")
    )
    sweep_seconds: float = Field(5.0, gt=0, validation_alias=_env("MATCHER_SWEEP_SECONDS"))
    # Transactions flagged needs_redecide decided again per sweep.
    sweep_limit: int = Field(100, ge=1, validation_alias=_env("MATCHER_SWEEP_LIMIT"))
    lag_seconds: float = Field(5.0, gt=0, validation_alias=_env("MATCHER_LAG_SECONDS"))

    db_pool_size: int = Field(10, ge=2, validation_alias=_env("MATCHER_DB_POOL_SIZE"))
    # The review API's own pool, apart from the consumers' (review traffic cannot starve them).
    api_pool_size: int = Field(3, ge=1, le=100, validation_alias=_env("MATCHER_API_POOL_SIZE"))
    # The largest request body the review API reads (413 above it, before reading it all).
    api_max_body_bytes: int = Field(
        1 << 20, ge=1024, validation_alias=_env("MATCHER_API_MAX_BODY_BYTES")
    )
    outbox_poll_seconds: float = Field(
        0.5, gt=0, validation_alias=_env("MATCHER_OUTBOX_POLL_SECONDS")
    )
    # Published outbox rows are deleted after this many days.
    outbox_retention_days: float = Field(
        7.0, gt=0, validation_alias=_env("MATCHER_OUTBOX_RETENTION_DAYS")
    )
    # How soon another replica takes over the outbox relay when its leader is gone.
    relay_retry_seconds: float = Field(
        1.0, gt=0, validation_alias=_env("MATCHER_RELAY_RETRY_SECONDS")
    )
    shutdown_timeout_seconds: float = Field(
        20.0, gt=0, validation_alias=_env("MATCHER_SHUTDOWN_TIMEOUT_SECONDS")
    )
