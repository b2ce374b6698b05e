"""Revoked connections in PostgreSQL (``sync_connection_revocations``, migration 0004)."""

from __future__ import annotations

import asyncpg

from qrecon.sync.core.revocation import ConsentRevocation


class RevocationStore:
    """The ``Revocations`` port."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def revoke(self, connection_id: str, revocation: ConsentRevocation) -> bool:
        status = await self.pool.execute(
            """
            INSERT INTO sync_connection_revocations
                (connection_id, organization_id, client_id, revoked_at, event_id)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (connection_id) DO NOTHING
            """,
            connection_id,
            revocation.organization_id,
            revocation.client_id,
            revocation.revoked_at,
            revocation.event_id,
        )
        return bool(status.endswith(" 1"))

    async def revoked(self) -> dict[str, ConsentRevocation]:
        rows = await self.pool.fetch(
            "SELECT connection_id, organization_id, client_id, revoked_at, event_id"
            " FROM sync_connection_revocations"
        )
        return {
            r["connection_id"]: ConsentRevocation(
                event_id=r["event_id"],
                organization_id=r["organization_id"],
                client_id=r["client_id"],
                revoked_at=r["revoked_at"],
                connection_id=r["connection_id"],
            )
            for r in rows
        }

    async def reinstate(self, connection_id: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM sync_connection_revocations WHERE connection_id = $1", connection_id
        )
        return bool(status.endswith(" 1"))
