"""HTTP adapter: the FastAPI application (routes, error bodies, body limits). A webhook
request is parsed here, handed to the use case (``app.webhooks.ReceiveWebhook``: verify,
route, make durable) and its outcome rendered.

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
record over Kafka's limit   413     ``payload_too_large`` (``INGEST_MAX_RECORD_BYTES``)
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

import inspect
import json
import time
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
from starlette.types import ASGIApp, Receive, Scope, Send

from qrecon.common.http_errors import Readiness, error_body, error_responses
from qrecon.common.logging import get_logger
from qrecon.common.qonto.signature import SIGNATURE_HEADER
from qrecon.common.schemas import QontoWebhookEvent
from qrecon.ingest import metrics
from qrecon.ingest.app.ports import Inbox, Runtime
from qrecon.ingest.app.webhooks import NotDurable, ReceiveWebhook, RecordTooLarge
from qrecon.ingest.core.payload import MAX_ID_LENGTH, PayloadError
from qrecon.ingest.core.signature import SignatureError
from qrecon.ingest.settings import DEFAULT_CONNECTION

log = get_logger(__name__)

_SIGNATURE_HEADER_B = SIGNATURE_HEADER.lower().encode()
_JSON = "application/json"
_WEBHOOK_PATH = "/webhooks/qonto"
_WEBHOOK_PREFIX = "/webhooks/qonto/"


# FastAPI's native OpenTelemetry (recent versions) checks its providers on every request;
# ingest exports Prometheus metrics instead.
FASTAPI_OPTIONS: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


class Rejected(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


class _Disconnected(Exception):
    pass


def error_response(status: int, code: str, detail: str, **extra: Any) -> Response:
    return Response(error_body(code, detail, **extra), status_code=status, media_type=_JSON)


def _is_json(content_type: str | None) -> bool:
    if content_type is None or not content_type.strip():
        return True  # Qonto sends application/json; an absent type is not held against it
    media = content_type.split(";", 1)[0].strip().lower()
    return media == _JSON or (media.startswith("application/") and media.endswith("+json"))


async def _read_capped(receive: Receive, limit: int) -> bytes:
    """The body from ASGI ``receive``, refusing (413) as soon as it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise Rejected(413, "payload_too_large", f"body exceeds {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class WebhookHandler:
    """``POST /webhooks/qonto[/{connection_id}]`` on raw ASGI: parse, call
    :class:`~qrecon.ingest.app.webhooks.ReceiveWebhook`, render.

    It is the hot path, so it runs as an ASGI middleware ahead of FastAPI's routing,
    request objects and dependency injection (which cost more than the whole verification);
    the FastAPI routes of the same paths document it in OpenAPI and delegate to it.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.receive_webhook = ReceiveWebhook(runtime)
        self._metrics = metrics.METRICS

    async def __call__(
        self, connection_id: str, scope: Scope, receive: Receive
    ) -> tuple[int, bytes]:
        """Process one webhook request; returns (status, JSON body). Never raises."""
        started = time.perf_counter()
        use_case = self.receive_webhook
        connection = use_case.connection(connection_id)
        self._metrics.received[connection_id if connection is not None else "unknown"] += 1
        if connection is None:
            return _reject(404, "unknown_connection", "no such webhook connection", connection_id)
        try:
            length = content_type = signature = None
            for name, value in scope["headers"]:
                if name == b"content-length":
                    length = value
                elif name == b"content-type":
                    content_type = value.decode("latin-1")
                elif name == _SIGNATURE_HEADER_B:
                    signature = value.decode("latin-1")
            limit = self.runtime.max_body_bytes
            if length is not None and length.isdigit() and int(length) > limit:
                raise Rejected(413, "payload_too_large", f"body exceeds {limit} bytes")
            if not _is_json(content_type):
                raise Rejected(415, "unsupported_media_type", "the body must be application/json")
            accepted = await use_case(connection, signature, lambda: _read_capped(receive, limit))
        except Rejected as exc:
            return _reject(exc.status, exc.code, exc.detail, connection_id)
        except SignatureError as exc:
            return _reject(401, exc.code, exc.detail, connection_id)
        except PayloadError as exc:
            return _reject(400, exc.code, exc.detail, connection_id)
        except RecordTooLarge as exc:
            return _reject(413, "payload_too_large", str(exc), connection_id)
        except NotDurable:
            return _reject(503, "unavailable", "could not store the event; retry", connection_id)
        except _Disconnected:
            return _reject(400, "client_disconnected", "the client went away", connection_id)
        except Exception:  # a bug, not the client's fault; never let it escape
            log.exception("webhook_internal_error", connection_id=connection_id[:64])
            metrics.METRICS.rejected["internal_error"] += 1
            return 500, error_body("internal_error", "internal error")
        self._metrics.accepted["new" if accepted.new else "duplicate"] += 1
        self._metrics.observe_latency(time.perf_counter() - started)
        return 200, b'{"status":"accepted","event_id":%s,"duplicate":%s}' % (
            json.dumps(accepted.event_id).encode(),
            b"false" if accepted.new else b"true",
        )


def webhook_connection(path: str) -> str | None:
    """The connection a webhook path names, or None if it is not a webhook path."""
    if path == _WEBHOOK_PATH or path == _WEBHOOK_PATH + "/":
        return DEFAULT_CONNECTION
    if path.startswith(_WEBHOOK_PREFIX):
        rest = path[len(_WEBHOOK_PREFIX) :].rstrip("/")
        if rest and "/" not in rest:
            return rest
    return None


async def send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class WebhookFastPath:
    """ASGI middleware: webhook POSTs go straight to :class:`WebhookHandler`."""

    def __init__(self, app: ASGIApp, handler: WebhookHandler) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            connection_id = webhook_connection(scope["path"])
            if connection_id is not None:
                status, body = await self.handler(connection_id, scope, receive)
                await send_json(send, status, body)
                return
        await self.app(scope, receive, send)


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


def _reject(status: int, code: str, detail: str, connection_id: str) -> tuple[int, bytes]:
    metrics.METRICS.rejected[code] += 1
    log.info("webhook_rejected", status=status, code=code, connection_id=connection_id[:64])
    return status, error_body(code, detail)


__all__ = ["Inbox", "Runtime", "create_http_app", "error_response", "serve_app"]
