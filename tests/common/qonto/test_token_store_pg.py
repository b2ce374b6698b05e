"""PostgresTokenStore against the real PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pydantic import SecretStr

from qrecon.common.db import create_pool
from qrecon.common.qonto.auth import OAuthAuth
from qrecon.common.qonto.token_store import (
    LockingTokenStore,
    OAuthTokens,
    PostgresTokenStore,
    TokenStore,
)

from .fakes import CLIENT_ID, CLIENT_SECRET, FakeClock, FakeQonto

pytestmark = pytest.mark.integration

NOW = datetime(2025, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)


def pair(n: int, *, refresh: bool = True) -> OAuthTokens:
    return OAuthTokens(
        access_token=SecretStr(f"at-{n}"),
        refresh_token=SecretStr(f"rt-{n}") if refresh else None,
        expires_at=NOW + timedelta(hours=1),
        obtained_at=NOW,
        scope="organization.read offline_access",
        id_token=SecretStr(f"id-{n}"),
    )


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


async def test_migration_round_trip_and_rotation(pool: asyncpg.Pool) -> None:
    store = PostgresTokenStore(pool)
    assert isinstance(store, TokenStore)
    assert isinstance(store, LockingTokenStore)
    assert await store.migrate() == ["common/0001_qonto_oauth_tokens.sql"]
    assert await store.migrate() == []  # idempotent
    assert await store.load("acme") is None
    await store.save("acme", pair(1))
    loaded = await store.load("acme")
    assert loaded == pair(1)
    assert loaded is not None
    assert loaded.expires_at == NOW + timedelta(hours=1)
    assert loaded.expires_at.tzinfo is not None
    await store.save("acme", pair(2, refresh=False))
    assert await store.load("acme") == pair(2, refresh=False)
    assert await store.generation("acme") == 2
    await store.save("other", pair(9))
    assert (await store.load("acme")) == pair(2, refresh=False)
    await store.delete("acme")
    assert await store.load("acme") is None
    assert await store.load("other") == pair(9)


async def test_lock_serialises_refreshes_across_pools(
    database_url: str, pool: asyncpg.Pool
) -> None:
    store_a = PostgresTokenStore(pool)
    await store_a.migrate()
    other_pool = await create_pool(database_url, min_size=1, max_size=2)  # "another process"
    store_b = PostgresTokenStore(other_pool)
    try:
        order: list[str] = []

        async def hold(store: PostgresTokenStore, name: str, cid: str) -> None:
            async with store.lock(cid):
                order.append(f"{name} in")
                await asyncio.sleep(0.2)
                order.append(f"{name} out")

        await asyncio.gather(hold(store_a, "a", "acme"), hold(store_b, "b", "acme"))
        assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
        # Different connections do not block each other.
        order.clear()
        await asyncio.gather(hold(store_a, "a", "acme"), hold(store_b, "b", "globex"))
        assert order[:2] in (["a in", "b in"], ["b in", "a in"])
    finally:
        await other_pool.close()


async def test_two_processes_refresh_once_through_postgres(
    database_url: str, pool: asyncpg.Pool
) -> None:
    import httpx

    clock = FakeClock()
    fake = FakeQonto(clock=clock)
    store_a = PostgresTokenStore(pool)
    await store_a.migrate()
    first = OAuthTokens.from_token_response(fake.issue(), now=clock.wall())
    await store_a.save("default", first)
    clock.advance(3600)  # expired for both processes
    other_pool = await create_pool(database_url, min_size=1, max_size=2)
    store_b = PostgresTokenStore(other_pool)

    def make(store: PostgresTokenStore) -> OAuthAuth:
        return OAuthAuth(
            CLIENT_ID,
            CLIENT_SECRET,
            "https://oauth.test/oauth2/token",
            store,
            clock=clock.wall,
            transport=fake.transport(),
        )

    try:
        async with httpx.AsyncClient(transport=fake.transport()) as http:
            a, b = make(store_a), make(store_b)
            got = await asyncio.gather(a.ensure_fresh(http), b.ensure_fresh(http))
        assert fake.token_calls == 1  # the second waited on the lock, then read the store
        assert got[0].same_as(got[1])
        assert not got[0].same_as(first)
        assert await store_a.generation("default") == 2
    finally:
        await other_pool.close()
