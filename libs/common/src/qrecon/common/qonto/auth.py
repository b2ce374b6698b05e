"""Authentication to Qonto: API key, or OAuth 2 with proactive refresh and rotation.

* API key (docs.qonto.com/.../authentication/api-key): ``Authorization: <login>:<secret>``,
  no ``Bearer``/``Basic`` prefix, no base64.
* OAuth 2, authorization-code grant (docs.qonto.com/.../authentication/oauth): a bearer
  access token living 1 h, a refresh token that **rotates** (the old one works 60 s more).
  ``OAuthAuth`` refreshes *before* expiry (``refresh_margin``), never waiting for a 401;
  concurrent requests share one refresh (an asyncio lock in the process, the store's
  ``lock`` across processes); the new pair is saved through the ``TokenStore`` *before*
  it is used; a failed save means the new pair is never used, and the old refresh token,
  still in the store, recovers within Qonto's grace.

Every token call carries ``X-Qonto-Staging-Token`` in the sandbox, like API calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from qrecon.common.logging import get_logger
from qrecon.common.qonto.errors import (
    QontoAuthError,
    QontoDecodeError,
    QontoOAuthError,
    QontoSandboxLoginPage,
    QontoServerError,
    QontoTransportError,
    error_from_response,
    is_html,
)
from qrecon.common.qonto.token_store import LockingTokenStore, OAuthTokens, TokenStore
from qrecon.common.settings import qonto_oauth_base_url
from qrecon.common.timeutil import utcnow

log = get_logger(__name__)

STAGING_TOKEN_HEADER = "X-Qonto-Staging-Token"  # noqa: S105 - a header name
DEFAULT_SCOPES = ("organization.read", "offline_access")


@runtime_checkable
class Auth(Protocol):
    """What a ``QontoClient`` needs from its credentials."""

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        """Headers authenticating the next request; ``client`` may be used for token calls."""
        ...


class ApiKeyAuth:
    """``Authorization: <organization-login>:<secret-key>``."""

    def __init__(self, login: str, secret_key: SecretStr | str) -> None:
        if not login:
            raise ValueError("the API key login (organization slug) is empty")
        self.login = login
        self._secret = secret_key if isinstance(secret_key, SecretStr) else SecretStr(secret_key)
        if not self._secret.get_secret_value():
            raise ValueError("the API secret key is empty")

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        return {"Authorization": f"{self.login}:{self._secret.get_secret_value()}"}

    async def on_unauthorized(self, client: httpx.AsyncClient, used: dict[str, str]) -> bool:
        return False  # a wrong or regenerated key does not heal by itself

    def __repr__(self) -> str:
        return f"ApiKeyAuth(login={self.login!r}, secret_key=SecretStr('**********'))"


def oauth_base_url(environment: str = "production") -> str:
    return qonto_oauth_base_url(environment)


def build_authorize_url(
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    scopes: Sequence[str] = DEFAULT_SCOPES,
    base_url: str | None = None,
    environment: str = "production",
    **extra: str,
) -> str:
    """The URL to open in the user's browser to start the authorization-code grant.

    ``state`` is mandatory: generate it per attempt (``secrets.token_urlsafe``) and check
    it on the redirect. Add ``offline_access`` to ``scopes`` to get a refresh token.
    """
    if not state:
        raise ValueError("state must be a fresh unguessable value (CSRF protection)")
    base = (base_url or oauth_base_url(environment)).rstrip("/")
    query = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        "state": state,
        **extra,
    }
    return f"{base}/oauth2/auth?{urlencode(query)}"


class OAuthAuth:
    """Bearer tokens for one connection, refreshed ahead of expiry, rotation-safe."""

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr | str,
        token_url: str,
        store: TokenStore,
        refresh_margin: timedelta = timedelta(minutes=5),
        *,
        connection_id: str = "default",
        staging_token: SecretStr | str | None = None,
        clock: Callable[[], datetime] = utcnow,
        timeout: float = 30.0,
        max_attempts: int = 3,
        retry_delay: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client_id = client_id
        self._client_secret = (
            client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        )
        self.token_url = token_url
        self.store = store
        self.refresh_margin = refresh_margin
        self.connection_id = connection_id
        self._staging_token = (
            SecretStr(staging_token) if isinstance(staging_token, str) else staging_token
        )
        self._clock = clock
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._retry_delay = retry_delay
        self._transport = transport  # for token calls made without the API client's
        self._tokens: OAuthTokens | None = None
        self._lock: asyncio.Lock | None = None
        self.refreshes = 0  # refreshes this instance performed (metrics, tests)

    def __repr__(self) -> str:
        return (
            f"OAuthAuth(client_id={self.client_id!r}, token_url={self.token_url!r}, "
            f"connection_id={self.connection_id!r})"
        )

    @property
    def tokens(self) -> OAuthTokens | None:
        """The pair in use (``None`` before the first request)."""
        return self._tokens

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _fresh(self, tokens: OAuthTokens | None) -> bool:
        return tokens is not None and not tokens.expires_within(
            self.refresh_margin, now=self._clock()
        )

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        tokens = self._tokens
        if not self._fresh(tokens):
            tokens = await self.ensure_fresh(client)
        assert tokens is not None
        return {"Authorization": f"Bearer {tokens.access_token.get_secret_value()}"}

    async def ensure_fresh(self, client: httpx.AsyncClient | None = None) -> OAuthTokens:
        """A pair valid for at least ``refresh_margin``, refreshing (once) if needed."""
        async with self._get_lock():
            if self._fresh(self._tokens):
                assert self._tokens is not None
                return self._tokens
            stored = await self.store.load(self.connection_id)
            if self._fresh(stored):  # another process refreshed already
                assert stored is not None
                self._tokens = stored
                return stored
            if isinstance(self.store, LockingTokenStore):
                async with self.store.lock(self.connection_id):
                    tokens = await self._refresh_locked(client)
            else:
                tokens = await self._refresh_locked(client)
            self._tokens = tokens
            return tokens

    async def _refresh_locked(self, client: httpx.AsyncClient | None) -> OAuthTokens:
        current = await self.store.load(self.connection_id)  # re-read under the lock
        if self._fresh(current):
            assert current is not None
            return current
        if current is None:
            current = self._tokens
        if current is None or current.refresh_token is None:
            raise QontoAuthError(
                f"no usable OAuth refresh token for connection {self.connection_id!r}: "
                "run the authorization-code flow (scope offline_access) first"
            )
        try:
            return await self._refresh_with(client, current)
        except QontoOAuthError:
            # Rotated meanwhile by someone who did not share our lock? Use what they stored.
            latest = await self.store.load(self.connection_id)
            if latest is not None and not latest.same_as(current) and self._fresh(latest):
                log.info("qonto_oauth_refreshed_elsewhere", connection_id=self.connection_id)
                return latest
            raise

    async def _refresh_with(
        self, client: httpx.AsyncClient | None, current: OAuthTokens
    ) -> OAuthTokens:
        assert current.refresh_token is not None
        body = await self._token_call(
            client,
            {
                "grant_type": "refresh_token",
                "refresh_token": current.refresh_token.get_secret_value(),
            },
        )
        tokens = OAuthTokens.from_token_response(body, now=self._clock())
        if tokens.refresh_token is None:  # not rotated this time: keep the one we have
            tokens = tokens.model_copy(update={"refresh_token": current.refresh_token})
        # Durable first: if this fails the new pair is never used; the old refresh token
        # (still in the store) keeps working for Qonto's 60 s grace.
        await self.store.save(self.connection_id, tokens)
        self.refreshes += 1
        log.info(
            "qonto_oauth_refreshed",
            connection_id=self.connection_id,
            expires_at=tokens.expires_at.isoformat(),
        )
        return tokens

    async def exchange_code(
        self, code: str, redirect_uri: str, client: httpx.AsyncClient | None = None
    ) -> OAuthTokens:
        """Finish the authorization-code grant: trade ``code`` for a pair and store it."""
        body = await self._token_call(
            client,
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        )
        tokens = OAuthTokens.from_token_response(body, now=self._clock())
        await self.store.save(self.connection_id, tokens)
        async with self._get_lock():
            self._tokens = tokens
        log.info("qonto_oauth_authorized", connection_id=self.connection_id, scope=tokens.scope)
        return tokens

    async def on_unauthorized(self, client: httpx.AsyncClient, used: dict[str, str]) -> bool:
        """After a 401: True when the store holds a different, fresh pair worth one retry."""
        stored = await self.store.load(self.connection_id)
        if stored is None or not self._fresh(stored):
            return False
        if used.get("Authorization") == f"Bearer {stored.access_token.get_secret_value()}":
            return False
        async with self._get_lock():
            self._tokens = stored
        return True

    async def _token_call(
        self, client: httpx.AsyncClient | None, form: dict[str, str]
    ) -> dict[str, Any]:
        data = {
            **form,
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }
        headers = {"Accept": "application/json"}
        if self._staging_token is not None:
            headers[STAGING_TOKEN_HEADER] = self._staging_token.get_secret_value()
        own = client is None
        http = client or httpx.AsyncClient(timeout=self._timeout, transport=self._transport)
        try:
            for attempt in range(1, self._max_attempts + 1):
                # A retry re-sends the same refresh token: safe, Qonto honours a used one
                # for 60 s, so a lost answer does not lose the connection.
                try:
                    response = await http.post(
                        self.token_url, data=data, headers=headers, timeout=self._timeout
                    )
                except httpx.HTTPError as exc:
                    error: Exception = QontoTransportError(
                        f"OAuth token call failed: {type(exc).__name__}", method="POST"
                    )
                else:
                    if response.status_code < 300 and not is_html(response):
                        return self._decode(response)
                    error = self._error(response)
                    if not isinstance(error, QontoServerError) and response.status_code != 429:
                        raise error
                if attempt == self._max_attempts:
                    raise error
                await asyncio.sleep(self._retry_delay * 2 ** (attempt - 1))
        finally:
            if own:
                await http.aclose()
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _decode(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise QontoDecodeError(
                "the OAuth token endpoint answered non-JSON", status=response.status_code
            ) from exc
        if not isinstance(body, dict) or not body.get("access_token"):
            raise QontoDecodeError(
                "the OAuth token endpoint answered without an access_token",
                status=response.status_code,
            )
        return body

    @staticmethod
    def _error(response: httpx.Response) -> Exception:
        error = error_from_response(response)
        if isinstance(error, QontoSandboxLoginPage | QontoServerError):
            return error
        if response.status_code == 429:
            return error
        # RFC 6749 §5.2: {"error": "invalid_grant", "error_description": ...}
        return QontoOAuthError(
            error.message,
            status=error.status,
            errors=error.errors,
            trace_id=error.trace_id,
            body=error.body,
            method=error.method,
            path=error.path,
        )


__all__ = [
    "DEFAULT_SCOPES",
    "STAGING_TOKEN_HEADER",
    "ApiKeyAuth",
    "Auth",
    "OAuthAuth",
    "build_authorize_url",
    "oauth_base_url",
]
