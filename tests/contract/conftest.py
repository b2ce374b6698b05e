"""Fixtures of the contract tests: each service's app in process, on real servers.

Schemathesis calls an ASGI app from one event loop of its own (a thread), so pools and
clients must be opened there: :class:`BuiltAtStartup` builds the app (fresh database,
service, its own lifespan) when schemathesis starts the app's lifespan, and
:func:`running` stops it. One app per test module: the operations share it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import hypothesis
from schemathesis.python import asgi
from starlette.types import ASGIApp, Receive, Scope, Send

# Deterministic and bounded: the same cases on every run, no example database written,
# no deadline (a 2-core machine shared by many is slow at times, never wrong).
CONTRACT_SETTINGS = hypothesis.settings(
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    print_blob=False,
)


class BuiltAtStartup:
    """An ASGI app made by ``build`` at lifespan startup and torn down at shutdown."""

    def __init__(self, build: Callable[[], AbstractAsyncContextManager[ASGIApp]]) -> None:
        self.build = build
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            assert self.app is not None, "the lifespan was not started"
            await self.app(scope, receive, send)
            return
        message = await receive()
        assert message["type"] == "lifespan.startup"
        async with contextlib.AsyncExitStack() as stack:
            try:
                self.app = await stack.enter_async_context(self.build())
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                raise
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.complete"})


@contextlib.contextmanager
def running(build: Callable[[], AbstractAsyncContextManager[ASGIApp]]) -> Iterator[ASGIApp]:
    """The app for ``case.call(app=...)``: schemathesis starts it on the first call, in its
    own loop; it is stopped here (its database dropped)."""
    try:
        yield BuiltAtStartup(build)
    finally:
        asgi.shutdown_lifespans()


async def until_ready(app: ASGIApp, deadline_seconds: float = 120.0) -> None:
    """Wait for the app's /readyz to answer 200: a service that has just started answers
    a documented 503 until its Kafka producer is connected, which is no contract breach."""
    import asyncio
    import time

    import httpx

    deadline = time.monotonic() + deadline_seconds
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc"
    ) as client:
        while (await client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "the app never became ready"
            await asyncio.sleep(0.2)
