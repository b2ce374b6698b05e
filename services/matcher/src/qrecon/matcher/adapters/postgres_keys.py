"""Review API keys in PostgreSQL (``matcher_api_keys``, migration 0005): implements
:class:`qrecon.matcher.app.ports.KeyStore` on a pool."""

from __future__ import annotations

import asyncpg

from qrecon.matcher.app.ports import ApiKeyRecord

_COLUMNS = "key_id, digest, organization_id, name, admin, created_at, revoked_at"


def _key(row: asyncpg.Record) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row["key_id"],
        digest=bytes(row["digest"]),
        organization_id=row["organization_id"],
        name=row["name"],
        admin=row["admin"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class PgKeyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def insert_key(
        self, key_id: str, digest: bytes, organization: str, name: str, admin: bool
    ) -> None:
        await self.pool.execute(
            "INSERT INTO matcher_api_keys (key_id, digest, organization_id, name, admin)"
            " VALUES ($1, $2, $3, $4, $5)",
            key_id,
            digest,
            organization,
            name,
            admin,
        )

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM matcher_api_keys WHERE key_id = $1",  # noqa: S608
            key_id,
        )
        return None if row is None else _key(row)

    async def revoke_key(self, key_id: str) -> bool:
        status = await self.pool.execute(
            "UPDATE matcher_api_keys SET revoked_at = now()"
            " WHERE key_id = $1 AND revoked_at IS NULL",
            key_id,
        )
        return bool(int(status.split()[-1]))

    async def list_keys(self, organization: str | None) -> list[ApiKeyRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM matcher_api_keys"  # noqa: S608
            " WHERE $1::text IS NULL OR organization_id = $1"
            " ORDER BY organization_id, created_at, key_id",
            organization,
        )
        return [_key(row) for row in rows]

    async def organizations(self) -> list[str]:
        """Every organisation the matcher holds state of, or has keys for.

        A loose index scan of the primary keys (which lead with ``organization_id``): one
        index probe per organisation, not a scan of every invoice and transaction.
        """
        rows = await self.pool.fetch(
            """
            WITH RECURSIVE inv(o) AS (
                SELECT min(organization_id) FROM matcher_invoices
                UNION ALL
                SELECT (SELECT min(organization_id) FROM matcher_invoices
                        WHERE organization_id > inv.o)
                FROM inv WHERE inv.o IS NOT NULL
            ), txs(o) AS (
                SELECT min(organization_id) FROM matcher_transactions
                UNION ALL
                SELECT (SELECT min(organization_id) FROM matcher_transactions
                        WHERE organization_id > txs.o)
                FROM txs WHERE txs.o IS NOT NULL
            )
            SELECT o AS organization_id FROM inv WHERE o IS NOT NULL
            UNION SELECT o FROM txs WHERE o IS NOT NULL
            UNION SELECT organization_id FROM matcher_api_keys
            ORDER BY 1
            """
        )
        return [row["organization_id"] for row in rows if row["organization_id"]]
