"""HTTP adapter: the FastAPI application (routes, OpenAPI, error bodies). Webhook POSTs are
answered by the raw-ASGI fast path of :mod:`.webhook_asgi` (parse, call the use case,
render), which the documented FastAPI routes of the same paths delegate to as well.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from qrecon.common.http_errors import Readiness, error_body, error_responses
from qrecon.common.logging import get_logger
from qrecon.common.qonto.signature import SIGNATURE_HEADER
from qrecon.common.schemas import QontoWebhookEvent
from qrecon.ingest import metrics
from qrecon.ingest.adapters.webhook_asgi import WebhookFastPath, WebhookHandler
from qrecon.ingest.app.ports import Inbox, Runtime
from qrecon.ingest.core.payload import MAX_ID_LENGTH
from qrecon.ingest.settings import DEFAULT_CONNECTION

log = get_logger(__name__)

_JSON = "application/json"


# FastAPI's native OpenTelemetry (recent versions) checks its providers on every request;
# ingest exports Prometheus metrics instead.
FASTAPI_OPTIONS: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def error_response(status: int, code: str, detail: str, **extra: Any) -> Response:
    return Response(error_body(code, detail, **extra), status_code=status, media_type=_JSON)


def _webhook_schema() -> dict[str, Any]:
    """The envelope's schema, with what the handler requires of ids too (they become Kafka
    keys and headers): short and printable (documented as printable ASCII)."""
    schema = QontoWebhookEvent.model_json_schema()
    for name in ("id", "type"):
        schema["properties"][name].update(
            minLength=1, maxLength=MAX_ID_LENGTH, pattern=r"^[\x20-\x7e]+$"
        )
    return schema


_WEBHOOK_DOC = {
    "requestBody": {
        "required": True,
        "content": {_JSON: {"schema": _webhook_schema()}},
    },
    "parameters": [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            # A header value is latin-1 on the wire: documented examples stay ASCII.
            "schema": {
                "type": "string",
                "example": "t=1704110400,v1="
                "56aff06dc227db80d6568a5070f912c601c31f20451745d257cbc0b5dfa93805",
            },
            "description": "HMAC-SHA256 of '<t>.<raw body>' keyed with the connection secret",
        }
    ],
}

# The connection id is read from the path by the handler, not parsed by FastAPI: nothing
# of the request is validated by FastAPI, so no 422 is documented (ingest never sends one).
_CONNECTION_WEBHOOK_DOC = {
    **_WEBHOOK_DOC,
    "parameters": [
        {
            "name": "connection_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "A webhook connection of INGEST_CONNECTIONS",
        },
        *_WEBHOOK_DOC["parameters"],
    ],
}


class Accepted(BaseModel):
    status: str = "accepted"
    event_id: str
    duplicate: bool


class Alive(BaseModel):
    status: str = "ok"


_WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Durable (also for a duplicate).", "model": Accepted},
    **error_responses(
        400,
        401,
        404,
        413,
        415,
        500,
        503,
        descriptions={
            400: "Signed, but not a Qonto event (invalid_json, not_a_qonto_event, "
            "invalid_transaction), or the client went away.",
            401: "Missing, malformed, wrong or stale signature.",
            404: "Unknown connection.",
            413: "Body over the limit.",
            415: "Content type is not JSON.",
            503: "Could not make the event durable now; retry.",
        },
    ),
}


def create_http_app(
    runtime: Runtime,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    # Swagger UI's assets are served by the app itself, never from a CDN.
    app = FastAPIOffline(
        title="qonto-ingest",
        summary="Verified Qonto webhooks, made durable, published to Kafka.",
        version="1",
        lifespan=lifespan,
        **FASTAPI_OPTIONS,
    )
    app.state.runtime = runtime

    handler = WebhookHandler(runtime)
    app.add_middleware(WebhookFastPath, handler=handler)
    # The server wraps the whole app in it too (``serve_app``), ahead of FastAPI's own
    # middleware stack (error and telemetry middlewares) that would otherwise run first.
    app.state.webhook_handler = handler

    async def handle(request: Request, connection_id: str) -> Response:
        # Reached only if the middleware is bypassed (it handles these paths first).
        status, body = await handler(connection_id, request.scope, request.receive)
        return Response(body, status_code=status, media_type=_JSON)

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
        openapi_extra=_CONNECTION_WEBHOOK_DOC,
    )
    async def webhook(request: Request) -> Response:
        return await handle(request, request.path_params["connection_id"])

    @app.get(
        "/healthz",
        summary="Alive",
        response_model=Alive,
        responses=error_responses(500),
    )
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=_JSON)

    @app.get(
        "/readyz",
        summary="Kafka and PostgreSQL reachable",
        response_model=Readiness,
        responses=error_responses(
            500, 503, descriptions={503: "Not ready; `checks` says which dependency is down."}
        ),
    )
    async def readyz() -> Response:
        checks = await runtime.readiness()
        if all(checks.values()):
            return Response(
                json.dumps({"status": "ready", "checks": checks}).encode(), media_type=_JSON
            )
        down = ", ".join(name for name, ok in checks.items() if not ok)
        return error_response(503, "not_ready", f"unreachable: {down}", checks=checks)

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses=error_responses(500, text_route=True),
    )
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        metrics.METRICS.rejected[code] += 1
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        metrics.METRICS.rejected["bad_request"] += 1
        return error_response(400, "bad_request", "invalid request")

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> Response:
        log.exception("unhandled_error")
        return error_response(500, "internal_error", "internal error")

    return app


def serve_app(app: FastAPI) -> ASGIApp:
    """What the server runs: webhook POSTs answered before entering FastAPI at all."""
    handler: WebhookHandler = app.state.webhook_handler
    return WebhookFastPath(app, handler)


__all__ = ["Inbox", "Runtime", "create_http_app", "error_response", "serve_app"]
