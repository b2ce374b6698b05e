"""Typed errors for the Qonto API, carrying Qonto's own error body.

Qonto answers errors as ``{"errors": [{"code", "detail", "source": {...}}], "trace_id": "..."}``
(docs.qonto.com/get-started/general/errors). Every error keeps that list, the ``trace_id``
(quote it to Qonto's support) and the raw body; none of them ever holds a credential.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

_BODY_LIMIT = 2_000  # characters of a non-JSON body kept on an error


class QontoError(Exception):
    """Any failure talking to Qonto."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        trace_id: str | None = None,
        body: Any = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors: list[dict[str, Any]] = errors or []
        self.trace_id = trace_id
        self.body = body
        self.method = method
        self.path = path
        self.retry_after = retry_after

    @property
    def codes(self) -> list[str]:
        return [str(e.get("code")) for e in self.errors if isinstance(e, dict) and "code" in e]

    def __str__(self) -> str:
        parts = [self.message]
        if self.method and self.path:
            parts.append(f"({self.method} {self.path})")
        if self.trace_id:
            parts.append(f"trace_id={self.trace_id}")
        return " ".join(parts)


class QontoAuthError(QontoError):
    """401: missing, wrong, expired or revoked credentials."""


class QontoOAuthError(QontoAuthError):
    """The OAuth token endpoint refused a grant (``invalid_grant``, ``invalid_client``, ...)."""

    @property
    def oauth_error(self) -> str | None:
        if isinstance(self.body, dict):
            value = self.body.get("error")
            return str(value) if value is not None else None
        return None


class QontoForbidden(QontoError):
    """403: authenticated but not allowed."""


class QontoScopeError(QontoForbidden):
    """403 because the OAuth token lacks a scope the endpoint needs."""


class QontoNotFound(QontoError):
    """404."""


class QontoValidationError(QontoError):
    """400 or 422: Qonto refused the parameters or the body."""


class QontoRateLimited(QontoError):
    """429 after the retries allowed by the policy (``retry_after`` when Qonto said)."""


class QontoServerError(QontoError):
    """5xx after the retries allowed by the policy."""


class QontoSandboxLoginPage(QontoError):
    """The sandbox answered its login HTML page: the staging token is missing or wrong."""


class QontoTransportError(QontoError):
    """No HTTP answer: connection refused/reset, timeout, TLS, protocol error."""


class QontoDecodeError(QontoError):
    """A 2xx answer that is not the JSON shape the endpoint documents."""


def _decode_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return response.text[:_BODY_LIMIT]


def _detail(errors: list[dict[str, Any]], body: Any) -> str:
    details = [str(e.get("detail") or e.get("code")) for e in errors if isinstance(e, dict)]
    if details:
        return "; ".join(details)
    if isinstance(body, dict):
        for key in ("error_description", "message", "error"):
            if body.get(key):
                return str(body[key])
    return ""


def _mentions_scope(errors: list[dict[str, Any]], body: Any) -> bool:
    text = json.dumps(errors or body, default=str).lower()
    return "scope" in text


def is_html(response: httpx.Response) -> bool:
    return "text/html" in response.headers.get("content-type", "").lower()


def error_from_response(
    response: httpx.Response, *, retry_after: float | None = None
) -> QontoError:
    """The typed error for a non-2xx (or HTML) answer."""
    status = response.status_code
    try:
        method: str | None = response.request.method
        path: str | None = response.request.url.path
    except RuntimeError:  # a Response built by hand, without its request
        method = path = None
    common: dict[str, Any] = {"status": status, "method": method, "path": path}
    if is_html(response) or 300 <= status < 400:
        return QontoSandboxLoginPage(
            f"Qonto answered {status} with a login page instead of JSON: the sandbox needs "
            "a valid X-Qonto-Staging-Token on every request (QONTO_STAGING_TOKEN)",
            body=response.text[:_BODY_LIMIT],
            **common,
        )
    body = _decode_body(response)
    errors: list[dict[str, Any]] = []
    trace_id: str | None = None
    if isinstance(body, dict):
        raw_errors = body.get("errors")
        if isinstance(raw_errors, list):
            errors = [e if isinstance(e, dict) else {"detail": str(e)} for e in raw_errors]
        elif isinstance(raw_errors, dict):  # seen: {"errors": {"field": ["msg"]}}
            errors = [{"code": k, "detail": str(v)} for k, v in raw_errors.items()]
        raw_trace = body.get("trace_id")
        trace_id = str(raw_trace) if raw_trace is not None else None
    # Qonto sends the trace id as X-Tyk-Trace-Id too (docs: errors), which is all a gateway
    # error without a JSON body carries; x-qonto-trace-id is kept for older captures.
    trace_id = (
        trace_id
        or response.headers.get("x-tyk-trace-id")
        or response.headers.get("x-qonto-trace-id")
        or None
    )
    detail = _detail(errors, body)
    message = f"Qonto answered {status}" + (f": {detail}" if detail else "")
    kwargs: dict[str, Any] = {"errors": errors, "trace_id": trace_id, "body": body, **common}
    cls: type[QontoError]
    if status == 401:
        cls = QontoAuthError
    elif status == 403:
        cls = QontoScopeError if _mentions_scope(errors, body) else QontoForbidden
    elif status == 404:
        cls = QontoNotFound
    elif status in (400, 422):
        cls = QontoValidationError
    elif status == 429:
        cls = QontoRateLimited
    elif status >= 500:
        cls = QontoServerError
    else:
        cls = QontoError
    return cls(message, retry_after=retry_after, **kwargs)


__all__ = [
    "QontoAuthError",
    "QontoDecodeError",
    "QontoError",
    "QontoForbidden",
    "QontoNotFound",
    "QontoOAuthError",
    "QontoRateLimited",
    "QontoSandboxLoginPage",
    "QontoScopeError",
    "QontoServerError",
    "QontoTransportError",
    "QontoValidationError",
    "error_from_response",
    "is_html",
]
