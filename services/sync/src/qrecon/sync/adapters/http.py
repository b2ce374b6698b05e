"""Health, readiness, status and Prometheus metrics over HTTP (FastAPI, served by uvicorn).

``/healthz``, ``/readyz`` and ``/metrics`` are open, for probes and Prometheus; ``/readyz``
says whether PostgreSQL and Kafka are reachable, and each connection's state by id
(``polling``, ``backfilling``, ``revoked``, ``failing``; also the
``qonto_sync_connection_state`` gauge). What names accounts, replicas and
errors is ``GET /v1/status``, behind ``Authorization: Bearer <SYNC_ADMIN_TOKEN>``
(compared in constant time; without a configured token the route answers 404). Every
error body is ``{"error": {"code": "...", "detail": "..."}}`` (``qrecon.common.http_errors``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from qrecon.common.http_errors import Readiness, bearer_challenge, error_responses
from qrecon.common.logging import get_logger
from qrecon.sync.core.revocation import ConnectionStateName
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)

_bearer = HTTPBearer(auto_error=False, description="SYNC_ADMIN_TOKEN")


class AdminSettings(Protocol):
    @property
    def admin_token(self) -> SecretStr | None: ...


class Service(Protocol):
    """What the routes need (``bootstrap.SyncService``; a fake in tests)."""

    @property
    def settings(self) -> AdminSettings: ...

    @property
    def metrics(self) -> SyncMetrics: ...

    async def readiness(self) -> dict[str, Any]: ...

    def update_gauges(self) -> None: ...


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


class Alive(BaseModel):
    status: str = "ok"


class SyncReadiness(Readiness):
    """``GET /readyz`` of sync: also each connection's state, by connection id. A revoked
    or failing connection does not make the service unready (the others carry on)."""

    connections: dict[str, ConnectionStateName] = Field(
        default_factory=dict,
        description="Connection id -> polling | backfilling | revoked | failing",
    )


def error(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"error": {"code": code, "detail": detail}}, status_code=status, headers=headers
    )


def _http_code(status: int) -> str:
    return {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")


def create_app(service: Service) -> FastAPI:
    admin_token: SecretStr | None = service.settings.admin_token
    # Swagger UI's assets are served by the app itself, never from a CDN.
    app = FastAPIOffline(
        title="qonto-sync",
        summary="Qonto polling gap-fill: probes, status and metrics.",
        version="1",
    )

    def administrator(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if admin_token is None or not admin_token.get_secret_value():
            raise ApiError(404, "not_found", "Not Found")  # as if the route did not exist
        if credentials is None or not hmac.compare_digest(
            credentials.credentials.encode(), admin_token.get_secret_value().encode()
        ):
            service.metrics.unauthorized.inc()
            log.warning("status_unauthorized", token_given=credentials is not None)
            raise ApiError(
                401, "unauthorized", "a bearer token is required", {"WWW-Authenticate": "Bearer"}
            )

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return error(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        # Keeps the exception's headers: a 405 says which methods are allowed (``Allow``).
        return error(exc.status_code, _http_code(exc.status_code), str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        return error(422, "invalid_request", "the request is not valid")  # never echoes input

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> Response:
        log.exception("http_internal_error")
        return error(500, "internal_error", "internal error")

    @app.get("/healthz", response_model=Alive, responses=error_responses(500))
    async def healthz() -> dict[str, str]:
        """Alive (the process answers)."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=SyncReadiness,
        responses=error_responses(
            500, 503, descriptions={503: "Not ready; `checks` says which dependency is down."}
        ),
    )
    async def readyz() -> Response:
        """Ready: PostgreSQL and Kafka reachable; and each connection's state (polling,
        backfilling, revoked, failing). Details: ``/v1/status``."""
        details = await service.readiness()
        checks = {name: details[name] == "ok" for name in ("postgres", "kafka")}
        states = {
            cid: conn["state"]
            for cid, conn in (details.get("connections") or {}).items()
            if isinstance(conn, dict) and "state" in conn
        }
        if details["ready"]:
            return JSONResponse({"status": "ready", "checks": checks, "connections": states})
        down = ", ".join(name for name, ok in checks.items() if not ok)
        return JSONResponse(
            {
                "error": {"code": "not_ready", "detail": f"unreachable: {down}"},
                "checks": checks,
                "connections": states,
            },
            status_code=503,
        )

    @app.get(
        "/v1/status",
        dependencies=[Depends(administrator)],
        responses=error_responses(
            401,
            404,
            500,
            headers=bearer_challenge(),
            descriptions={404: "SYNC_ADMIN_TOKEN is not set: the route is disabled."},
        ),
    )
    async def status() -> dict[str, Any]:
        """Readiness with its details: each connection's accounts (watermark, last error,
        sweeping, lease owner) and this replica's view of the leases."""
        return await service.readiness()

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses=error_responses(500, text_route=True),
    )
    async def metrics() -> Response:
        service.update_gauges()
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
