"""Consent revocations and the state of a connection. No I/O.

Qonto sends ``v1/consent-revocations`` when a user revokes the app's access to their
organisation (``data: {client_id, revoked_at}``, no ``data.id``; docs: supported-webhooks/
v1-consent-revocations). Ingest verifies it and puts it on ``qonto.events.v1`` as received,
with the ``connection-id`` header of the callback URL it came to. A revocation stops the
connections it names; their data (watermarks, versions, tokens) is kept.

Which connections a revocation names: the one of the ``connection-id`` header, and every
connection of the same organisation (``organization_id`` of the envelope, compared with
the organisation the connection is configured with or discovered); an OAuth connection of
another OAuth client (``data.client_id``) is not touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

CONSENT_REVOCATIONS = "v1/consent-revocations"

ConnectionStateName = Literal["polling", "backfilling", "revoked", "failing"]
CONNECTION_STATES: tuple[ConnectionStateName, ...] = (
    "polling",
    "backfilling",
    "revoked",
    "failing",
)


@dataclass(frozen=True, slots=True)
class ConsentRevocation:
    """A verified ``v1/consent-revocations`` webhook, as sync needs it."""

    event_id: str
    organization_id: str | None
    client_id: str | None
    revoked_at: datetime
    connection_id: str | None  # the ingest connection it came through (header)


@dataclass(frozen=True, slots=True)
class ConnectionIdentity:
    """What a revocation is matched against."""

    id: str
    organization_ids: frozenset[str]  # configured and/or discovered
    oauth_client_id: str | None  # None: an API-key connection


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_consent_revocation(
    envelope: Any, *, connection_id: str | None, received_at: datetime
) -> ConsentRevocation | None:
    """The revocation a webhook envelope carries; None for any other event type. An
    unreadable ``revoked_at`` becomes ``received_at`` (the revocation itself is certain)."""
    if not isinstance(envelope, Mapping) or envelope.get("type") != CONSENT_REVOCATIONS:
        return None
    event_id = _text(envelope.get("id"))
    if event_id is None:
        return None
    data = envelope.get("data")
    data = data if isinstance(data, Mapping) else {}
    revoked_at = received_at
    raw = _text(data.get("revoked_at"))
    if raw is not None:
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            revoked_at = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return ConsentRevocation(
        event_id=event_id,
        organization_id=_text(envelope.get("organization_id")),
        client_id=_text(data.get("client_id")),
        revoked_at=revoked_at.astimezone(UTC),
        connection_id=connection_id,
    )


def revoked_connections(
    revocation: ConsentRevocation, connections: Iterable[ConnectionIdentity]
) -> list[str]:
    """The ids of the connections the revocation stops (sorted)."""
    hit: set[str] = set()
    for conn in connections:
        named = revocation.connection_id is not None and conn.id == revocation.connection_id
        same_org = (
            revocation.organization_id is not None
            and revocation.organization_id in conn.organization_ids
        )
        if not (named or same_org):
            continue
        other_client = (
            conn.oauth_client_id is not None
            and revocation.client_id is not None
            and conn.oauth_client_id != revocation.client_id
        )
        if other_client:
            continue
        hit.add(conn.id)
    return sorted(hit)


def connection_state(*, revoked: bool, failing: bool, catching_up: bool) -> ConnectionStateName:
    """One word for ``/readyz`` and the ``qonto_sync_connection_state`` gauge."""
    if revoked:
        return "revoked"
    if failing:
        return "failing"
    if catching_up:
        return "backfilling"
    return "polling"


def is_catching_up(cursor: datetime, now: datetime, behind: float) -> bool:
    """A sweep whose cursor is more than ``behind`` seconds behind ``now`` is catching up
    (a new connection's history): its requests yield to the live gap-fills."""
    return (now - cursor).total_seconds() > behind
