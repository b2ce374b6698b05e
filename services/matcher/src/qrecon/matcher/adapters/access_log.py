"""One log line per request of the review API, and the count of refused credentials.

A line holds the method, the path, the status, the latency in ms and the actor (who the
credentials say the caller is, or ``anonymous``) — never a header value, a token, a query
string or a body. Probes (``/healthz``, ``/readyz``, ``/metrics``) log at debug level.

The request guard (``http_limits.py``) records its verdict in the request's state
(``ACTOR``, ``AUTH_FAILURE``); this middleware reads it after the response, so a 401 is
counted with its route template and reason, never the secret.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qrecon.common.logging import get_logger
from qrecon.matcher.metrics import API_AUTH_FAILURES

log = get_logger("qrecon.matcher.access")

_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
ACTOR = "actor"
AUTH_FAILURE = "auth_failure"


class AccessLog:
    """ASGI middleware: the access log line and the auth-failure counter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Request.state writes into scope["state"]: the same dict, read back below.
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            self._record(scope, state, status, started)

    @staticmethod
    def _record(scope: Scope, state: MutableMapping[str, Any], status: int, started: float) -> None:
        path = str(scope.get("path", ""))
        route = getattr(scope.get("route"), "path", None) or _route_template(scope)
        if status == 401:
            API_AUTH_FAILURES.labels(
                route=route, reason=str(state.get(AUTH_FAILURE, "unknown"))
            ).inc()
        fields = {
            "method": scope.get("method"),
            "path": path,
            "route": route,
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "actor": str(state.get(ACTOR, "anonymous")),
        }
        if path in _PROBES and status < 400:
            log.debug("http_request", **fields)
        elif status == 401:
            log.warning("http_request", auth_failure=state.get(AUTH_FAILURE), **fields)
        else:
            log.info("http_request", **fields)


def _route_template(scope: Scope) -> str:
    """The template of the route a request was meant for, when it was answered before
    routing (the request guard's 401 and 413): a label of bounded cardinality."""
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"
