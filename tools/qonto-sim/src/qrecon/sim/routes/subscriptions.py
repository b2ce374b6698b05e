"""``/v2/webhook_subscriptions``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from qrecon.sim.errors import NotFound, Unprocessable
from qrecon.sim.routes.common import SimDep, json_body, json_response, paged, principal

router = APIRouter()


@router.post("/v2/webhook_subscriptions")
async def create_subscription(request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "webhook")
    sim.auth.require_scope(who, "organization.read")
    # X-Qonto-Idempotency-Key is handled for every write by the edge (routes.edge).
    body = await json_body(request)
    data = body.get("webhook_subscription", body)
    callback_url = data.get("callback_url")
    if not isinstance(callback_url, str):
        raise Unprocessable("callback_url is required", parameter="callback_url")
    types = data.get("types") or ([data["type"]] if data.get("type") else [])
    subscription = sim.subscriptions.add(
        callback_url=callback_url,
        types=types,
        secret=data.get("secret"),
        description=data.get("description"),
        organization_id=who.organization_id,
        strict=True,
    )
    # Qonto answers create and get with the bare object and lists under "subscriptions"
    # (docs: create-a-webhook-subscription, get-a-webhook-subscription, list-...).
    return json_response(subscription, 201)


@router.get("/v2/webhook_subscriptions")
async def list_subscriptions(request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "webhook")
    items = sim.subscriptions.listing(who.organization_id)
    return paged(sim, request, "subscriptions", items)


@router.get("/v2/webhook_subscriptions/{subscription_id}")
async def get_subscription(subscription_id: str, request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "webhook")
    sub = sim.subscriptions.get(subscription_id)
    if sub["organization_id"] != who.organization_id:
        raise NotFound("webhook subscription not found")
    sub.pop("secret", None)
    return json_response(sub)


@router.delete("/v2/webhook_subscriptions/{subscription_id}")
async def delete_subscription(subscription_id: str, request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "webhook")
    sim.subscriptions.delete(subscription_id, who.organization_id)
    return Response(status_code=204)
