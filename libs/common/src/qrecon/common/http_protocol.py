"""uvicorn's httptools protocol with a deadline on request headers, and TCP_NODELAY.

Imports nothing but the standard library and uvicorn: uvicorn pickles the protocol into
each worker process (``INGEST_WORKERS``), and a worker must answer the supervisor's first
health check (5 s) before it has imported the rest of the project.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("qrecon.http")


def error_body(code: str, detail: str) -> bytes:
    """The project's JSON error body."""
    return json.dumps({"error": {"code": code, "detail": detail}}).encode()


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Disable Nagle on a TCP connection (a no-op for other transports)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers, and a cap
    on open connections: past it a request gets a JSON 503 and its connection is closed
    (uvicorn's own ``limit_concurrency`` answers in plain text)."""

    def __init__(
        self, *args: Any, header_timeout: float, max_connections: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        set_nodelay(transport)
        self._arm()  # a client that connects and sends nothing is cut off too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        if self.max_connections is None or len(self.connections) <= self.max_connections:
            super().on_headers_complete()
            return
        log.warning("http_connection_limit %s reached: 503", self.max_connections)
        app, self.app = self.app, _service_unavailable  # this request only
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        log.debug("http_header_timeout after %s s", self.header_timeout)
        if self.cycle is None or self.cycle.response_complete:  # never inside a response
            body = error_body("request_timeout", "the request headers came too slowly")
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
            )
        self.transport.close()


async def _service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    body = error_body("too_many_connections", "the server has too many open connections")
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
