"""qonto-sync and the OAuth tokens at rest (QONTO_TOKEN_ENCRYPTION_KEYS), on PostgreSQL.

The sync workflow test proves the tokens a running service rotates are stored encrypted;
these show how a key mistake is caught: at startup, with a message naming no secret.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from qrecon.common.encryption import PREFIX, TokenCipher
from qrecon.common.qonto import OAuthTokens, PostgresTokenStore
from qrecon.sync.adapters import qonto as qonto_adapter
from qrecon.sync.settings import SyncSettings

pytestmark = pytest.mark.integration

OLD, NEW = Fernet.generate_key(), Fernet.generate_key()
OAUTH = [{"id": "gamma", "auth": "oauth", "client_id": "c", "client_secret": "s",
          "refresh_token": "rt-seed"}]  # fmt: skip


def settings_with(make_settings: Callable[..., SyncSettings], keys: str | None) -> SyncSettings:
    return make_settings(connections=OAUTH, token_encryption_keys=keys, organization_id=None)


async def test_the_seed_is_stored_encrypted(
    pool: asyncpg.Pool, make_settings: Callable[..., SyncSettings]
) -> None:
    settings = settings_with(make_settings, NEW.decode())
    conns = qonto_adapter.connections(settings)
    store = await qonto_adapter.oauth_token_store(pool, settings, conns)
    assert store is not None
    raw = await pool.fetchval(
        "SELECT refresh_token FROM qonto_oauth_tokens WHERE connection_id = 'gamma'"
    )
    assert raw.startswith(PREFIX)
    assert TokenCipher([NEW]).decrypt(raw) == "rt-seed"


async def test_a_token_no_key_decrypts_stops_startup_naming_no_secret(
    pool: asyncpg.Pool, make_settings: Callable[..., SyncSettings]
) -> None:
    written = PostgresTokenStore(pool, TokenCipher([OLD]))
    await written.migrate()
    epoch = datetime(2025, 1, 1, tzinfo=UTC)
    await written.save(
        "gamma",
        OAuthTokens(access_token=SecretStr("at-x"), refresh_token=SecretStr("rt-x"),
                    expires_at=epoch, obtained_at=epoch),
    )  # fmt: skip
    settings = settings_with(make_settings, NEW.decode())  # the old key was dropped too early
    with pytest.raises(SystemExit, match="connection gamma") as caught:
        await qonto_adapter.oauth_token_store(pool, settings, qonto_adapter.connections(settings))
    assert "rt-x" not in str(caught.value)
    assert OLD.decode() not in str(caught.value)
    assert NEW.decode() not in str(caught.value)
    # With both keys (new first) it starts, and the stored pair is intact.
    settings = settings_with(make_settings, f"{NEW.decode()},{OLD.decode()}")
    store = await qonto_adapter.oauth_token_store(
        pool, settings, qonto_adapter.connections(settings)
    )
    assert store is not None
    loaded = await store.load("gamma")
    assert loaded is not None
    assert loaded.refresh_token == SecretStr("rt-x")


async def test_a_malformed_key_stops_startup(
    pool: asyncpg.Pool, make_settings: Callable[..., SyncSettings]
) -> None:
    settings = settings_with(make_settings, "not-a-fernet-key")
    with pytest.raises(SystemExit, match="key 1 is not a Fernet key") as caught:
        await qonto_adapter.oauth_token_store(pool, settings, qonto_adapter.connections(settings))
    assert "not-a-fernet-key" not in str(caught.value)
