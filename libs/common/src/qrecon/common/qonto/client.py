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
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import httpx
from pydantic import SecretStr, ValidationError

from qrecon.common.logging import get_logger
from qrecon.common.qonto.auth import STAGING_TOKEN_HEADER, ApiKeyAuth, Auth, OAuthAuth
from qrecon.common.qonto.errors import (
    QontoDecodeError,
    QontoError,
    QontoRateLimited,
    QontoServerError,
    QontoTransportError,
    QontoValidationError,
    error_from_response,
    is_html,
)
from qrecon.common.qonto.pagination import (
    Page,
    PageMeta,
    QueryParams,
    check_per_page,
    encode_params,
)
from qrecon.common.qonto.ratelimit import RateLimiter
from qrecon.common.qonto.token_store import TokenStore
from qrecon.common.qonto.windows import time_windows
from qrecon.common.schemas.qonto import QontoTransaction
from qrecon.common.settings import QontoSettings

log = get_logger(__name__)

IDEMPOTENCY_HEADER = "X-Qonto-Idempotency-Key"
USER_AGENT = "qrecon-qonto-client/0.1"
ALL_STATUSES: tuple[str, ...] = ("pending", "declined", "completed")
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry transient failures (429, 5xx, timeouts, connection errors).

    The n-th retry waits ``Retry-After`` when the answer had one, else a *full jitter*
    delay, uniform in ``[0, min(max_delay, base_delay * 2**(n-1))]``. It gives up after
    ``max_attempts`` attempts in all, or when the next wait would take the sum of waits
    past ``max_total_delay`` (a ``Retry-After`` beyond that budget raises at once, with
    ``error.retry_after`` set, so a scheduler can come back later).
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_delay: float = 90.0
    retry_server_errors: bool = True
    retry_rate_limited: bool = True
    retry_transport_errors: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_delay < 0:
            raise ValueError("delays must be >= 0")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Full-jitter delay before retry number ``retry_number`` (1 for the first)."""
        cap = self.backoff_cap(retry_number)
        return float((rng or random).uniform(0.0, cap))

    def backoff_cap(self, retry_number: int) -> float:
        exponent: int = min(max(retry_number - 1, 0), 62)
        return min(self.max_delay, self.base_delay * float(1 << exponent))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), ``None`` if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN/inf
        return None
    return max(0.0, seconds)


def _unwrap(body: Any, key: str) -> Any:
    """``{"transaction": {...}}`` -> ``{...}``; an already bare object passes through."""
    if isinstance(body, dict) and key in body:
        return body[key]
    return body


class QontoClient:
    """Async client for one Qonto connection. Use as ``async with``; not thread-safe."""

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        staging_token: SecretStr | None = None,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        connection_id: str = "default",
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        max_connections: int = 50,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.limiter = limiter if limiter is not None else RateLimiter.process_default()
        self.retry = retry
        self.connection_id = connection_id
        self._sleep = sleep
        self._rng = rng or random.Random()
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if staging_token is not None:
            headers[STAGING_TOKEN_HEADER] = staging_token.get_secret_value()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,  # the sandbox's 302 to a login page must surface
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
        )
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "rate_limited": 0}

    # ---------------------------------------------------------------- construction

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
                    f"{settings.effective_oauth_base_url}/oauth2/token",
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

    async def __aenter__(self) -> QontoClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying httpx client (token calls share it)."""
        return self._http

    # ---------------------------------------------------------------- core request

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """One logical call with auth, rate limiting, retries and error mapping.

        Writes get an idempotency key (a UUIDv4 unless given), kept across retries.
        Returns the 2xx response; raises a ``QontoError`` otherwise.
        """
        method = method.upper()
        if method in _WRITE_METHODS and idempotency_key is None:
            idempotency_key = str(uuid.uuid4())
        query = encode_params(params) if isinstance(params, Mapping) else params
        policy = self.retry
        attempt = 0
        waited = 0.0
        reauthenticated = False
        while True:
            attempt += 1
            await self.limiter.acquire()
            headers = await self.auth.headers(self._http)
            if idempotency_key is not None:
                headers[IDEMPOTENCY_HEADER] = idempotency_key
            started = time.perf_counter()
            self.stats["requests"] += 1
            retry_after: float | None = None
            try:
                response = await self._http.request(
                    method, path, params=cast(Any, query), json=json, headers=headers
                )
            except _RETRYABLE_TRANSPORT as exc:
                error: QontoError = QontoTransportError(
                    f"no answer from Qonto: {type(exc).__name__}", method=method, path=path
                )
                retryable = policy.retry_transport_errors
                log.warning(
                    "qonto_transport_error",
                    method=method,
                    path=path,
                    attempt=attempt,
                    error=type(exc).__name__,
                )
            except httpx.HTTPError as exc:
                raise QontoTransportError(
                    f"cannot call Qonto: {type(exc).__name__}", method=method, path=path
                ) from exc
            else:
                status = response.status_code
                elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
                if 200 <= status < 300 and not is_html(response):
                    log.debug(
                        "qonto_request",
                        method=method,
                        path=path,
                        status=status,
                        attempt=attempt,
                        elapsed_ms=elapsed_ms,
                    )
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                error = error_from_response(response, retry_after=retry_after)
                log.info(
                    "qonto_request_failed",
                    method=method,
                    path=path,
                    status=status,
                    attempt=attempt,
                    elapsed_ms=elapsed_ms,
                    trace_id=error.trace_id,
                    codes=error.codes,
                )
                if status == 401 and not reauthenticated:
                    on_unauthorized = getattr(self.auth, "on_unauthorized", None)
                    if on_unauthorized is not None and await on_unauthorized(self._http, headers):
                        reauthenticated = True
                        attempt -= 1  # a credential refresh is not a retry
                        continue
                if isinstance(error, QontoRateLimited):
                    self.stats["rate_limited"] += 1
                    retryable = policy.retry_rate_limited
                elif isinstance(error, QontoServerError):
                    retryable = policy.retry_server_errors
                else:
                    retryable = False
            if not retryable or attempt >= policy.max_attempts:
                raise error
            delay = retry_after if retry_after is not None else policy.backoff(attempt, self._rng)
            if waited + delay > policy.max_total_delay:
                log.warning(
                    "qonto_retry_budget_exhausted",
                    method=method,
                    path=path,
                    attempt=attempt,
                    waited=round(waited, 3),
                    next_delay=round(delay, 3),
                )
                raise error
            if isinstance(error, QontoRateLimited):
                # Qonto limits per IP: every request of this process holds back.
                self.limiter.penalise(delay)
            self.stats["retries"] += 1
            log.info(
                "qonto_retry",
                method=method,
                path=path,
                attempt=attempt,
                delay=round(delay, 3),
                status=error.status,
            )
            await self._sleep(delay)
            waited += delay

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        response = await self.request(
            method, path, params=params, json=json, idempotency_key=idempotency_key
        )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise QontoDecodeError(
                "Qonto answered a body that is not JSON",
                status=response.status_code,
                method=method,
                path=path,
                body=response.text[:2000],
            ) from exc

    async def _get_object(self, path: str, key: str) -> dict[str, Any]:
        body = await self.request_json("GET", path)
        obj = _unwrap(body, key)
        if not isinstance(obj, dict):
            raise QontoDecodeError(f"expected an object under {key!r}", path=path, body=body)
        return obj

    # ---------------------------------------------------------------- pagination

    async def get_page(
        self,
        path: str,
        key: str,
        params: Mapping[str, Any] | None = None,
        *,
        page: int = 1,
        per_page: int = 100,
    ) -> Page[dict[str, Any]]:
        """One page of any list endpoint, raw items."""
        check_per_page(per_page)
        query = encode_params({**(params or {}), "page": page, "per_page": per_page})
        body = await self.request_json("GET", path, params=query)
        if not isinstance(body, dict):
            raise QontoDecodeError("a list answer must be a JSON object", path=path, body=body)
        items = body.get(key)
        if items is None:
            items = []
        if not isinstance(items, list):
            raise QontoDecodeError(f"expected a list under {key!r}", path=path, body=body)
        return Page(items=items, meta=PageMeta.parse(body.get("meta"), requested_page=page))

    async def iter_pages(
        self, path: str, key: str, params: Mapping[str, Any] | None = None, *, per_page: int = 100
    ) -> AsyncIterator[Page[dict[str, Any]]]:
        """Every page in turn, until ``next_page`` is null (or a 422 past the first page)."""
        page_number = 1
        while True:
            try:
                page = await self.get_page(path, key, params, page=page_number, per_page=per_page)
            except QontoValidationError as exc:
                if page_number > 1 and exc.status == 422:
                    log.info("qonto_page_past_end", path=path, page=page_number)
                    return
                raise
            yield page
            next_page = page.meta.next_page
            if next_page is None or next_page <= page_number or not page.items:
                return
            page_number = next_page

    async def iter_items(
        self, path: str, key: str, params: Mapping[str, Any] | None = None, *, per_page: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        async for page in self.iter_pages(path, key, params, per_page=per_page):
            for item in page.items:
                yield item

    # ---------------------------------------------------------------- organization

    async def get_organization(self) -> dict[str, Any]:
        return await self._get_object("/v2/organization", "organization")

    def iter_bank_accounts(self, *, per_page: int = 100) -> AsyncIterator[dict[str, Any]]:
        return self.iter_items("/v2/bank_accounts", "bank_accounts", per_page=per_page)

    async def get_bank_account(self, id: str) -> dict[str, Any]:
        return await self._get_object(f"/v2/bank_accounts/{_segment(id)}", "bank_account")

    # ---------------------------------------------------------------- transactions

    @staticmethod
    def transaction_params(
        *,
        bank_account_id: str | None = None,
        iban: str | None = None,
        statuses: Sequence[str] | None = ALL_STATUSES,
        updated_at_from: datetime | str | None = None,
        updated_at_to: datetime | str | None = None,
        settled_at_from: datetime | str | None = None,
        settled_at_to: datetime | str | None = None,
        emitted_at_from: datetime | str | None = None,
        emitted_at_to: datetime | str | None = None,
        side: Literal["credit", "debit"] | None = None,
        operation_types: Sequence[str] | None = None,
        with_attachments: bool | None = None,
        sort_by: str | None = "updated_at:asc",
        includes: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Query parameters of ``GET /v2/transactions``.

        ``statuses`` defaults to all three: Qonto's own default is ``completed`` only, and
        a sync that wants pending -> completed transitions must ask for every status.
        """
        if isinstance(statuses, str) or isinstance(operation_types, str):
            raise TypeError("statuses and operation_types are sequences of strings")
        return {
            "bank_account_id": bank_account_id,
            "iban": iban,
            "status": list(statuses) if statuses else None,
            "updated_at_from": updated_at_from,
            "updated_at_to": updated_at_to,
            "settled_at_from": settled_at_from,
            "settled_at_to": settled_at_to,
            "emitted_at_from": emitted_at_from,
            "emitted_at_to": emitted_at_to,
            "side": side,
            "operation_type": list(operation_types) if operation_types else None,
            "with_attachments": with_attachments,
            "sort_by": sort_by,
            "includes": list(includes) if includes else None,
        }

    async def list_transactions(
        self, *, page: int = 1, per_page: int = 100, **filters: Any
    ) -> Page[QontoTransaction]:
        """One page of transactions (``filters``: those of ``transaction_params``)."""
        params = self.transaction_params(**filters)
        raw = await self.get_page(
            "/v2/transactions", "transactions", params, page=page, per_page=per_page
        )
        return Page(items=[_parse_transaction(t) for t in raw.items], meta=raw.meta)

    async def iter_transactions(
        self, *, per_page: int = 100, **filters: Any
    ) -> AsyncIterator[QontoTransaction]:
        """Every transaction matching the filters (those of ``transaction_params``), page
        after page."""
        params = self.transaction_params(**filters)
        async for item in self.iter_items(
            "/v2/transactions", "transactions", params, per_page=per_page
        ):
            yield _parse_transaction(item)

    async def iter_transactions_in_windows(
        self,
        *,
        start: datetime,
        end: datetime,
        size: timedelta = timedelta(days=7),
        overlap: timedelta = timedelta(minutes=5),
        field: Literal["updated_at", "settled_at", "emitted_at"] = "updated_at",
        **filters: Any,
    ) -> AsyncIterator[QontoTransaction]:
        """A large range read as overlapping windows on ``field`` (see ``time_windows``).

        A version (``id``, ``updated_at``) seen in the previous window is not yielded
        again; a transaction updated meanwhile can still come twice, as a newer version
        (harmless: consumers keep the newest ``updated_at``).
        """
        for key in (f"{field}_from", f"{field}_to"):
            if key in filters:
                raise TypeError(f"{key} is set by the windows")
        if field in ("updated_at", "settled_at"):  # Qonto sorts on these two only
            filters.setdefault("sort_by", f"{field}:asc")
        previous: set[tuple[str, datetime]] = set()
        for lower, upper in time_windows(start, end, size=size, overlap=overlap):
            current: set[tuple[str, datetime]] = set()
            window: dict[str, Any] = {f"{field}_from": lower, f"{field}_to": upper}
            async for transaction in self.iter_transactions(**window, **filters):
                version = (transaction.id, transaction.updated_at)
                if version in current:
                    continue
                current.add(version)
                if version not in previous:
                    yield transaction
            previous = current

    async def get_transaction(self, id: str) -> QontoTransaction:
        raw = await self._get_object(f"/v2/transactions/{_segment(id)}", "transaction")
        return _parse_transaction(raw)

    # ---------------------------------------------------------------- invoices

    def iter_client_invoices(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        """``GET /v2/client_invoices`` (scope ``client_invoices.read``); filters pass
        through as query parameters (lists become ``key[]``), ``per_page`` included."""
        per_page = int(filters.pop("per_page", 100))
        return self.iter_items("/v2/client_invoices", "client_invoices", filters, per_page=per_page)

    def iter_supplier_invoices(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        """``GET /v2/supplier_invoices`` (scope ``supplier_invoice.read``)."""
        per_page = int(filters.pop("per_page", 100))
        return self.iter_items(
            "/v2/supplier_invoices", "supplier_invoices", filters, per_page=per_page
        )

    # ---------------------------------------------------------------- webhooks

    async def create_webhook_subscription(
        self,
        callback_url: str,
        types: Sequence[str],
        *,
        secret: str | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Subscribe ``callback_url`` to event ``types``; the answer holds the ``secret``."""
        if isinstance(types, str):
            raise TypeError("types is a sequence of event types, e.g. ['v1/transactions']")
        payload: dict[str, Any] = {"callback_url": callback_url, "types": list(types)}
        if secret is not None:
            if not 32 <= len(secret) <= 128:
                raise ValueError("a webhook secret is 32 to 128 characters")
            payload["secret"] = secret
        if description is not None:
            payload["description"] = description
        body = await self.request_json(
            "POST", "/v2/webhook_subscriptions", json=payload, idempotency_key=idempotency_key
        )
        obj = _unwrap(body, "webhook_subscription")
        if not isinstance(obj, dict):
            raise QontoDecodeError("unexpected webhook subscription answer", body=body)
        return obj

    async def list_webhook_subscriptions(self) -> list[dict[str, Any]]:
        return [
            item
            async for item in self.iter_items("/v2/webhook_subscriptions", "webhook_subscriptions")
        ]

    async def delete_webhook_subscription(self, id: str) -> None:
        await self.request("DELETE", f"/v2/webhook_subscriptions/{_segment(id)}")


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


def _segment(value: str) -> str:
    """An id as one path segment (no ``/``, ``?`` or ``#`` smuggling)."""
    text = str(value)
    if not text or any(c in text for c in "/?#") or text in (".", ".."):
        raise ValueError(f"not a valid Qonto id: {value!r}")
    return text


def _parse_transaction(raw: Any) -> QontoTransaction:
    try:
        return QontoTransaction.model_validate(raw)
    except ValidationError as exc:
        ident = raw.get("id") if isinstance(raw, dict) else None
        raise QontoDecodeError(
            f"a transaction does not parse ({exc.error_count()} errors): id={ident!r}",
            body=raw,
        ) from exc


__all__ = [
    "ALL_STATUSES",
    "IDEMPOTENCY_HEADER",
    "QontoClient",
    "RetryPolicy",
    "parse_retry_after",
]
