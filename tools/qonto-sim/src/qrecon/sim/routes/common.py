"""What the routes share: the simulator dependency, JSON answers, Qonto's error body,
query parameters and pagination."""

from __future__ import annotations

import json
import math
import uuid
from typing import Annotated, Any, cast
from urllib.parse import parse_qs

from fastapi import Depends, Request
from starlette.responses import Response

from qrecon.sim.clock import format_ts, parse_ts
from qrecon.sim.errors import SimError, Unprocessable
from qrecon.sim.state import MIN_FILTER_DATE, Principal, Simulator


async def get_sim(request: Request) -> Simulator:
    """The simulator ``create_app`` put in ``app.state.sim``."""
    return cast(Simulator, request.app.state.sim)


SimDep = Annotated[Simulator, Depends(get_sim)]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers=headers,
    )


def qonto_error(
    status: int,
    code: str,
    detail: str,
    *,
    parameter: str | None = None,
    pointer: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Qonto's error body: ``{"errors": [{"code", "detail", "source"}], "trace_id"}``."""
    source: dict[str, str] = {}
    if parameter:
        source["parameter"] = parameter
    if pointer:
        source["pointer"] = pointer
    error: dict[str, Any] = {"code": code, "detail": detail}
    if source:
        error["source"] = source
    # The body's trace_id is also sent as the X-Tyk-Trace-Id header (docs: errors).
    trace_id = uuid.uuid4().hex
    return json_response(
        {"errors": [error], "trace_id": trace_id},
        status,
        {**(headers or {}), "X-Tyk-Trace-Id": trace_id},
    )


def principal(sim: Simulator, request: Request, scope: str) -> Principal:
    """The caller (``Authorization``), who must hold ``scope``."""
    who = sim.auth.authenticate(request.headers.get("authorization"))
    sim.auth.require_scope(who, scope)
    return who


def list_param(request: Request, name: str) -> list[str]:
    """``status[]=a&status[]=b``, ``status=a,b`` or ``status=a&status=b``."""
    values = request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)
    out: list[str] = []
    for value in values:
        out.extend(v for v in value.split(",") if v)
    return out


def timestamp_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = format_ts(parse_ts(raw))
    except ValueError as exc:
        raise Unprocessable(f"{name} is not an ISO 8601 date", parameter=name) from exc
    if value < MIN_FILTER_DATE:
        raise Unprocessable(f"{name} must be on or after 2017-01-01", parameter=name)
    return value


def bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise Unprocessable(f"{name} must be true or false", parameter=name)


def pagination(request: Request) -> tuple[int, int]:
    params = request.query_params
    raw_page = params.get("page") or params.get("current_page") or "1"
    raw_per_page = params.get("per_page") or "100"
    try:
        page = int(raw_page)
    except ValueError as exc:
        raise Unprocessable("page must be an integer", parameter="page") from exc
    try:
        per_page = int(raw_per_page)
    except ValueError as exc:
        raise Unprocessable("per_page must be an integer", parameter="per_page") from exc
    if page < 1:
        raise Unprocessable("page must be >= 1", parameter="page")
    if not 1 <= per_page <= 100:
        raise Unprocessable("per_page must be between 1 and 100", parameter="per_page")
    return page, per_page


def page_meta(sim: Simulator, page: int, per_page: int, total: int) -> dict[str, Any]:
    total_pages = math.ceil(total / per_page) if total else 0
    if page > max(total_pages, 1) and sim.past_last_page == "422":
        raise Unprocessable(f"page {page} is past the last page ({total_pages})", parameter="page")
    return {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": total,
        "per_page": per_page,
    }


def paged(sim: Simulator, request: Request, key: str, items: list[dict[str, Any]]) -> Response:
    """One page of ``items`` under ``key``, with Qonto's ``meta``."""
    page, per_page = pagination(request)
    meta = page_meta(sim, page, per_page, len(items))
    start = (page - 1) * per_page
    return json_response({key: items[start : start + per_page], "meta": meta})


def parse_form(body: bytes) -> dict[str, str]:
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object (empty: ``{}``); a 400 otherwise."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise SimError("body is not JSON", status=400, code="bad_request") from exc
    if not isinstance(body, dict):
        raise SimError("body must be a JSON object", status=400, code="bad_request")
    return body
