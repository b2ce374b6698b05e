"""The webhook fast path on raw ASGI: parse the request, call the use case
(:class:`~qrecon.ingest.app.webhooks.ReceiveWebhook`), render its outcome.

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

import json
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from qrecon.common.http_errors import error_body
from qrecon.common.logging import get_logger
from qrecon.common.qonto.signature import SIGNATURE_HEADER
from qrecon.ingest import metrics
from qrecon.ingest.app.ports import Runtime
from qrecon.ingest.app.webhooks import NotDurable, ReceiveWebhook, RecordTooLarge
from qrecon.ingest.core.payload import CONSENT_REVOCATIONS_TYPE as CONSENT_REVOCATIONS
from qrecon.ingest.core.payload import PayloadError
from qrecon.ingest.core.signature import SignatureError
from qrecon.ingest.settings import DEFAULT_CONNECTION

log = get_logger(__name__)

_SIGNATURE_HEADER_B = SIGNATURE_HEADER.lower().encode()
_JSON = "application/json"
_WEBHOOK_PATH = "/webhooks/qonto"
_WEBHOOK_PREFIX = "/webhooks/qonto/"


class Rejected(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


class _Disconnected(Exception):
    pass


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
        if accepted.new and accepted.event_type == CONSENT_REVOCATIONS:
            self._metrics.revocations[connection_id] += 1
            log.warning("consent_revoked", connection_id=connection_id, event_id=accepted.event_id)
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


def _reject(status: int, code: str, detail: str, connection_id: str) -> tuple[int, bytes]:
    metrics.METRICS.rejected[code] += 1
    log.info("webhook_rejected", status=status, code=code, connection_id=connection_id[:64])
    return status, error_body(code, detail)
