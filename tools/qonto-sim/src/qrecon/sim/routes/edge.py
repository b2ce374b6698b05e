"""What every request meets before a route: the sandbox's staging token, rate limits, API
faults (storms, slow answers, server errors) and ``X-Qonto-Idempotency-Key`` replays; and
the handlers that turn errors into Qonto's bodies."""

from __future__ import annotations

import asyncio
import random
import time
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import ASGIApp

from qrecon.sim.errors import OAuthError, SimError, Unauthorized
from qrecon.sim.idempotency import (
    IDEMPOTENCY_HEADER,
    REPLAY_HEADER,
    WRITE_METHODS,
    StoredAnswer,
    parse_key,
)
from qrecon.sim.routes.common import json_response, qonto_error
from qrecon.sim.state import Simulator

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Qonto - Connexion</title></head>
<body><main><h1>Connexion à Qonto</h1>
<form method="post" action="/login"><label>E-mail <input name="email" type="email"></label>
<label>Mot de passe <input name="password" type="password"></label>
<button type="submit">Se connecter</button></form></main></body></html>
"""

STAGING_HEADER = "x-qonto-staging-token"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def install_error_handlers(app: FastAPI, sim: Simulator) -> None:
    @app.exception_handler(SimError)
    async def _sim_error(request: Request, exc: SimError) -> Response:
        if isinstance(exc, Unauthorized):
            sim.rate_limiter.unauthorized(client_address(request))
        return qonto_error(
            exc.status, exc.code, exc.detail, parameter=exc.parameter, pointer=exc.pointer
        )

    @app.exception_handler(OAuthError)
    async def _oauth_error(request: Request, exc: OAuthError) -> Response:
        return json_response({"error": exc.error, "error_description": exc.description}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return qonto_error(422, "unprocessable_entity", str(exc.errors()))

    @app.exception_handler(ValueError)
    async def _value_error(request: Request, exc: ValueError) -> Response:
        return qonto_error(422, "unprocessable_entity", str(exc))


class QontoEdge(BaseHTTPMiddleware):
    """On ``/v2`` and ``/oauth2``: sandbox, rate limits and faults; then, for a write with
    ``X-Qonto-Idempotency-Key``, the replay of its first successful answer."""

    def __init__(self, app: ASGIApp, sim: Simulator, rng: random.Random) -> None:
        super().__init__(app)
        self.sim = sim
        self.rng = rng

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        sim = self.sim
        path = request.url.path
        is_api = path.startswith("/v2/")
        is_oauth = path.startswith("/oauth2/")
        if not (is_api or is_oauth):
            return await call_next(request)
        staging = request.headers.get(STAGING_HEADER)
        if sim.sandbox:
            if not sim.auth.check_staging_token(staging):
                if sim.sandbox_login_redirect:
                    return RedirectResponse("/login", status_code=302)
                return HTMLResponse(LOGIN_PAGE, status_code=200)
        elif staging is not None:
            return qonto_error(
                401, "unauthorized", "the staging token is not accepted in production"
            )
        address = client_address(request)
        retry_after = sim.rate_limiter.limits.retry_after
        limit_headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        faults = sim.faults
        storm = time.monotonic() < sim.storm_until
        if (
            not sim.rate_limiter.hit(address)
            or storm
            or (faults.rate_limit_rate and self.rng.random() < faults.rate_limit_rate)
        ):
            return qonto_error(
                429, "too_many_requests", "rate limit exceeded", headers=limit_headers
            )
        if is_api:
            if faults.slow_ms:
                await asyncio.sleep(faults.slow_ms / 1000.0)
            if faults.error_rate and self.rng.random() < faults.error_rate:
                status = self.rng.choice((500, 502, 503))
                return qonto_error(status, "internal_server_error", "simulated server error")
            raw_key = request.headers.get(IDEMPOTENCY_HEADER)
            if raw_key is not None and request.method in WRITE_METHODS:
                return await self._idempotent(request, call_next, raw_key)
        return await call_next(request)

    async def _idempotent(
        self, request: Request, call_next: RequestResponseEndpoint, raw_key: str
    ) -> Response:
        """A write with ``X-Qonto-Idempotency-Key``: the first successful answer for this
        organization and key, replayed for 30 minutes (``qrecon.sim.idempotency``)."""
        sim = self.sim
        try:
            who = sim.auth.authenticate(request.headers.get("authorization"))
        except SimError:
            return await call_next(request)  # the endpoint answers 401 (and counts it)
        key = parse_key(raw_key)
        if key is None:
            return qonto_error(
                422,
                "unprocessable_entity",
                f"{IDEMPOTENCY_HEADER} must be 1 to 255 printable characters (a UUID v4 is "
                "recommended)",
                parameter=IDEMPOTENCY_HEADER,
            )
        scope = (who.organization_id, key)
        store = sim.idempotency
        async with store.inflight(scope):  # the same key at once: one after the other
            stored = store.get(scope)
            if stored is not None:
                if (stored.method, stored.path) != (request.method, request.url.path):
                    return qonto_error(
                        422,
                        "idempotency_key_reused",
                        f"this {IDEMPOTENCY_HEADER} was used for another request "
                        f"({stored.method} {stored.path})",
                        parameter=IDEMPOTENCY_HEADER,
                    )
                return Response(
                    stored.body,
                    status_code=stored.status,
                    media_type=stored.content_type,
                    headers={REPLAY_HEADER: "true"},
                )
            response = await call_next(request)
            iterator = cast(StreamingResponse, response).body_iterator
            body = b"".join(
                [
                    chunk.encode() if isinstance(chunk, str) else bytes(chunk)
                    async for chunk in iterator
                ]
            )
            if 200 <= response.status_code < 300:
                store.put(
                    scope,
                    StoredAnswer(
                        method=request.method,
                        path=request.url.path,
                        status=response.status_code,
                        body=body,
                        content_type=response.headers.get("content-type"),
                        stored_at=sim.clock.now(),
                    ),
                )
            return Response(body, status_code=response.status_code, headers=response.headers)
