"""The one error body of every HTTP service, and its OpenAPI documentation.

Every error answer is ``{"error": {"code": "...", "detail": "..."}}`` (see
``shared/architecture.md``, "Ingest HTTP"); a route may add fields next to ``code`` and
``detail``, or next to ``error``. :func:`error_responses` builds the ``responses=`` mapping
FastAPI puts in OpenAPI, so each route documents the statuses it really answers with
this schema. Only pydantic here: the services own their FastAPI apps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JSON = "application/json"


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Machine-readable reason, e.g. `unauthorized`")
    detail: str = Field(description="What went wrong, for a person")


class ErrorBody(BaseModel):
    """``{"error": {"code", "detail"}}``, the body of every 4xx and 5xx answer."""

    model_config = ConfigDict(extra="allow")

    error: ErrorDetail


class Readiness(BaseModel):
    """``GET /readyz``: ready or not, and one boolean per dependency, nothing more (the
    probe is open, so it names no account, replica or error)."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, bool] = Field(description="Dependency name -> reachable")


ERROR_BODY_REF = "#/components/schemas/ErrorBody"

# What each status means on any route; a route may say more with ``descriptions``.
STANDARD_DESCRIPTIONS: Mapping[int, str] = {
    400: "Bad request: the request could not be understood.",
    401: "Missing or wrong credentials.",
    404: "Not found.",
    405: "Method not allowed (the `Allow` header lists the allowed ones).",
    409: "Conflict with the current state; read it again and retry.",
    413: "Body over the size limit.",
    415: "Unsupported content type.",
    422: "The request is well-formed but not valid.",
    500: "Internal error (a bug); nothing was changed by the request.",
    503: "Not available now; retry later.",
}

_HEADERS: Mapping[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The authentication scheme expected (`Bearer`).",
            "schema": {"type": "string"},
        }
    },
    405: {
        "Allow": {
            "description": "The methods the path allows.",
            "schema": {"type": "string"},
        }
    },
}


def error_responses(
    *statuses: int,
    descriptions: Mapping[int, str] | None = None,
    headers: Mapping[int, Mapping[str, Any]] | None = None,
    text_route: bool = False,
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a FastAPI route answering ``statuses`` with :class:`ErrorBody`.

    401 documents ``WWW-Authenticate`` only when ``headers`` says so (not every 401 has
    it); 405 always documents ``Allow``. ``text_route``: the route answers text when it
    succeeds (``/metrics``); FastAPI would document its errors' model in that media type,
    so they refer to the schema as JSON instead (put in the components by the app's
    other routes).
    """
    described = {**STANDARD_DESCRIPTIONS, **(descriptions or {})}
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {"description": described[status]}
        if text_route:
            response["content"] = {JSON: {"schema": {"$ref": ERROR_BODY_REF}}}
        else:
            response["model"] = ErrorBody
        status_headers = dict(_HEADERS[405]) if status == 405 else {}
        status_headers.update((headers or {}).get(status, {}))
        if status_headers:
            response["headers"] = status_headers
        responses[status] = response
    return responses


def bearer_challenge() -> dict[int, dict[str, Any]]:
    """``headers=`` for :func:`error_responses`: a 401 that carries ``WWW-Authenticate``."""
    return {401: dict(_HEADERS[401])}


def error_body(code: str, detail: str, **extra: Any) -> bytes:
    """The JSON bytes of an error answer (``extra``: fields next to ``error``)."""
    body: dict[str, Any] = {"error": {"code": code, "detail": detail}}
    body.update(extra)
    return json.dumps(body).encode()


__all__ = [
    "ERROR_BODY_REF",
    "JSON",
    "STANDARD_DESCRIPTIONS",
    "ErrorBody",
    "ErrorDetail",
    "Readiness",
    "bearer_challenge",
    "error_body",
    "error_responses",
]
