"""A consent revocation: which connections it stops, recorded for every replica.

``adapters.events`` reads ``v1/consent-revocations`` from ``qonto.events.v1`` (one replica
of the consumer group gets each) and calls ``record_revocation``; the row it writes is what
every replica's ``Supervisor`` reads (``Supervisor.refresh_revocations``) to stop polling
the connection. Recording is idempotent: a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from qrecon.common.logging import get_logger
from qrecon.sync.app.ports import Revocations
from qrecon.sync.core.revocation import (
    ConnectionIdentity,
    ConsentRevocation,
    revoked_connections,
)

log = get_logger(__name__)


async def record_revocation(
    revocation: ConsentRevocation,
    *,
    connections: Iterable[ConnectionIdentity],
    store: Revocations,
) -> list[str]:
    """Record the revocation of every connection it names; returns the newly revoked."""
    named = revoked_connections(revocation, connections)
    if not named:
        log.warning(
            "consent_revocation_unmatched",
            event_id=revocation.event_id,
            organization_id=revocation.organization_id,
            ingest_connection=revocation.connection_id,
        )
        return []
    newly = [cid for cid in named if await store.revoke(cid, revocation)]
    for cid in newly:
        log.warning(
            "connection_consent_revoked",
            connection_id=cid,
            event_id=revocation.event_id,
            revoked_at=revocation.revoked_at.isoformat(),
        )
    return newly
