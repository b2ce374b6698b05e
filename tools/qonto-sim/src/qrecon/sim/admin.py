"""The admin API under ``/_sim`` (JSON): reset, scenarios, play, faults, subscriptions,
clock, OAuth helpers, direct edits, ground-truth export. Not part of Qonto's API."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response, StreamingResponse

from qrecon.sim.clock import parse_ts
from qrecon.sim.errors import NotFound, SimError, Unprocessable
from qrecon.sim.faults import RateLimits
from qrecon.sim.state import SCOPES, Simulator

GROUND_TRUTH_SECTIONS = (
    "transactions",
    "transaction_versions",
    "webhooks",
    "allocations",
    "invoices",
    "client_invoices",
    "supplier_invoices",
    "bank_accounts",
)


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        media_type="application/json; charset=utf-8",
    )


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise SimError("body is not JSON") from exc
    if not isinstance(body, dict):
        raise SimError("body must be a JSON object")
    return body


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


def register_admin(app: FastAPI, sim: Simulator) -> None:
    @app.get("/_sim/health")
    async def health() -> Response:
        return _json({"ok": True})

    @app.get("/_sim/status")
    async def status() -> Response:
        return _json(sim.status())

    @app.get("/_sim/credentials")
    async def credentials() -> Response:
        return _json(sim.credentials().to_dict())

    @app.post("/_sim/reset")
    async def reset(request: Request) -> Response:
        body = await _body(request)
        sim.reset(
            keep_credentials=bool(body.get("keep_credentials", False)),
            keep_subscriptions=bool(body.get("keep_subscriptions", False)),
            keep_faults=bool(body.get("keep_faults", False)),
        )
        return _json(sim.status())

    # --- scenarios

    @app.post("/_sim/scenario")
    async def load_scenario(request: Request) -> Response:
        """Generate a scenario and apply it at once (history); no webhooks unless asked."""
        from qrecon.sim.player import load_scenario as load

        body = await _body(request)
        summary = load(
            sim,
            webhooks=bool(body.get("webhooks", False)),
            reset=bool(body.get("reset", True)),
            **scenario_params(body),
        )
        return _json(summary)

    @app.post("/_sim/play")
    async def play(request: Request) -> Response:
        """Play a scenario in the background: ``speed`` (simulated s per real s) or
        ``month_seconds`` (real seconds per business month, default 60)."""
        from qrecon.sim.player import start_play

        body = await _body(request)
        player = start_play(
            sim,
            speed=float(body["speed"]) if body.get("speed") else None,
            month_seconds=float(body.get("month_seconds") or 60.0),
            history_months=int(body.get("history_months") or 0),
            reset=bool(body.get("reset", True)),
            stamp="business" if body.get("stamp") == "business" else "wall",
            **scenario_params(body),
        )
        return _json(player.status(), 202)

    @app.post("/_sim/stop")
    async def stop() -> Response:
        if sim.player is not None:
            sim.player.stop()
        return _json(sim.status())

    # --- faults, limits, webhook settings, clock

    @app.get("/_sim/faults")
    async def get_faults() -> Response:
        return _json(sim.faults.to_dict())

    @app.put("/_sim/faults")
    @app.post("/_sim/faults")
    async def set_faults(request: Request) -> Response:
        body = await _body(request)
        if body.pop("clear", False):
            from qrecon.sim.faults import Faults

            faults = sim.set_faults(Faults(), **body)
        else:
            faults = sim.set_faults(**body)
        return _json(faults.to_dict())

    @app.get("/_sim/rate_limits")
    async def get_rate_limits() -> Response:
        return _json(sim.rate_limiter.limits.to_dict())

    @app.put("/_sim/rate_limits")
    @app.post("/_sim/rate_limits")
    async def set_rate_limits(request: Request) -> Response:
        body = await _body(request)
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
        return _json(limits.to_dict())

    @app.get("/_sim/webhook_settings")
    async def get_webhook_settings() -> Response:
        return _json({**sim.webhook_settings.to_dict(), "concurrency": sim.webhooks.concurrency})

    @app.put("/_sim/webhook_settings")
    @app.post("/_sim/webhook_settings")
    async def set_webhook_settings(request: Request) -> Response:
        body = await _body(request)
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
        if "concurrency" in body:
            sim.webhooks.concurrency = max(1, int(body["concurrency"]))
        return _json({**settings.to_dict(), "concurrency": sim.webhooks.concurrency})

    @app.get("/_sim/clock")
    async def get_clock() -> Response:
        return _json(sim.clock.describe())

    @app.post("/_sim/clock")
    async def set_clock(request: Request) -> Response:
        """``{"real": true}``, ``{"set": ISO}``, ``{"advance": seconds}``, ``{"speed": x}``,
        ``{"freeze": true}`` (combinable: set, then advance, then speed/freeze)."""
        body = await _body(request)
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
        return _json(sim.clock.describe())

    # --- webhooks

    @app.get("/_sim/webhook_subscriptions")
    async def list_subscriptions() -> Response:
        return _json({"webhook_subscriptions": sim.webhook_subscriptions(with_secret=True)})

    @app.post("/_sim/webhook_subscriptions")
    async def add_subscription(request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body.get("callback_url"), str):
            raise Unprocessable("callback_url is required", parameter="callback_url")
        subscription = sim.add_webhook_subscription(
            callback_url=body["callback_url"],
            types=body.get("types") or ["v1/transactions"],
            secret=body.get("secret"),
            description=body.get("description"),
        )
        return _json({"webhook_subscription": subscription}, 201)

    @app.delete("/_sim/webhook_subscriptions/{subscription_id}")
    async def delete_subscription(subscription_id: str) -> Response:
        sim.delete_webhook_subscription(subscription_id)
        return Response(status_code=204)

    @app.get("/_sim/webhooks")
    async def webhook_log() -> Response:
        return _json({"webhooks": sim.webhooks.log(), "stats": sim.webhooks.stats()})

    @app.post("/_sim/webhooks/flush")
    async def flush(request: Request) -> Response:
        import asyncio

        body = await _body(request)
        timeout = float(body.get("timeout", 10.0))
        flushed = await asyncio.to_thread(sim.webhooks.flush, timeout)
        return _json({"flushed": flushed, "stats": sim.webhooks.stats()})

    # --- direct edits

    @app.post("/_sim/transactions")
    async def add_transaction(request: Request) -> Response:
        body = await _body(request)
        notify = bool(body.pop("notify", True))
        allocations = body.pop("allocations", None)
        tx = sim.add_transaction(notify=notify, **body)
        if allocations is not None:
            sim.set_allocation(tx["id"], allocations, kind=body.get("kind"))
        return _json({"transaction": tx}, 201)

    @app.patch("/_sim/transactions/{transaction_id}")
    async def update_transaction(transaction_id: str, request: Request) -> Response:
        body = await _body(request)
        notify = bool(body.pop("notify", True))
        return _json({"transaction": sim.update_transaction(transaction_id, notify=notify, **body)})

    @app.post("/_sim/transactions/{transaction_id}/attachments")
    async def add_attachment(transaction_id: str, request: Request) -> Response:
        body = await _body(request)
        tx = sim.add_attachment(transaction_id, str(body.get("file_name") or "facture.pdf"))
        return _json({"transaction": tx}, 201)

    @app.get("/_sim/transactions/{transaction_id}/versions")
    async def versions(transaction_id: str) -> Response:
        sim.transaction(transaction_id)
        return _json({"versions": sim.transaction_versions(transaction_id)})

    @app.post("/_sim/client_invoices")
    async def add_client_invoice(request: Request) -> Response:
        body = await _body(request)
        return _json({"client_invoice": sim.add_client_invoice(**body)}, 201)

    @app.post("/_sim/supplier_invoices")
    async def add_supplier_invoice(request: Request) -> Response:
        body = await _body(request)
        return _json({"supplier_invoice": sim.add_supplier_invoice(**body)}, 201)

    # --- credentials and OAuth helpers

    @app.post("/_sim/oauth/authorization_code")
    async def mint_code(request: Request) -> Response:
        """What a user's consent would return: ``{"code", "client_id", "redirect_uri"}``."""
        body = await _body(request)
        creds = sim.credentials()
        client_id = str(body.get("client_id") or creds.client_id)
        scopes = body.get("scopes") or list(SCOPES)
        if isinstance(scopes, str):
            scopes = scopes.split()
        redirect_uri = body.get("redirect_uri")
        code = sim.mint_authorization_code(client_id, scopes=scopes, redirect_uri=redirect_uri)
        return _json(
            {
                "code": code,
                "client_id": client_id,
                "redirect_uri": redirect_uri or creds.redirect_uri,
                "scopes": scopes,
            },
            201,
        )

    @app.post("/_sim/oauth/clients")
    async def add_client(request: Request) -> Response:
        body = await _body(request)
        return _json(
            sim.add_oauth_client(
                client_id=body.get("client_id"),
                client_secret=body.get("client_secret"),
                redirect_uris=body.get("redirect_uris"),
            ),
            201,
        )

    @app.post("/_sim/api_key/regenerate")
    async def regenerate() -> Response:
        sim.regenerate_api_key()
        return _json(sim.credentials().to_dict())

    # --- ground truth

    @app.get("/_sim/ground_truth")
    async def ground_truth() -> Response:
        return _json(sim.ground_truth())

    @app.get("/_sim/ground_truth/{section}")
    async def ground_truth_section(section: str) -> Response:
        """One section as JSON Lines (``transactions``, ``transaction_versions``,
        ``webhooks``, ``allocations``, ``invoices``, ...)."""
        name = section.removesuffix(".jsonl")
        if name not in GROUND_TRUTH_SECTIONS:
            raise NotFound(f"no ground-truth section {name!r}")
        rows = sim.ground_truth([name])[name]

        def lines() -> Any:
            for row in rows:
                yield json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")
