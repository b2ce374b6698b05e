"""Fixtures of the contract tests: each service's app in process, its OpenAPI loaded from it.

Schemathesis calls an ASGI app from one event loop of its own (a thread), so the app must
open its pools and clients there: each app is wrapped with a lifespan that starts its
dependencies (real PostgreSQL and Kafka) and is stopped when the test ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager

import hypothesis
from schemathesis.python import asgi
from starlette.types import ASGIApp, Receive, Scope, Send

# Deterministic and bounded: the same cases on every run, no example database written,
# no deadline (a 2-core machine shared by many is slow at times, never wrong).
CONTRACT_SETTINGS = hypothesis.settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    print_blob=False,
)


class WithLifespan:
    """``app`` whose ASGI lifespan also enters ``dependencies`` (in the server's loop)."""

    def __init__(
        self, app: ASGIApp, dependencies: Callable[[], AbstractAsyncContextManager[None]]
    ) -> None:
        self.app = app
        self.dependencies = dependencies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        async with contextlib.AsyncExitStack() as stack:
            message = await receive()
            assert message["type"] == "lifespan.startup"
            try:
                await stack.enter_async_context(self.dependencies())
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                raise
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.complete"})


@contextlib.asynccontextmanager
async def nothing() -> AsyncIterator[None]:
    yield


@contextlib.contextmanager
def running(app: ASGIApp) -> Iterator[ASGIApp]:
    """``app`` for ``case.call(app=...)``; schemathesis starts its lifespan on the first
    call, in its own loop, and it is stopped here (before the test's database goes)."""
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()
