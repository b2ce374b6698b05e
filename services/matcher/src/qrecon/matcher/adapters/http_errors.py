"""Error bodies of the review API, one format: ``{"error": {"code", "detail", ...}}``.

A validation error lists where and what (location, message), never the submitted input:
it may be megabytes long, or a secret pasted in the wrong field. Anything unexpected is
logged once, as one structured line, and answered as a JSON 500 without a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qrecon.common.logging import get_logger
from qrecon.matcher.app.errors import ServiceError

log = get_logger(__name__)

MAX_ERRORS = 20  # a body can hold thousands of bad items; the first few say enough
_MAX_PART = 60


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


def error_json(
    status: int,
    code: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "detail": detail, **extra}},
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Location and message of each error, without ``input`` or ``ctx`` (which echo it)."""
    out: list[dict[str, Any]] = []
    for error in exc.errors()[:MAX_ERRORS]:
        loc = [p if isinstance(p, int) else str(p)[:_MAX_PART] for p in error.get("loc", ())]
        out.append({"loc": loc, "msg": str(error.get("msg", "invalid"))[:200]})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_json(exc.status, exc.code, exc.detail, headers, **exc.extra)

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return error_json(exc.status, exc.code, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_json(
            422, "invalid_request", "the request is not valid", errors=validation_errors(exc)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # the same codes as ingest and sync answer
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_json(exc.status_code, code, str(exc.detail), exc.headers)

    app.add_middleware(CatchAll)


class CatchAll:
    """Turns an unexpected exception into a JSON 500 and one structured log line.

    Starlette's own handler for ``Exception`` re-raises after answering, so the server
    prints a plain-text traceback; this middleware answers and stops there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            log.error(
                "matcher_api_unexpected_error",
                method=scope.get("method"),
                route=_route_of(scope),
                error=type(exc).__name__,
                exc_info=exc,
            )
            if not started:
                response = error_json(500, "internal_error", "unexpected error, logged")
                await response(scope, receive, send)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
