"""Migrations against a real PostgreSQL: in order, once, and refusing edited history."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from qrecon.common.db import MigrationError, apply_migrations, create_pool, load_migrations

pytestmark = pytest.mark.integration


@pytest.fixture
def migrations_package(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    name = f"migr_{uuid.uuid4().hex[:8]}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_create.sql").write_text("CREATE TABLE demo_items (id int PRIMARY KEY);")
    (package / "0002_add_column.sql").write_text("ALTER TABLE demo_items ADD COLUMN label text;")
    (package / "README.txt").write_text("not a migration")
    sys.path.insert(0, str(tmp_path))
    try:
        yield name, package
    finally:
        sys.path.remove(str(tmp_path))


async def test_migrations_apply_in_order_once(
    database_url: str, migrations_package: tuple[str, Path]
) -> None:
    name, _ = migrations_package
    migrations = load_migrations("demo", name)
    assert [m.name for m in migrations] == ["0001_create.sql", "0002_add_column.sql"]
    pool = await create_pool(database_url)
    try:
        async with pool.acquire() as conn:
            assert await apply_migrations(conn, migrations) == [
                "demo/0001_create.sql",
                "demo/0002_add_column.sql",
            ]
            assert await apply_migrations(conn, migrations) == []
            await conn.execute("INSERT INTO demo_items (id, label) VALUES (1, 'x')")
            assert await conn.fetchval("SELECT label FROM demo_items") == "x"
    finally:
        await pool.close()


async def test_replicas_starting_together_apply_each_migration_once(
    database_url: str, migrations_package: tuple[str, Path]
) -> None:
    name, _ = migrations_package
    migrations = load_migrations("demo", name)

    async def start_replica() -> list[str]:
        conn = await asyncpg.connect(database_url)
        try:
            return await apply_migrations(conn, migrations)
        finally:
            await conn.close()

    results = await asyncio.gather(*(start_replica() for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 2]


async def test_an_edited_migration_is_refused(
    database_url: str, migrations_package: tuple[str, Path]
) -> None:
    name, package = migrations_package
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn, load_migrations("demo", name))
        (package / "0001_create.sql").write_text("CREATE TABLE demo_items (id bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await apply_migrations(conn, load_migrations("demo", name))
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_done(
    database_url: str, migrations_package: tuple[str, Path]
) -> None:
    name, package = migrations_package
    (package / "0003_broken.sql").write_text(
        "CREATE TABLE half_done (id int); SELECT no_such_function();"
    )
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await apply_migrations(conn, load_migrations("demo", name))
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        applied = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in applied] == [1, 2]
    finally:
        await conn.close()
