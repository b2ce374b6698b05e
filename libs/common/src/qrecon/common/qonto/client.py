"""The Qonto Business API client (async, httpx).

One ``QontoClient`` per connection (organization). What it does for every call:

* authenticates (``ApiKeyAuth`` or ``OAuthAuth``; OAuth refreshes before expiry) and, in
  the sandbox, sends ``X-Qonto-Staging-Token`` (an HTML login page answer raises
  ``QontoSandboxLoginPage``);
* waits for the process-wide ``RateLimiter`` (Qonto limits per IP);
* retries 429, 5xx, timeouts and connection errors with exponential backoff and full
  jitter, honouring ``Retry-After`` (seconds or HTTP date), bounded by ``RetryPolicy``
  (attempts and total delay); a 429 also pauses every other request of the process;
* writes carry an ``X-Qonto-Idempotency-Key`` (UUIDv4), the same on every retry;
* failures raise typed ``QontoError``s with Qonto's error list and ``trace_id``;
* logs method, path, status, attempt and duration, never a header or a secret.

Lists are paged with ``iter_*`` (every page, until ``next_page`` is null; a 422 past the
first page is read as the end) or one page at a time with ``list_transactions``.

The client is assembled from one module per seam: ``transport`` (the one logical call:
auth, rate limiting, retries, error mapping), ``retry`` (``RetryPolicy``,
``parse_retry_after``), ``listing`` (pages), ``transactions`` and ``resources`` (the
endpoints); this module adds the construction from settings.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from qrecon.common.logging import get_logger
from qrecon.common.qonto.auth import ApiKeyAuth, OAuthAuth
from qrecon.common.qonto.ratelimit import RateLimiter
from qrecon.common.qonto.resources import InvoicesApi, OrganizationApi, WebhookSubscriptionsApi
from qrecon.common.qonto.retry import RetryPolicy, parse_retry_after
from qrecon.common.qonto.token_store import TokenStore
from qrecon.common.qonto.transactions import ALL_STATUSES, TransactionsApi
from qrecon.common.qonto.transport import IDEMPOTENCY_HEADER, USER_AGENT, Sleep
from qrecon.common.settings import QontoSettings

log = get_logger(__name__)


class QontoClient(TransactionsApi, OrganizationApi, InvoicesApi, WebhookSubscriptionsApi):
    """Async client for one Qonto connection. Use as ``async with``; not thread-safe.

    Built as ``QontoClient(base_url=..., auth=..., ...)`` (see ``QontoTransport``) or
    ``QontoClient.from_settings(settings)``.
    """

    @classmethod
    def from_settings(
        cls,
        settings: QontoSettings,
        *,
        limiter: RateLimiter | None = None,
        token_store: TokenStore | None = None,
        **kw: Any,
    ) -> QontoClient:
        """A client for the connection ``settings`` describe (``QONTO_*`` variables).

        OAuth when ``token_store`` is given and ``QONTO_CLIENT_ID``/``_SECRET`` are set,
        else the API key (``QONTO_ORGANIZATION_ID`` is the login). Sandbox hosts and the
        staging token follow ``QONTO_ENVIRONMENT``; ``QONTO_API_BASE_URL`` overrides the
        host (the emulator). ``auth=`` or ``base_url=`` in ``kw`` override the choice.
        """
        connection_id = str(kw.pop("connection_id", "default"))
        staging: SecretStr | None = None
        if settings.is_sandbox:
            staging = settings.staging_token
            if staging is None:
                log.warning(
                    "qonto_sandbox_without_staging_token",
                    hint="set QONTO_STAGING_TOKEN: the sandbox answers a login page without it",
                )
        elif settings.staging_token is not None:
            log.warning("qonto_staging_token_ignored", reason="refused in production")
        auth = kw.pop("auth", None)
        if auth is None:
            if token_store is not None and settings.client_id and settings.client_secret:
                auth = OAuthAuth(
                    settings.client_id,
                    settings.client_secret,
                    settings.oauth_token_url,
                    token_store,
                    connection_id=connection_id,
                    staging_token=staging,
                )
            elif settings.effective_api_key is not None and (
                settings.effective_organization_id
                or ":" in settings.effective_api_key.get_secret_value()
            ):
                auth = _api_key_auth(settings.effective_organization_id, settings.effective_api_key)
            else:
                raise ValueError(
                    "no Qonto credentials: set QONTO_ORGANIZATION_ID and QONTO_API_KEY "
                    "(or the QONTO_SANDBOX_* ones), or QONTO_CLIENT_ID/QONTO_CLIENT_SECRET "
                    "with a token store"
                )
        base_url = kw.pop("base_url", None) or settings.effective_api_base_url
        return cls(
            base_url=base_url,
            auth=auth,
            staging_token=staging,
            limiter=limiter,
            connection_id=connection_id,
            **kw,
        )


def _api_key_auth(organization_id: str | None, api_key: SecretStr) -> ApiKeyAuth:
    """``QONTO_ORGANIZATION_ID`` is the login and ``QONTO_API_KEY`` the secret key, as in
    Qonto's setup guide (``Authorization: $QONTO_ORGANIZATION_ID:$QONTO_API_KEY``); a key
    that already holds ``<login>:<secret>`` (a copied header value) is accepted too."""
    raw = api_key.get_secret_value()
    if ":" in raw:
        login, _, secret = raw.partition(":")
        return ApiKeyAuth(login, SecretStr(secret))
    assert organization_id is not None
    return ApiKeyAuth(organization_id, api_key)


__all__ = [
    "ALL_STATUSES",
    "IDEMPOTENCY_HEADER",
    "USER_AGENT",
    "QontoClient",
    "RetryPolicy",
    "Sleep",
    "parse_retry_after",
]
