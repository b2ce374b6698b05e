"""Who may call: API keys, sandbox staging tokens, OAuth clients, authorization codes and
tokens (access, refresh with rotation and a grace period, Hydra-style family revocation)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from qrecon.sim.errors import Forbidden, NotFound, OAuthError, Unauthorized
from qrecon.sim.stores.base import DEFAULT_CLIENT_ID, DEFAULT_REDIRECT_URI, StoreContext

SCOPES = (
    "openid",
    "offline_access",
    "organization.read",
    "client_invoices.read",
    "supplier_invoice.read",
    "webhook",
)
API_KEY_SCOPES = ("organization.read", "client_invoices.read", "supplier_invoice.read")
ACCESS_TOKEN_TTL = timedelta(hours=1)
REFRESH_TOKEN_TTL = timedelta(days=90)
REFRESH_GRACE = timedelta(seconds=60)
AUTH_CODE_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the organization, how (API key or bearer) and with which scopes."""

    organization_id: str
    kind: Literal["api_key", "bearer"]
    scopes: frozenset[str]


@dataclass
class _Token:
    organization_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: datetime
    family: str
    rotated_at: datetime | None = None
    revoked: bool = False


@dataclass
class _Code:
    organization_id: str
    client_id: str
    scopes: frozenset[str]
    redirect_uri: str | None
    expires_at: datetime
    used: bool = False


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AuthStore:
    """Credentials by organization; ``default_org`` names the organization a call without
    one is for."""

    def __init__(self, ctx: StoreContext, default_org: Callable[[], str | None]) -> None:
        self._lock = ctx.lock
        self._clock = ctx.clock
        self._default_org = default_org
        self.api_key_scopes: frozenset[str] = frozenset(API_KEY_SCOPES)
        # Hydra-style reuse detection: a dead refresh token revokes its whole family.
        self.revoke_family_on_reuse = True
        self.clear()

    def clear(self) -> None:
        self._api_keys: dict[str, tuple[str, str]] = {}  # login -> (secret, organization id)
        self._staging_tokens: dict[str, str] = {}  # token -> organization id
        self._oauth_clients: dict[str, dict[str, Any]] = {}
        self._codes: dict[str, _Code] = {}
        self._access_tokens: dict[str, _Token] = {}
        self._refresh_tokens: dict[str, _Token] = {}

    # ------------------------------------------------------------------ API keys, staging

    def add_api_key(self, login: str, secret_key: str | None, organization_id: str) -> None:
        with self._lock:
            secret = secret_key or f"sk_test_{secrets.token_hex(12)}"
            self._api_keys[login] = (secret, organization_id)

    def add_staging_token(self, token: str | None, organization_id: str) -> None:
        with self._lock:
            self._staging_tokens[token or f"stg_{secrets.token_hex(12)}"] = organization_id

    def regenerate_api_key(self, organization_id: str | None) -> str:
        """Qonto: regenerating the key revokes the old one."""
        with self._lock:
            for login, (_, owner) in list(self._api_keys.items()):
                if owner == organization_id:
                    new_secret = f"sk_test_{secrets.token_hex(12)}"
                    self._api_keys[login] = (new_secret, owner)
                    return new_secret
            raise NotFound("no such organization")

    def api_key_secret(self, login: str) -> str:
        with self._lock:
            return self._api_keys[login][0]

    def staging_token_of(self, organization_id: str) -> str:
        with self._lock:
            return next((t for t, o in self._staging_tokens.items() if o == organization_id), "")

    def client_of(self, organization_id: str) -> tuple[str, dict[str, Any]]:
        """The organization's first OAuth client (id, record), or empty values."""
        with self._lock:
            fallback: dict[str, Any] = {"client_secret": "", "redirect_uris": [""]}
            return next(
                (
                    (cid, c)
                    for cid, c in self._oauth_clients.items()
                    if c["organization_id"] == organization_id
                ),
                ("", fallback),
            )

    def check_staging_token(self, token: str | None) -> bool:
        with self._lock:
            return token is not None and token in self._staging_tokens

    # ------------------------------------------------------------------ authentication

    def authenticate(self, authorization: str | None) -> Principal:
        """``<login>:<secret-key>`` (no prefix) or ``Bearer <access token>``."""
        if not authorization:
            raise Unauthorized("missing Authorization header")
        value = authorization.strip()
        with self._lock:
            if value[:7].lower() == "bearer ":
                token = self._access_tokens.get(value[7:].strip())
                if token is None or token.revoked:
                    raise Unauthorized("invalid access token")
                if self._clock.now() >= token.expires_at:
                    raise Unauthorized("access token expired")
                return Principal(token.organization_id, "bearer", token.scopes)
            login, sep, secret = value.partition(":")
            if not sep:
                raise Unauthorized("invalid Authorization header")
            known = self._api_keys.get(login)
            if known is None or not hmac.compare_digest(known[0].encode(), secret.encode()):
                raise Unauthorized("invalid API key")
            return Principal(known[1], "api_key", self.api_key_scopes)

    @staticmethod
    def require_scope(principal: Principal, scope: str) -> None:
        if scope not in principal.scopes:
            raise Forbidden(
                f"missing scope: the access token does not have the required scope {scope}",
                code="forbidden",
            )

    # ------------------------------------------------------------------ OAuth

    def add_oauth_client(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uris: list[str] | None = None,
        organization_id: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            cid = client_id or f"client-{secrets.token_hex(6)}"
            client = {
                "client_id": cid,
                "client_secret": client_secret or secrets.token_urlsafe(24),
                "redirect_uris": list(redirect_uris or [DEFAULT_REDIRECT_URI]),
                "organization_id": organization_id or self._default_org(),
            }
            self._oauth_clients[cid] = client
            return dict(client)

    def mint_authorization_code(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        *,
        scopes: Iterable[str] = SCOPES,
        redirect_uri: str | None = None,
        organization_id: str | None = None,
    ) -> str:
        """What the user's consent in a browser would produce (for tests and the demo)."""
        with self._lock:
            client = self._oauth_clients.get(client_id)
            if client is None:
                raise NotFound(f"unknown OAuth client {client_id!r}")
            code = "qac_" + secrets.token_urlsafe(24)
            self._codes[code] = _Code(
                organization_id=organization_id or client["organization_id"],
                client_id=client_id,
                scopes=frozenset(scopes),
                redirect_uri=redirect_uri or client["redirect_uris"][0],
                expires_at=self._clock.now() + AUTH_CODE_TTL,
            )
            return code

    def _check_client(self, client_id: str | None, client_secret: str | None) -> dict[str, Any]:
        client = self._oauth_clients.get(client_id or "")
        if client is None or not hmac.compare_digest(
            client["client_secret"].encode(), (client_secret or "").encode()
        ):
            raise OAuthError("invalid_client", "Client authentication failed.", status=401)
        return client

    def _issue(
        self, organization_id: str, client_id: str, scopes: frozenset[str], family: str
    ) -> dict[str, Any]:
        now = self._clock.now()
        access = "qat_" + secrets.token_urlsafe(32)
        self._access_tokens[access] = _Token(
            organization_id, client_id, scopes, now + ACCESS_TOKEN_TTL, family
        )
        response: dict[str, Any] = {
            "access_token": access,
            "expires_in": int(ACCESS_TOKEN_TTL.total_seconds()),
            "scope": " ".join(sorted(scopes)),
            "token_type": "bearer",
        }
        if "offline_access" in scopes:
            refresh = "qrt_" + secrets.token_urlsafe(32)
            self._refresh_tokens[refresh] = _Token(
                organization_id, client_id, scopes, now + REFRESH_TOKEN_TTL, family
            )
            response["refresh_token"] = refresh
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "iss": "https://oauth.qonto.com/",
            "sub": organization_id,
            "aud": [client_id],
            "iat": int(now.timestamp()),
            "exp": int((now + ACCESS_TOKEN_TTL).timestamp()),
        }
        payload = _b64url(json.dumps(claims).encode())
        signature = _b64url(hashlib.sha256(f"{header}.{payload}".encode()).digest())
        response["id_token"] = f"{header}.{payload}.{signature}"
        return response

    def token_authorization_code(
        self,
        *,
        client_id: str | None,
        client_secret: str | None,
        code: str | None,
        redirect_uri: str | None,
    ) -> dict[str, Any]:
        with self._lock:
            self._check_client(client_id, client_secret)
            grant = self._codes.get(code or "")
            if grant is None or grant.used or grant.client_id != client_id:
                raise OAuthError("invalid_grant", "The authorization code is invalid or used.")
            if self._clock.now() >= grant.expires_at:
                raise OAuthError("invalid_grant", "The authorization code has expired.")
            if redirect_uri is not None and redirect_uri != grant.redirect_uri:
                raise OAuthError("invalid_grant", "The redirect_uri does not match.")
            grant.used = True
            return self._issue(
                grant.organization_id, grant.client_id, grant.scopes, secrets.token_hex(8)
            )

    def token_refresh(
        self, *, client_id: str | None, client_secret: str | None, refresh_token: str | None
    ) -> dict[str, Any]:
        """Rotation: the old refresh token keeps working for 60 s after its first use."""
        with self._lock:
            self._check_client(client_id, client_secret)
            token = self._refresh_tokens.get(refresh_token or "")
            now = self._clock.now()
            if token is None or token.revoked or token.client_id != client_id:
                raise OAuthError("invalid_grant", "The refresh token is invalid.")
            if now >= token.expires_at:
                raise OAuthError("invalid_grant", "The refresh token has expired.")
            if token.rotated_at is not None and now > token.rotated_at + REFRESH_GRACE:
                if self.revoke_family_on_reuse:
                    self._revoke_family(token.family)
                raise OAuthError("invalid_grant", "The refresh token was already used (rotated).")
            if token.rotated_at is None:
                token.rotated_at = now
            return self._issue(token.organization_id, token.client_id, token.scopes, token.family)

    def _revoke_family(self, family: str) -> None:
        for store in (self._access_tokens, self._refresh_tokens):
            for tok in store.values():
                if tok.family == family:
                    tok.revoked = True

    # ------------------------------------------------------------------ consent

    def revoke_consent(self, organization_id: str, client_id: str | None = None) -> int:
        """The user revoked the app's access (``v1/consent-revocations``): every access and
        refresh token of the organization for that OAuth client (every client: None) dies
        and answers 401 / ``invalid_grant`` from now on. Returns how many tokens died."""
        with self._lock:
            killed = 0
            for store in (self._access_tokens, self._refresh_tokens):
                for tok in store.values():
                    mine = client_id is None or tok.client_id == client_id
                    if tok.organization_id == organization_id and mine and not tok.revoked:
                        tok.revoked = True
                        killed += 1
            return killed
