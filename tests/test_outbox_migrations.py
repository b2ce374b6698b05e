"""Upgrading a live outbox (ingest's inbox, the matcher's outbox) to the pending table.

A database of the previous schema (``published_at`` column) holds published and pending
rows; after the migration exactly the unpublished ones are pending, a plain INSERT (an
older writer) is enqueued by the trigger, and the column is gone.
"""

from __future__ import annotations

import asyncpg
import pytest

from qrecon.common.db import apply_migrations, load_migrations

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("component", "package", "table"),
    [
        ("ingest", "qrecon.ingest.migrations", "ingest_inbox"),
        ("matcher", "qrecon.matcher.migrations", "matcher_outbox"),
    ],
)
async def test_pending_rows_survive_the_upgrade(
    pool: asyncpg.Pool, component: str, package: str, table: str
) -> None:
    migrations = load_migrations(component, package)
    first, rest = migrations[:1], migrations[1:]
    async with pool.acquire() as conn:
        await apply_migrations(conn, first)
        columns = "topic, value" + (
            ", connection_id, event_id, event_type" if component == "ingest" else ""
        )
        values = "'t', 'v'::bytea" + (", 'default', 'e' || n, 'x'" if component == "ingest" else "")
        await conn.execute(
            f"INSERT INTO {table} ({columns}) SELECT {values} FROM generate_series(1, 5) AS n"
        )
        await conn.execute(f"UPDATE {table} SET published_at = now() WHERE id IN (1, 3)")
        assert await apply_migrations(conn, rest) == [f"{component}/{m.name}" for m in rest]
        pending = [r["id"] for r in await conn.fetch(f"SELECT id FROM {table}_pending ORDER BY id")]
        assert pending == [2, 4, 5]
        await conn.execute(
            f"INSERT INTO {table} ({columns}) SELECT {values} FROM generate_series(6, 6) AS n"
        )
        assert await conn.fetchval(f"SELECT max(id) FROM {table}_pending") == 6
        has_column = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = $1 AND column_name = 'published_at'",
            table,
        )
        assert has_column == 0
