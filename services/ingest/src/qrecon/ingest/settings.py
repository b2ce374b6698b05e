"""Settings of ``qonto-ingest`` (one pydantic-settings class, from the environment / ``.env``).

Connections and their secrets
-----------------------------
A *connection* is one Qonto webhook subscription (one organization, one secret), reached
at ``POST /webhooks/qonto/{connection_id}``; ``POST /webhooks/qonto`` is the connection
``default``.

* ``QONTO_WEBHOOK_SECRET``: the secret of ``default`` (with ``QONTO_ORGANIZATION_ID`` as its
  organization), the variable a Qonto user already has.
* ``INGEST_CONNECTIONS``: JSON object ``{"<connection_id>": {"secrets": ["…", "…"],
  "organization_id": "…"}}`` for other connections, or to add secrets to ``default``.
  Several secrets are valid at once: to rotate, add the new secret next to the old one,
  switch the subscription to it, then remove the old one. A string is accepted in place
  of the list (``{"acme": {"secrets": "…"}}``) and ``{"acme": "…"}`` is short for that.
* ``INGEST_WEBHOOK_SECRETS__<connection_id>``: one more secret for a connection, handy
  where JSON in an environment variable is awkward (``INGEST_WEBHOOK_SECRETS__acme=…``).
  The connection id is the part after ``__``, taken verbatim (case-sensitive). Read from
  the process environment only (not from ``.env`` files).

Connection ids are 1 to 64 characters among ``A-Z a-z 0-9 _ . -``. A request for a
connection that is not configured (or has no secret) is answered ``404
unknown_connection``: the id is not a secret (the HMAC is the protection) and a 404 makes
a wrong callback URL obvious in Qonto's delivery log.

Other variables (default):

=======================================  =================================================
``INGEST_HOST`` / ``INGEST_PORT``        listen address (127.0.0.1 / 8080)
``INGEST_MAX_BODY_BYTES``                body limit, 413 above (1048576)
``INGEST_MAX_RECORD_BYTES``              the Kafka record a webhook becomes must fit the
                                         broker's ``message.max.bytes``, 413 above (1000000)
``INGEST_SIGNATURE_TOLERANCE_SECONDS``   timestamp tolerance, past and future (300)
``INGEST_DURABLE_TIMEOUT_SECONDS``       longest wait for the inbox write, 503 after (3)
``INGEST_PG_POOL_SIZE``                  PostgreSQL connections (8)
``INGEST_INBOX_WRITERS``                 concurrent group-commit writers (1)
``INGEST_INBOX_BATCH_MAX``               most webhooks per inbox INSERT (256)
``INGEST_INBOX_GATHER_SECONDS``          wait before each INSERT for more webhooks (0.002)
``INGEST_RELAY_BATCH_SIZE``              most rows per relay transaction (500)
``INGEST_RELAY_POLL_INTERVAL_SECONDS``   relay poll when no NOTIFY comes (0.5)
``INGEST_RELAY_LINGER_SECONDS``          relay batching window after a NOTIFY (0.05)
``INGEST_RETENTION_HOURS``               published rows kept: the dedup window (168)
``INGEST_DRAIN_TIMEOUT_SECONDS``         relay drain at shutdown (10)
``INGEST_STARTUP_TIMEOUT_SECONDS``       wait for PostgreSQL at startup (60)
=======================================  =================================================

plus ``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL``, ``KAFKA_TOPIC_PREFIX``, ``LOG_LEVEL``,
``LOG_FORMAT`` from :class:`~qrecon.common.settings.ServiceSettings`.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from qrecon.common.settings import ENV_FILES, QontoSettings, ServiceSettings
from qrecon.ingest.app.ports import Connection

DEFAULT_CONNECTION = "default"
CONNECTION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SECRETS_ENV_PREFIX = "INGEST_WEBHOOK_SECRETS__"

# Bigger record batches than aiokafka's 16 KiB default: the relay hands the producer
# hundreds of ~2 KiB records at once.
PRODUCER_TUNING: dict[str, Any] = {"max_batch_size": 128 * 1024}
# How long the startup check of the topics may wait for an unresponsive Kafka.
TOPIC_CHECK_SECONDS = 10.0


class ConnectionConfig(BaseModel):
    secrets: list[SecretStr] = []
    organization_id: str | None = None

    @field_validator("secrets", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value


def _env(name: str, default: Any) -> Any:
    return Field(default, validation_alias=AliasChoices(name))


class IngestSettings(ServiceSettings, QontoSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILES, extra="ignore", populate_by_name=True)

    host: str = _env("INGEST_HOST", "127.0.0.1")
    port: int = _env("INGEST_PORT", 8080)
    # HTTP worker processes sharing the listening socket (uvicorn's supervisor restarts a
    # dead one). Each has its own inbox writer and relay; the relays claim disjoint batches.
    workers: int = Field(1, ge=1, validation_alias=AliasChoices("INGEST_WORKERS"))
    max_body_bytes: int = _env("INGEST_MAX_BODY_BYTES", 1024 * 1024)
    max_record_bytes: int = _env("INGEST_MAX_RECORD_BYTES", 1_000_000)
    signature_tolerance_seconds: float = _env("INGEST_SIGNATURE_TOLERANCE_SECONDS", 300.0)
    durable_timeout_seconds: float = _env("INGEST_DURABLE_TIMEOUT_SECONDS", 3.0)
    connections: dict[str, ConnectionConfig] = _env("INGEST_CONNECTIONS", {})
    pg_pool_size: int = _env("INGEST_PG_POOL_SIZE", 8)
    inbox_writers: int = _env("INGEST_INBOX_WRITERS", 1)
    inbox_batch_max: int = _env("INGEST_INBOX_BATCH_MAX", 256)
    inbox_gather_seconds: float = _env("INGEST_INBOX_GATHER_SECONDS", 0.002)
    relay_batch_size: int = _env("INGEST_RELAY_BATCH_SIZE", 500)
    relay_poll_interval_seconds: float = _env("INGEST_RELAY_POLL_INTERVAL_SECONDS", 0.5)
    relay_linger_seconds: float = _env("INGEST_RELAY_LINGER_SECONDS", 0.05)
    retention_hours: float = _env("INGEST_RETENTION_HOURS", 168.0)
    drain_timeout_seconds: float = _env("INGEST_DRAIN_TIMEOUT_SECONDS", 10.0)
    startup_timeout_seconds: float = _env("INGEST_STARTUP_TIMEOUT_SECONDS", 60.0)

    @field_validator("connections", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"secrets": v} if isinstance(v, str | list) else v for k, v in value.items()}
        return value

    @field_validator("connections")
    @classmethod
    def _ids(cls, value: dict[str, ConnectionConfig]) -> dict[str, ConnectionConfig]:
        for connection_id in value:
            if not CONNECTION_ID.match(connection_id):
                raise ValueError(f"invalid connection id {connection_id!r}")
        return value

    def resolve_connections(self, environ: dict[str, str] | None = None) -> dict[str, Connection]:
        """Every configured connection with at least one secret, by id."""
        env = dict(os.environ) if environ is None else environ
        secrets: dict[str, list[str]] = {}
        orgs: dict[str, str | None] = {}
        if self.webhook_secret is not None and self.webhook_secret.get_secret_value():
            secrets.setdefault(DEFAULT_CONNECTION, []).append(
                self.webhook_secret.get_secret_value()
            )
        orgs[DEFAULT_CONNECTION] = self.effective_organization_id
        for connection_id, config in self.connections.items():
            bucket = secrets.setdefault(connection_id, [])
            bucket.extend(s.get_secret_value() for s in config.secrets)
            if config.organization_id is not None:
                orgs[connection_id] = config.organization_id
        for name, value in sorted(env.items()):
            if name.upper().startswith(SECRETS_ENV_PREFIX) and value:
                connection_id = name[len(SECRETS_ENV_PREFIX) :]
                if not CONNECTION_ID.match(connection_id):
                    raise ValueError(f"invalid connection id in {name}")
                secrets.setdefault(connection_id, []).append(value)
        resolved: dict[str, Connection] = {}
        for connection_id, values in secrets.items():
            unique = tuple(dict.fromkeys(v.encode() for v in values if v))
            if unique:
                resolved[connection_id] = Connection(
                    id=connection_id, secrets=unique, organization_id=orgs.get(connection_id)
                )
        return resolved
