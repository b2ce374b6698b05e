"""HTTP adapter: the FastAPI application (routes, error bodies, body limits).

``POST /webhooks/qonto`` (connection ``default``) and ``POST /webhooks/qonto/{connection_id}``.
Checks, cheapest first, each answered with ``{"error": {"code", "detail"}}``, counted in
``ingest_webhooks_rejected_total{reason=<code>}`` and never published:

==========================  ======  ==================================================
unknown connection          404     ``unknown_connection`` (see :mod:`..settings`)
``Content-Length`` > limit  413     ``payload_too_large``, answered before reading a byte
Content-Type not JSON       415     ``unsupported_media_type`` (absent is accepted)
header missing / malformed  401     ``missing_signature`` / ``malformed_signature``
timestamp out of tolerance  401     ``stale_timestamp`` (past or future)
body over limit (chunked)   413     ``payload_too_large``, stops reading at the limit
wrong HMAC                  401     ``invalid_signature``
signed but not JSON         400     ``invalid_json``
not a Qonto event           400     ``not_a_qonto_event``
unparsable transaction      400     ``invalid_transaction``
inbox unavailable / slow    503     ``unavailable`` (Qonto retries; nothing lost)
wrong method                405     ``method_not_allowed``
==========================  ======  ==================================================

A webhook that passes is written to the inbox; the answer, ``200 {"status": "accepted",
"event_id", "duplicate"}``, is sent only once the row is committed (a redelivery finds it
there and gets the same 200 with ``duplicate: true``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from qrecon.common.logging import get_logger
from qrecon.common.qonto.signature import SIGNATURE_HEADER
from qrecon.common.schemas import QontoWebhookEvent
from qrecon.common.topics import Topics
from qrecon.ingest import metrics
from qrecon.ingest.core.payload import PayloadError, Routed, route_webhook
from qrecon.ingest.core.signature import SignatureError, check_signature, check_timestamp
from qrecon.ingest.core.signature import parse_signature_header as parse_header
from qrecon.ingest.settings import DEFAULT_CONNECTION, Connection

log = get_logger(__name__)

_SIGNATURE_HEADER = SIGNATURE_HEADER.lower()
_JSON = "application/json"


class Inbox(Protocol):
    async def write(self, connection_id: str, topic: str, routed: Routed) -> bool: ...


class Runtime(Protocol):
    """What the routes need; the service provides the real one, tests a fake."""

    connections: Mapping[str, Connection]
    topics: Topics
    inbox: Inbox
    max_body_bytes: int
    signature_tolerance_seconds: float
    durable_timeout_seconds: float

    def now(self) -> float: ...

    async def readiness(self) -> dict[str, bool]: ...


class Rejected(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def error_response(status: int, code: str, detail: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "detail": detail}}
    body.update(extra)
    return Response(json.dumps(body).encode(), status_code=status, media_type=_JSON)


def _is_json(content_type: str | None) -> bool:
    if content_type is None or not content_type.strip():
        return True  # Qonto sends application/json; an absent type is not held against it
    media = content_type.split(";", 1)[0].strip().lower()
    return media == _JSON or (media.startswith("application/") and media.endswith("+json"))


async def _read_capped(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, "payload_too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


_WEBHOOK_DOC = {
    "requestBody": {
        "required": True,
        "content": {_JSON: {"schema": QontoWebhookEvent.model_json_schema()}},
    },
    "parameters": [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "schema": {"type": "string", "example": "t=1704110400,v1=56aff06d…"},
            "description": "HMAC-SHA256 of '<t>.<raw body>' keyed with the connection secret",
        }
    ],
}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
        }
    },
}
_WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Durable (also for a duplicate)."},
    **{
        status: {"description": text, "content": {_JSON: {"schema": _ERROR_SCHEMA}}}
        for status, text in {
            400: "Signed, but not a Qonto event (invalid_json, not_a_qonto_event, "
            "invalid_transaction).",
            401: "Missing, malformed, wrong or stale signature.",
            404: "Unknown connection.",
            413: "Body over the limit.",
            415: "Content type is not JSON.",
            503: "Could not make the event durable now; retry.",
        }.items()
    },
}


def create_http_app(
    runtime: Runtime,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="qonto-ingest",
        summary="Verified Qonto webhooks, made durable, published to Kafka.",
        version="1",
        lifespan=lifespan,
    )
    app.state.runtime = runtime

    async def handle(request: Request, connection_id: str) -> Response:
        started = time.perf_counter()
        connection = runtime.connections.get(connection_id)
        metrics.RECEIVED.labels(connection_id if connection else "unknown").inc()
        try:
            if connection is None:
                raise Rejected(404, "unknown_connection", "no such webhook connection")
            headers = request.headers
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > runtime.max_body_bytes:
                raise Rejected(
                    413, "payload_too_large", f"body exceeds {runtime.max_body_bytes} bytes"
                )
            if not _is_json(headers.get("content-type")):
                raise Rejected(415, "unsupported_media_type", "the body must be application/json")
            now = runtime.now()
            header = parse_header(headers.get(_SIGNATURE_HEADER))
            check_timestamp(header, now=now, tolerance=runtime.signature_tolerance_seconds)
            body = await _read_capped(request, runtime.max_body_bytes)
            check_signature(header, body, connection.secrets)
            routed = route_webhook(
                body,
                connection_id=connection.id,
                observed_at=datetime.fromtimestamp(now, UTC),
                organization_id=connection.organization_id,
            )
        except Rejected as exc:
            return _reject(exc.status, exc.code, exc.detail, connection_id)
        except SignatureError as exc:
            return _reject(401, exc.code, exc.detail, connection_id)
        except PayloadError as exc:
            return _reject(400, exc.code, exc.detail, connection_id)
        except ClientDisconnect:
            return _reject(400, "client_disconnected", "the client went away", connection_id)

        topic = routed.topic(runtime.topics.transactions, runtime.topics.qonto_events)
        try:
            async with asyncio.timeout(runtime.durable_timeout_seconds):
                new = await runtime.inbox.write(connection.id, topic, routed)
        except Exception as exc:  # InboxUnavailable, TimeoutError: Qonto will retry
            log.warning(
                "webhook_not_durable",
                connection_id=connection.id,
                event_id=routed.event_id,
                error=type(exc).__name__,
            )
            return _reject(503, "unavailable", "could not store the event; retry", connection_id)
        metrics.ACCEPTED.labels("new" if new else "duplicate").inc()
        metrics.ACK_LATENCY.observe(time.perf_counter() - started)
        body_out = b'{"status":"accepted","event_id":%s,"duplicate":%s}' % (
            json.dumps(routed.event_id).encode(),
            b"false" if new else b"true",
        )
        return Response(body_out, status_code=200, media_type=_JSON)

    @app.post(
        "/webhooks/qonto",
        summary="Receive a webhook (connection 'default')",
        responses=_WEBHOOK_RESPONSES,
        openapi_extra=_WEBHOOK_DOC,
    )
    async def webhook_default(request: Request) -> Response:
        return await handle(request, DEFAULT_CONNECTION)

    @app.post(
        "/webhooks/qonto/{connection_id}",
        summary="Receive a webhook for a connection",
        responses=_WEBHOOK_RESPONSES,
        openapi_extra=_WEBHOOK_DOC,
    )
    async def webhook(request: Request, connection_id: str) -> Response:
        return await handle(request, connection_id)

    @app.get("/healthz", summary="Alive")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=_JSON)

    @app.get("/readyz", summary="Kafka and PostgreSQL reachable")
    async def readyz() -> Response:
        checks = await runtime.readiness()
        if all(checks.values()):
            return Response(
                json.dumps({"status": "ready", "checks": checks}).encode(), media_type=_JSON
            )
        down = ", ".join(name for name, ok in checks.items() if not ok)
        return error_response(503, "not_ready", f"unreachable: {down}", checks=checks)

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        metrics.REJECTED.labels(code).inc()
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        metrics.REJECTED.labels("bad_request").inc()
        return error_response(400, "bad_request", "invalid request")

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> Response:
        log.exception("unhandled_error")
        return error_response(500, "internal_error", "internal error")

    return app


def _reject(status: int, code: str, detail: str, connection_id: str) -> Response:
    metrics.REJECTED.labels(code).inc()
    log.info("webhook_rejected", status=status, code=code, connection_id=connection_id[:64])
    return error_response(status, code, detail)


__all__ = ["Inbox", "Runtime", "create_http_app", "error_response"]
