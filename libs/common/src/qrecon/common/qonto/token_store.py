"""Where OAuth tokens live between requests and across processes.

Qonto's refresh tokens rotate: once one is used, it works for 60 s more and then dies
(docs.qonto.com/.../oauth/refresh-token-endpoint). So the new pair must be stored
*durably before it is used*; a crash between Qonto's answer and the write leaves the old
pair in the store, and the next process recovers by refreshing with it within the grace.

A store may also offer ``lock(connection_id)``: mutual exclusion of refreshes across
processes (``PostgresTokenStore`` takes a PostgreSQL advisory lock), so that replicas
sharing a connection do not rotate the same refresh token twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import asyncpg
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from qrecon.common.db import Migration, apply_migrations, load_migrations
from qrecon.common.encryption import TokenCipher, conceal, reveal
from qrecon.common.migrations import MIGRATIONS_COMPONENT
from qrecon.common.timeutil import ensure_aware, utcnow

# Two-int advisory lock keys live in their own key space (apart from db.py's bigint key).
_ADVISORY_CLASS = 0x514F4154  # "QOAT"


class OAuthTokens(BaseModel):
    """One token pair as the token endpoint answered it (secrets stay ``SecretStr``)."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: datetime
    obtained_at: datetime
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    scope: str | None = None
    id_token: SecretStr | None = None

    @field_validator("expires_at", "obtained_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return ensure_aware(value)

    @classmethod
    def from_token_response(
        cls, body: dict[str, Any], *, now: datetime | None = None
    ) -> OAuthTokens:
        """Build from the token endpoint's JSON (``expires_in`` seconds, 3600 by default)."""
        obtained = now or utcnow()
        expires_in = body.get("expires_in")
        seconds = float(expires_in) if expires_in is not None else 3600.0
        return cls(
            access_token=SecretStr(str(body["access_token"])),
            refresh_token=SecretStr(str(body["refresh_token"]))
            if body.get("refresh_token")
            else None,
            expires_at=obtained + timedelta(seconds=seconds),
            obtained_at=obtained,
            token_type=str(body.get("token_type") or "bearer"),
            scope=str(body["scope"]) if body.get("scope") is not None else None,
            id_token=SecretStr(str(body["id_token"])) if body.get("id_token") else None,
        )

    def expires_within(self, margin: timedelta, *, now: datetime | None = None) -> bool:
        return (now or utcnow()) + margin >= self.expires_at

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset((self.scope or "").split())

    def same_as(self, other: OAuthTokens | None) -> bool:
        return (
            other is not None
            and self.access_token.get_secret_value() == other.access_token.get_secret_value()
        )


@runtime_checkable
class TokenStore(Protocol):
    async def load(self, connection_id: str) -> OAuthTokens | None: ...

    async def save(self, connection_id: str, tokens: OAuthTokens) -> None: ...


@runtime_checkable
class LockingTokenStore(TokenStore, Protocol):
    """A store that can serialise refreshes of one connection across processes."""

    def lock(self, connection_id: str) -> contextlib.AbstractAsyncContextManager[None]: ...


class InMemoryTokenStore:
    """Tokens in this process only (tests, one-off scripts). Not durable."""

    def __init__(self, initial: dict[str, OAuthTokens] | None = None) -> None:
        self._tokens: dict[str, OAuthTokens] = dict(initial or {})
        self._locks: dict[str, asyncio.Lock] = {}
        self.saves = 0

    async def load(self, connection_id: str) -> OAuthTokens | None:
        return self._tokens.get(connection_id)

    async def save(self, connection_id: str, tokens: OAuthTokens) -> None:
        self._tokens[connection_id] = tokens
        self.saves += 1

    @contextlib.asynccontextmanager
    async def lock(self, connection_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(connection_id, asyncio.Lock())
        async with lock:
            yield


class PostgresTokenStore:
    """Tokens in the ``qonto_oauth_tokens`` table (migration ``common/0001``).

    ``save`` commits before it returns, so a pair is durable before anyone uses it.
    ``lock`` holds a session advisory lock on a pooled connection; PostgreSQL frees it
    if the process dies. With a ``cipher`` (``QONTO_TOKEN_ENCRYPTION_KEYS``, see
    :mod:`qrecon.common.encryption`) the tokens are stored encrypted; rows stored in clear before
    are still read, and encrypted when next saved.
    """

    def __init__(self, pool: asyncpg.Pool, cipher: TokenCipher | None = None) -> None:
        self._pool = pool
        self._cipher = cipher

    @staticmethod
    def migrations() -> list[Migration]:
        return load_migrations(MIGRATIONS_COMPONENT, "qrecon.common.migrations")

    async def migrate(self) -> list[str]:
        """Apply the token table's migration(s) if missing."""
        async with self._pool.acquire() as conn:
            return await apply_migrations(conn, self.migrations())

    async def load(self, connection_id: str) -> OAuthTokens | None:
        row = await self._pool.fetchrow(
            "SELECT access_token, refresh_token, token_type, scope, id_token, expires_at,"
            " obtained_at FROM qonto_oauth_tokens WHERE connection_id = $1",
            connection_id,
        )
        if row is None:
            return None

        def secret(column: str) -> SecretStr | None:
            stored = row[column]
            if not stored:
                return None
            return SecretStr(reveal(stored, self._cipher, what=f"{column} of {connection_id}"))

        return OAuthTokens(
            access_token=SecretStr(
                reveal(row["access_token"], self._cipher, what=f"access_token of {connection_id}")
            ),
            refresh_token=secret("refresh_token"),
            token_type=row["token_type"],
            scope=row["scope"],
            id_token=secret("id_token"),
            expires_at=row["expires_at"],
            obtained_at=row["obtained_at"],
        )

    async def save(self, connection_id: str, tokens: OAuthTokens) -> None:
        await self._pool.execute(
            """
            INSERT INTO qonto_oauth_tokens AS t (connection_id, access_token, refresh_token,
                token_type, scope, id_token, expires_at, obtained_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (connection_id) DO UPDATE SET
                access_token = EXCLUDED.access_token,
                refresh_token = EXCLUDED.refresh_token,
                token_type = EXCLUDED.token_type,
                scope = EXCLUDED.scope,
                id_token = EXCLUDED.id_token,
                expires_at = EXCLUDED.expires_at,
                obtained_at = EXCLUDED.obtained_at,
                generation = t.generation + 1,
                updated_at = now()
            """,
            connection_id,
            conceal(tokens.access_token.get_secret_value(), self._cipher),
            self._conceal(tokens.refresh_token),
            tokens.token_type,
            tokens.scope,
            self._conceal(tokens.id_token),
            tokens.expires_at,
            tokens.obtained_at,
        )

    def _conceal(self, token: SecretStr | None) -> str | None:
        return None if token is None else conceal(token.get_secret_value(), self._cipher)

    async def generation(self, connection_id: str) -> int | None:
        value = await self._pool.fetchval(
            "SELECT generation FROM qonto_oauth_tokens WHERE connection_id = $1", connection_id
        )
        return int(value) if value is not None else None

    async def delete(self, connection_id: str) -> None:
        await self._pool.execute(
            "DELETE FROM qonto_oauth_tokens WHERE connection_id = $1", connection_id
        )

    @contextlib.asynccontextmanager
    async def lock(self, connection_id: str) -> AsyncIterator[None]:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "SELECT pg_advisory_lock($1, hashtext($2))", _ADVISORY_CLASS, connection_id
            )
            try:
                yield
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock($1, hashtext($2))", _ADVISORY_CLASS, connection_id
                )


__all__ = [
    "InMemoryTokenStore",
    "LockingTokenStore",
    "OAuthTokens",
    "PostgresTokenStore",
    "TokenStore",
]
