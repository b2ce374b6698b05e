"""Building one ``QontoClient`` per connection, all sharing the process's rate budget, with
an httpx transport that counts every HTTP exchange (retries and 429s included)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import asyncpg
import httpx
from pydantic import SecretStr

from qrecon.common.logging import get_logger
from qrecon.common.qonto import (
    ApiKeyAuth,
    Auth,
    OAuthAuth,
    OAuthTokens,
    PostgresTokenStore,
    QontoClient,
    RateLimiter,
    RetryPolicy,
    TokenDecryptionError,
    TokenStore,
)
from qrecon.common.qonto.fairshare import FairRateLimiter
from qrecon.sync.app.ports import Connection
from qrecon.sync.metrics import SyncMetrics
from qrecon.sync.settings import ConnectionSpec, SyncSettings

log = get_logger(__name__)

_ID_SEGMENT = re.compile(r"/v2/([a-z_]+)/[^/]+")


def endpoint_of(path: str) -> str:
    """``/v2/transactions/abc`` -> ``/v2/transactions/{id}`` (bounded label values)."""
    return _ID_SEGMENT.sub(r"/v2/\1/{id}", path)


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts requests by endpoint and status into ``SyncMetrics``."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, metrics: SyncMetrics, connection_id: str
    ) -> None:
        self.inner = inner
        self.metrics = metrics
        self.connection_id = connection_id
        self.requests = 0
        self.rate_limited = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = endpoint_of(request.url.path)
        started = time.perf_counter()
        self.requests += 1
        try:
            response = await self.inner.handle_async_request(request)
        except Exception as exc:
            self.metrics.api_requests.labels(self.connection_id, endpoint, type(exc).__name__).inc()
            raise
        self.metrics.api_latency.labels(self.connection_id, endpoint).observe(
            time.perf_counter() - started
        )
        self.metrics.api_requests.labels(
            self.connection_id, endpoint, str(response.status_code)
        ).inc()
        if response.status_code == 429:
            self.rate_limited += 1
            self.metrics.api_rate_limited.labels(self.connection_id).inc()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_limiter(settings: SyncSettings) -> FairRateLimiter:
    """The process's one rate budget, shared fairly by every connection's client (each
    draws through its own lane: live gap-fill first, then connections in turn)."""
    pairs = settings.rate_limit_pairs
    limiter = FairRateLimiter(pairs) if pairs else FairRateLimiter.unlimited()
    RateLimiter.set_process_default(limiter)
    return limiter


def lane_of(limiter: RateLimiter, connection_id: str) -> RateLimiter:
    """The limiter one connection's client holds (its own turn in a fair budget)."""
    return limiter.lane(connection_id) if isinstance(limiter, FairRateLimiter) else limiter


def connections(settings: SyncSettings) -> list[Connection]:
    found: list[Connection] = []
    if settings.has_default_connection():
        accounts = settings.default_bank_account_ids
        found.append(
            Connection(
                id=settings.default_connection_id,
                bank_account_ids=tuple(accounts) if accounts else None,
                invoices=settings.invoices_enabled,
                uses_oauth=bool(settings.client_id and settings.client_secret),
                organization_id=settings.effective_organization_id,
                oauth_client_id=settings.client_id,
            )
        )
    for spec in settings.connections:
        found.append(
            Connection(
                id=spec.id,
                bank_account_ids=tuple(spec.bank_account_ids) if spec.bank_account_ids else None,
                invoices=settings.invoices_enabled if spec.invoices is None else spec.invoices,
                uses_oauth=spec.auth == "oauth",
                refresh_token_seed=spec.refresh_token,
                organization_id=spec.organization_id,
                oauth_client_id=spec.client_id,
            )
        )
    return found


def _spec(settings: SyncSettings, connection_id: str) -> ConnectionSpec | None:
    for spec in settings.connections:
        if spec.id == connection_id:
            return spec
    return None


def build_client(
    settings: SyncSettings,
    connection_id: str,
    *,
    limiter: RateLimiter,
    metrics: SyncMetrics,
    token_store: TokenStore | None,
    retry: RetryPolicy | None = None,
) -> tuple[QontoClient, CountingTransport]:
    """The client of one connection (the default one from ``QONTO_*``, or a listed one)."""
    transport = CountingTransport(
        httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10), retries=0
        ),
        metrics,
        connection_id,
    )
    policy = retry or RetryPolicy()
    limiter = lane_of(limiter, connection_id)
    spec = _spec(settings, connection_id)
    if spec is None:
        client = QontoClient.from_settings(
            settings,
            limiter=limiter,
            token_store=token_store if settings.client_id and settings.client_secret else None,
            connection_id=connection_id,
            transport=transport,
            retry=policy,
        )
        return client, transport
    staging = spec.staging_token if spec.is_sandbox else None
    auth: Auth
    if spec.auth == "oauth":
        if token_store is None:
            raise ValueError(f"connection {spec.id!r} uses OAuth: a token store is needed")
        assert spec.client_id is not None
        assert spec.client_secret is not None
        auth = OAuthAuth(
            spec.client_id,
            spec.client_secret,
            spec.oauth_token_url(settings.oauth_token_path),
            token_store,
            connection_id=spec.id,
            staging_token=staging,
        )
    else:
        assert spec.organization_id is not None
        assert spec.api_key is not None
        auth = ApiKeyAuth(spec.organization_id, spec.api_key)
    client = QontoClient(
        base_url=spec.effective_api_base_url,
        auth=auth,
        staging_token=staging,
        limiter=limiter,
        retry=policy,
        transport=transport,
        connection_id=spec.id,
    )
    return client, transport


async def oauth_token_store(
    pool: asyncpg.Pool, settings: SyncSettings, conns: list[Connection]
) -> PostgresTokenStore | None:
    """The token store of the OAuth connections (None if none uses OAuth): migrated, seeded
    with the configured refresh tokens, encrypting with ``QONTO_TOKEN_ENCRYPTION_KEYS``."""
    if not any(c.uses_oauth for c in conns):
        return None
    try:
        cipher = settings.token_cipher()
    except ValueError as exc:
        raise SystemExit(str(exc)) from None  # names the bad key's position, not its value
    if cipher is None:
        log.warning("qonto_oauth_tokens_unencrypted", hint="set QONTO_TOKEN_ENCRYPTION_KEYS")
    store = PostgresTokenStore(pool, cipher)
    await store.migrate()
    for c in conns:
        if not c.uses_oauth:
            continue
        try:  # fail fast: a key mistake is a configuration error, not a runtime one
            await store.load(c.id)
        except TokenDecryptionError as exc:
            raise SystemExit(f"connection {c.id}: {exc}") from None
        if c.refresh_token_seed is not None:
            await seed_refresh_token(store, c.id, c.refresh_token_seed)
    return store


async def seed_refresh_token(
    store: TokenStore, connection_id: str, refresh_token: SecretStr | None
) -> bool:
    """Store a configured refresh token if none is stored yet (first start of an OAuth
    connection). Never overwrites: a stored token is newer (they rotate)."""
    if refresh_token is None or await store.load(connection_id) is not None:
        return False
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    await store.save(
        connection_id,
        OAuthTokens(
            access_token=SecretStr(""),
            refresh_token=refresh_token,
            expires_at=epoch,
            obtained_at=epoch,
        ),
    )
    log.info("qonto_oauth_refresh_token_seeded", connection_id=connection_id)
    return True


__all__ = [
    "Connection",
    "CountingTransport",
    "build_client",
    "connections",
    "endpoint_of",
    "lane_of",
    "make_limiter",
    "oauth_token_store",
    "seed_refresh_token",
]
