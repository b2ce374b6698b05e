"""Every HTTP server cuts slow clients off and caps its connections (qrecon.common.http_server).

A real uvicorn serves a small app on a real socket; the clients are raw sockets. Timeouts
are small settings here; the tests poll with generous deadlines and never assert a latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from qrecon.common.http_server import Receive, Scope, Send, bounded, uvicorn_options
from qrecon.common.settings import HttpServerSettings

DEADLINE = 30.0  # generous: a verdict far slower than the timeouts still passes


@dataclass
class Served:
    server: uvicorn.Server
    port: int
    processed: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _echo_app(processed: list[bytes]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        processed.append(body)
        payload = json.dumps({"received": len(body)}).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"x")]}
        )
        await send({"type": "http.response.body", "body": payload})

    return app


@contextlib.asynccontextmanager
async def serve(**limits: Any) -> AsyncIterator[Served]:
    settings = HttpServerSettings(**limits)
    processed: list[bytes] = []
    # Protocol 0, as the matcher once bound: TCP_NODELAY must not depend on it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        bounded(_echo_app(processed), settings), lifespan="off", **uvicorn_options(settings)
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve([sock]))
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield Served(server, sock.getsockname()[1], processed)
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _trickle_until_closed(
    writer: asyncio.StreamWriter, reader: asyncio.StreamReader, data: bytes
) -> bytes:
    """Send ``data`` one byte at a time (then keep sending spaces) until the server closes;
    what the server answered meanwhile."""
    answer = b""
    stream = iter(data)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            writer.write(bytes([next(stream, ord(" "))]))
            await writer.drain()
        except (ConnectionError, OSError):
            # The server closed and our byte drew a reset: TCP drops whatever answer was
            # still unread (a busy host makes this likely), so only what came before counts.
            with contextlib.suppress(ConnectionError, OSError):
                answer += await reader.read()
            return answer
        with contextlib.suppress(TimeoutError):
            chunk = await asyncio.wait_for(reader.read(4096), 0.1)
            if not chunk:
                return answer
            answer += chunk
    raise AssertionError(f"still connected after {DEADLINE} s")


async def test_a_client_sending_its_headers_too_slowly_is_disconnected() -> None:
    async with serve(http_header_timeout_seconds=0.5) as served:
        reader, writer = await _connect(served.port)
        answer = await _trickle_until_closed(
            writer, reader, b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: " + b"a" * 10_000
        )
        writer.close()
        # disconnected; the 408 is read unless a reset destroyed it first (see above)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer
        assert served.processed == []


async def test_a_client_that_connects_and_says_nothing_is_disconnected() -> None:
    async with serve(http_header_timeout_seconds=0.5) as served:
        reader, writer = await _connect(served.port)
        answer = await asyncio.wait_for(reader.read(), DEADLINE)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408 ")


async def test_a_body_trickled_slower_than_the_body_timeout_gets_408_and_is_not_processed() -> None:
    async with serve(http_body_timeout_seconds=0.5) as served:
        reader, writer = await _connect(served.port)
        writer.write(b"POST /hook HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")
        answer = await _trickle_until_closed(writer, reader, b"{" + b" " * 99_999)
        writer.close()
        assert served.processed == []
        if not answer:  # disconnected; a reset destroyed the 408 (see _trickle_until_closed)
            return
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer
        assert b"connection: close" in head.lower()
        assert json.loads(body)["error"]["code"] == "request_timeout"


async def test_a_body_that_stops_coming_gets_408_with_the_error_body() -> None:
    # Nothing is written after the server answers, so no reset can destroy the answer.
    async with serve(http_body_timeout_seconds=0.5) as served:
        reader, writer = await _connect(served.port)
        writer.write(b"POST /hook HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), DEADLINE)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer
        assert b"connection: close" in head.lower()
        assert json.loads(body)["error"]["code"] == "request_timeout"
        assert served.processed == []


async def test_a_normal_client_is_served_on_one_keep_alive_connection_with_nodelay() -> None:
    async with serve(http_header_timeout_seconds=0.5, http_body_timeout_seconds=0.5) as served:
        async with httpx.AsyncClient(base_url=served.url) as client:
            for i in range(20):
                response = await client.post("/hook", content=b"x" * i)
                assert response.json() == {"received": i}
            (connection,) = served.server.server_state.connections
            sock = connection.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert len(served.processed) == 20


async def test_requests_beyond_the_connection_limit_get_503() -> None:
    async with serve(http_max_connections=3, http_header_timeout_seconds=60) as served:
        idle = [await _connect(served.port) for _ in range(3)]
        deadline = time.monotonic() + DEADLINE
        while len(served.server.server_state.connections) < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=served.url) as client:
            refused = await client.get("/")
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "too_many_connections"
        for _, writer in idle:
            writer.close()
        while len(served.server.server_state.connections) >= 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=served.url) as client:
            assert (await client.get("/")).status_code == 200


def test_the_options_reach_uvicorn_worker_processes() -> None:
    """``INGEST_WORKERS`` > 1: uvicorn pickles its config into each worker process."""
    options = uvicorn_options(HttpServerSettings(http_header_timeout_seconds=3))
    protocol = pickle.loads(pickle.dumps(options["http"]))
    assert protocol.keywords == {"header_timeout": 3, "max_connections": 1000}


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_HEADER_TIMEOUT_SECONDS", "4")
    monkeypatch.setenv("HTTP_BODY_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("HTTP_MAX_CONNECTIONS", "50")
    settings = HttpServerSettings()
    assert (
        settings.http_header_timeout_seconds,
        settings.http_body_timeout_seconds,
        settings.http_max_connections,
    ) == (4, 7, 50)
