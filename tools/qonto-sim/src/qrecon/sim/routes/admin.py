"""The admin API under ``/_sim`` (JSON), not part of Qonto's API — control: health,
status, reset, scenarios and play, faults, rate limits, webhook settings, the clock.
Edits, subscriptions, OAuth helpers and the ground truth are in ``admin_data``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from qrecon.sim.clock import parse_ts
from qrecon.sim.errors import Unprocessable
from qrecon.sim.faults import Faults, RateLimits
from qrecon.sim.routes.common import SimDep, json_body, json_response

router = APIRouter()


def scenario_params(body: dict[str, Any]) -> dict[str, Any]:
    """The scenario knobs shared by ``/_sim/scenario`` and ``/_sim/play``."""
    params: dict[str, Any] = {}
    for key in ("seed", "months"):
        if body.get(key) is not None:
            params[key] = int(body[key])
    if body.get("size") is not None:
        size = body["size"]
        params["size"] = int(size) if isinstance(size, int | float) else str(size)
    if body.get("start"):
        params["start"] = parse_ts(str(body["start"]))
    if body.get("name"):
        params["name"] = str(body["name"])
    return params


@router.get("/_sim/health")
async def health() -> Response:
    return json_response({"ok": True})


@router.get("/_sim/status")
async def status(sim: SimDep) -> Response:
    return json_response(sim.status())


@router.get("/_sim/credentials")
async def credentials(sim: SimDep) -> Response:
    return json_response(sim.credentials().to_dict())


@router.post("/_sim/reset")
async def reset(request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    sim.reset(
        keep_credentials=bool(body.get("keep_credentials", False)),
        keep_subscriptions=bool(body.get("keep_subscriptions", False)),
        keep_faults=bool(body.get("keep_faults", False)),
    )
    return json_response(sim.status())


# --- scenarios


@router.post("/_sim/scenario")
async def load_scenario(request: Request, sim: SimDep) -> Response:
    """Generate a scenario and apply it at once (history); no webhooks unless asked."""
    from qrecon.sim.player import load_scenario as load

    body = await json_body(request)
    summary = load(
        sim,
        webhooks=bool(body.get("webhooks", False)),
        reset=bool(body.get("reset", True)),
        **scenario_params(body),
    )
    return json_response(summary)


@router.post("/_sim/play")
async def play(request: Request, sim: SimDep) -> Response:
    """Play a scenario in the background: ``speed`` (simulated s per real s) or
    ``month_seconds`` (real seconds per business month, default 60)."""
    from qrecon.sim.player import start_play

    body = await json_body(request)
    player = start_play(
        sim,
        speed=float(body["speed"]) if body.get("speed") else None,
        month_seconds=float(body.get("month_seconds") or 60.0),
        history_months=int(body.get("history_months") or 0),
        reset=bool(body.get("reset", True)),
        stamp="business" if body.get("stamp") == "business" else "wall",
        **scenario_params(body),
    )
    return json_response(player.status(), 202)


@router.post("/_sim/stop")
async def stop(sim: SimDep) -> Response:
    if sim.player is not None:
        sim.player.stop()
    return json_response(sim.status())


# --- faults, limits, webhook settings, clock


@router.get("/_sim/faults")
async def get_faults(sim: SimDep) -> Response:
    return json_response(sim.faults.to_dict())


@router.put("/_sim/faults")
@router.post("/_sim/faults")
async def set_faults(request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    if body.pop("clear", False):
        faults = sim.set_faults(Faults(), **body)
    else:
        faults = sim.set_faults(**body)
    return json_response(faults.to_dict())


@router.get("/_sim/rate_limits")
async def get_rate_limits(sim: SimDep) -> Response:
    return json_response(sim.rate_limiter.limits.to_dict())


@router.put("/_sim/rate_limits")
@router.post("/_sim/rate_limits")
async def set_rate_limits(request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    current = sim.rate_limiter.limits
    windows = current.windows
    if body.get("windows") is not None:
        windows = [(int(w["limit"]), float(w["seconds"])) for w in body["windows"]]
    limits = RateLimits(
        windows=windows,
        retry_after=body.get("retry_after", current.retry_after),
        unauthorized_limit=int(body.get("unauthorized_limit", current.unauthorized_limit)),
        enabled=bool(body.get("enabled", current.enabled)),
    )
    sim.rate_limiter.configure(limits)
    return json_response(limits.to_dict())


@router.get("/_sim/webhook_settings")
async def get_webhook_settings(sim: SimDep) -> Response:
    settings = sim.webhook_settings.to_dict()
    return json_response({**settings, "concurrency": sim.webhooks.concurrency})


@router.put("/_sim/webhook_settings")
@router.post("/_sim/webhook_settings")
async def set_webhook_settings(request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    settings = sim.webhook_settings
    for key in ("timeout", "backoff_base", "backoff_max"):
        if key in body:
            setattr(settings, key, float(body[key]))
    if "max_attempts" in body:
        settings.max_attempts = max(1, int(body["max_attempts"]))
    if "amount_format" in body:
        if body["amount_format"] not in ("number", "string", "comma"):
            raise Unprocessable("amount_format must be number, string or comma")
        settings.amount_format = body["amount_format"]
    if "bank_account_style" in body:
        if body["bank_account_style"] not in ("object", "id", "both"):
            raise Unprocessable("bank_account_style must be object, id or both")
        settings.bank_account_style = body["bank_account_style"]
    if "subject_type_case" in body:
        if body["subject_type_case"] not in ("camel", "lower"):
            raise Unprocessable("subject_type_case must be camel or lower")
        settings.subject_type_case = body["subject_type_case"]
    if "concurrency" in body:
        sim.webhooks.concurrency = max(1, int(body["concurrency"]))
    return json_response({**settings.to_dict(), "concurrency": sim.webhooks.concurrency})


@router.get("/_sim/clock")
async def get_clock(sim: SimDep) -> Response:
    return json_response(sim.clock.describe())


@router.post("/_sim/clock")
async def set_clock(request: Request, sim: SimDep) -> Response:
    """``{"real": true}``, ``{"set": ISO}``, ``{"advance": seconds}``, ``{"speed": x}``,
    ``{"freeze": true}`` (combinable: set, then advance, then speed/freeze)."""
    body = await json_body(request)
    if body.get("real"):
        sim.clock.reset()
    if body.get("set"):
        sim.clock.set(parse_ts(str(body["set"])))
    if body.get("advance"):
        sim.clock.advance(float(body["advance"]))
    if body.get("speed") is not None:
        sim.clock.scale(float(body["speed"]))
    if body.get("freeze"):
        sim.clock.freeze()
    return json_response(sim.clock.describe())
