"""PostgresTokenStore against the real PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from qrecon.common.db import create_pool
from qrecon.common.encryption import PREFIX, TokenCipher, TokenDecryptionError
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
KEY = Fernet.generate_key()


def pair(n: int, *, refresh: bool = True) -> OAuthTokens:
    return OAuthTokens(
        access_token=SecretStr(f"at-{n}"),
        refresh_token=SecretStr(f"rt-{n}") if refresh else None,
        expires_at=NOW + timedelta(hours=1),
        obtained_at=NOW,
        scope="organization.read offline_access",
        id_token=SecretStr(f"id-{n}"),
    )


def oauth(store: PostgresTokenStore, fake: FakeQonto, clock: FakeClock) -> OAuthAuth:
    """The client's OAuth against the fake Qonto, keeping its tokens in ``store``."""
    return OAuthAuth(
        CLIENT_ID,
        CLIENT_SECRET,
        "https://oauth.test/oauth2/token",
        store,
        clock=clock.wall,
        transport=fake.transport(),
    )


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

    try:
        async with httpx.AsyncClient(transport=fake.transport()) as http:
            a, b = oauth(store_a, fake, clock), oauth(store_b, fake, clock)
            got = await asyncio.gather(a.ensure_fresh(http), b.ensure_fresh(http))
        assert fake.token_calls == 1  # the second waited on the lock, then read the store
        assert got[0].same_as(got[1])
        assert not got[0].same_as(first)
        assert await store_a.generation("default") == 2
    finally:
        await other_pool.close()


async def _raw(pool: asyncpg.Pool, connection_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT access_token, refresh_token, id_token FROM qonto_oauth_tokens"
        " WHERE connection_id = $1",
        connection_id,
    )
    assert row is not None
    return row


async def test_tokens_are_encrypted_at_rest_with_keys(pool: asyncpg.Pool) -> None:
    store = PostgresTokenStore(pool, TokenCipher([KEY]))
    await store.migrate()
    await store.save("acme", pair(1))
    raw = await _raw(pool, "acme")
    for column, plain in (
        ("access_token", "at-1"),
        ("refresh_token", "rt-1"),
        ("id_token", "id-1"),
    ):
        assert raw[column].startswith(PREFIX)
        assert plain not in raw[column]
    assert await store.load("acme") == pair(1)
    # A process without the key cannot use them, and says why.
    with pytest.raises(TokenDecryptionError, match="QONTO_TOKEN_ENCRYPTION_KEYS"):
        await PostgresTokenStore(pool).load("acme")


async def test_plaintext_rows_are_read_then_encrypted_on_the_next_save(pool: asyncpg.Pool) -> None:
    legacy = PostgresTokenStore(pool)  # before QONTO_TOKEN_ENCRYPTION_KEYS was set
    await legacy.migrate()
    await legacy.save("acme", pair(1))
    assert (await _raw(pool, "acme"))["refresh_token"] == "rt-1"
    store = PostgresTokenStore(pool, TokenCipher([KEY]))
    assert await store.load("acme") == pair(1)
    await store.save("acme", pair(2))  # the next refresh
    assert (await _raw(pool, "acme"))["refresh_token"].startswith(PREFIX)
    assert await store.load("acme") == pair(2)


async def test_key_rotation_keeps_every_stored_token_readable(pool: asyncpg.Pool) -> None:
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    await PostgresTokenStore(pool).migrate()
    await PostgresTokenStore(pool, TokenCipher([old_key])).save("acme", pair(1))
    rotated = PostgresTokenStore(pool, TokenCipher([new_key, old_key]))
    assert await rotated.load("acme") == pair(1)
    await rotated.save("acme", pair(2))
    assert await PostgresTokenStore(pool, TokenCipher([new_key])).load("acme") == pair(2)


async def test_oauth_refresh_through_an_encrypting_store(pool: asyncpg.Pool) -> None:
    import httpx

    clock = FakeClock()
    fake = FakeQonto(clock=clock)
    store = PostgresTokenStore(pool, TokenCipher([KEY]))
    await store.migrate()
    first = OAuthTokens.from_token_response(fake.issue(), now=clock.wall())
    await store.save("default", first)
    clock.advance(3600)  # expired: the next use refreshes
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        fresh = await oauth(store, fake, clock).ensure_fresh(http)
    assert fake.token_calls == 1
    assert not fresh.same_as(first)
    assert fresh.refresh_token is not None
    raw = await _raw(pool, "default")
    assert raw["refresh_token"].startswith(PREFIX)
    assert fresh.refresh_token.get_secret_value() not in raw["refresh_token"]
    assert (await store.load("default")) == fresh
