"""One logical call to Qonto: auth, rate limiting, retries, error mapping, logging.

``QontoTransport`` is the base of ``QontoClient`` (see ``client`` for what every call
does); ``request`` and ``request_json`` are its whole surface, the resources are built on
them (``listing``, ``transactions``, ``resources``).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self, cast

import httpx
from pydantic import SecretStr

from qrecon.common.logging import get_logger
from qrecon.common.qonto.auth import STAGING_TOKEN_HEADER, Auth
from qrecon.common.qonto.errors import (
    QontoDecodeError,
    QontoError,
    QontoRateLimited,
    QontoServerError,
    QontoTransportError,
    error_from_response,
    is_html,
)
from qrecon.common.qonto.pagination import QueryParams, encode_params
from qrecon.common.qonto.ratelimit import RateLimiter
from qrecon.common.qonto.retry import RetryPolicy, parse_retry_after
from qrecon.common.timeutil import utcnow

__all__ = ["IDEMPOTENCY_HEADER", "USER_AGENT", "QontoTransport", "Sleep", "segment", "unwrap"]

log = get_logger("qrecon.common.qonto.client")  # the name its log lines always had

IDEMPOTENCY_HEADER = "X-Qonto-Idempotency-Key"
USER_AGENT = "qrecon-qonto-client/0.1"
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Sleep = Callable[[float], Awaitable[None]]
_DEFAULT_RETRY = RetryPolicy()  # frozen: one shared default


@dataclass(slots=True)
class _Failure:
    """An attempt that did not return a 2xx answer."""

    error: QontoError
    status: int | None = None  # None: no answer (timeout, connection error)
    retry_after: float | None = None


class QontoTransport:
    """Async client for one Qonto connection. Use as ``async with``; not thread-safe."""

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        staging_token: SecretStr | None = None,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy = _DEFAULT_RETRY,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        connection_id: str = "default",
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        max_connections: int = 50,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.limiter = limiter if limiter is not None else RateLimiter.process_default()
        self.retry = retry
        self.connection_id = connection_id
        self._sleep = sleep
        self._now = now  # the wall clock an HTTP-date Retry-After is measured against
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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying httpx client (token calls share it)."""
        return self._http

    # ---------------------------------------------------------------- one logical call

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
            headers = await self._headers(idempotency_key)
            outcome = await self._attempt(method, path, query, json, headers, attempt)
            if isinstance(outcome, httpx.Response):
                return outcome
            if (
                outcome.status == 401
                and not reauthenticated
                and await self._reauthenticate(headers)
            ):
                reauthenticated = True
                attempt -= 1  # a credential refresh is not a retry
                continue
            retryable = self._retryable(outcome, policy)
            delay = self._delay(outcome, policy, retryable, attempt, waited, method, path)
            if isinstance(outcome.error, QontoRateLimited):
                # Qonto limits per IP: every request of this process holds back.
                self.limiter.penalise(delay)
            self.stats["retries"] += 1
            log.info(
                "qonto_retry",
                method=method,
                path=path,
                attempt=attempt,
                delay=round(delay, 3),
                status=outcome.error.status,
            )
            await self._sleep(delay)
            waited += delay

    async def _headers(self, idempotency_key: str | None) -> dict[str, str]:
        """Wait for the rate limiter, then the attempt's headers (auth, idempotency key)."""
        await self.limiter.acquire()
        headers = await self.auth.headers(self._http)
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        return headers

    async def _attempt(
        self,
        method: str,
        path: str,
        query: QueryParams | None,
        json: Any,
        headers: dict[str, str],
        attempt: int,
    ) -> httpx.Response | _Failure:
        """One HTTP exchange: the 2xx answer, or what went wrong (logged)."""
        started = time.perf_counter()
        self.stats["requests"] += 1
        try:
            response = await self._http.request(
                method, path, params=cast(Any, query), json=json, headers=headers
            )
        except _RETRYABLE_TRANSPORT as exc:
            log.warning(
                "qonto_transport_error",
                method=method,
                path=path,
                attempt=attempt,
                error=type(exc).__name__,
            )
            return _Failure(
                QontoTransportError(
                    f"no answer from Qonto: {type(exc).__name__}", method=method, path=path
                )
            )
        except httpx.HTTPError as exc:
            raise QontoTransportError(
                f"cannot call Qonto: {type(exc).__name__}", method=method, path=path
            ) from exc
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
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self._now())
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
        return _Failure(error, status, retry_after)

    async def _reauthenticate(self, headers: dict[str, str]) -> bool:
        """After a 401: whether the auth refreshed its credentials (then retry at once)."""
        on_unauthorized = getattr(self.auth, "on_unauthorized", None)
        return on_unauthorized is not None and bool(await on_unauthorized(self._http, headers))

    def _retryable(self, failure: _Failure, policy: RetryPolicy) -> bool:
        if failure.status is None:
            return policy.retry_transport_errors
        if isinstance(failure.error, QontoRateLimited):
            self.stats["rate_limited"] += 1
            return policy.retry_rate_limited
        if isinstance(failure.error, QontoServerError):
            return policy.retry_server_errors
        return False

    def _delay(
        self,
        failure: _Failure,
        policy: RetryPolicy,
        retryable: bool,
        attempt: int,
        waited: float,
        method: str,
        path: str,
    ) -> float:
        """The wait before the next attempt; raises the error when there is none."""
        if not retryable or attempt >= policy.max_attempts:
            raise failure.error
        retry_after = failure.retry_after
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
            raise failure.error
        return delay

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
        obj = unwrap(body, key)
        if not isinstance(obj, dict):
            raise QontoDecodeError(f"expected an object under {key!r}", path=path, body=body)
        return obj


def unwrap(body: Any, key: str) -> Any:
    """``{"transaction": {...}}`` -> ``{...}``; an already bare object passes through."""
    if isinstance(body, dict) and key in body:
        return body[key]
    return body


def segment(value: str) -> str:
    """An id as one path segment (no ``/``, ``?`` or ``#`` smuggling)."""
    text = str(value)
    if not text or any(c in text for c in "/?#") or text in (".", ".."):
        raise ValueError(f"not a valid Qonto id: {value!r}")
    return text
