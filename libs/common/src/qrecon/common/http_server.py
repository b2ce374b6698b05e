"""What every HTTP server of the project runs with: slow clients cut off, connections capped.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) and the number of
connections (``limit_concurrency``, a plain-text 503), but nothing bounds the time a client
takes to send a request: a client trickling one byte a second holds a connection for ever
(uvicorn's keep-alive timer is reset by every byte, and an ASGI middleware only runs once
the headers are in). So:

- :class:`HeaderTimeoutProtocol` (uvicorn's httptools protocol) closes a connection whose
  request headers are not complete within ``HTTP_HEADER_TIMEOUT_SECONDS`` of its first byte
  (or of the connection, for a client that sends nothing), answering 408 when it can, and
  answers a JSON 503 (and closes) past ``HTTP_MAX_CONNECTIONS`` open connections;
- :class:`BodyTimeout` (ASGI) answers 408 to a request whose body is not all received
  within ``HTTP_BODY_TIMEOUT_SECONDS`` of its headers; the app never sees the whole body;
- every accepted socket gets ``TCP_NODELAY``, whoever created the listening socket
  (asyncio sets it only on sockets created with ``IPPROTO_TCP``; without it a keep-alive
  response waits ~40 ms for the client's delayed ACK).

Use :func:`uvicorn_options` for ``uvicorn.Config`` / ``uvicorn.run`` and wrap the app with
:func:`bounded`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from qrecon.common.http_protocol import HeaderTimeoutProtocol, error_body, set_nodelay
from qrecon.common.logging import get_logger
from qrecon.common.settings import HttpServerSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = get_logger("qrecon.http")


class _BodyTooSlow(Exception):
    """Raised into the app by ``receive`` once the body deadline has passed."""


class BodyTimeout:
    """Answers 408 (and closes) when a request body is not all in within ``timeout`` s."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        body_done = False
        started = False
        timed_out = False

        async def bounded_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:  # e.g. waiting for http.disconnect during a streamed response
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                if not started:
                    await self._respond_408(send)
                raise _BodyTooSlow from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:  # the 408 was the answer; whatever the app says next is dropped
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise

    async def _respond_408(self, send: Send) -> None:
        log.info("http_body_timeout", seconds=self.timeout)
        body = error_body("request_timeout", "the request body came too slowly")
        await send(
            {
                "type": "http.response.start",
                "status": 408,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})


def bounded(app: ASGIApp, limits: HttpServerSettings) -> ASGIApp:
    """``app`` behind the body timeout."""
    return BodyTimeout(app, limits.http_body_timeout_seconds)


def uvicorn_options(limits: HttpServerSettings) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.Config`` / ``uvicorn.run`` for every server.

    ``log_config=None``: uvicorn's loggers propagate to the root handler that
    :func:`qrecon.common.logging.configure_logging` installed (JSON lines).
    ``http`` is a ``functools.partial`` of a module-level class, so it pickles into
    uvicorn's worker processes.
    """
    return {
        "http": functools.partial(
            HeaderTimeoutProtocol,
            header_timeout=limits.http_header_timeout_seconds,
            max_connections=limits.http_max_connections,
        ),
        "timeout_keep_alive": limits.http_keep_alive_seconds,
        "log_config": None,
        "access_log": False,
        "server_header": False,
    }


__all__ = ["BodyTimeout", "HeaderTimeoutProtocol", "bounded", "set_nodelay", "uvicorn_options"]
