"""Admin route of the emulator: a user revokes the app's consent (``qrecon.sim.consent``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from qrecon.sim.consent import revoke_consent
from qrecon.sim.routes.common import SimDep, json_body, json_response

router = APIRouter()


@router.post("/_sim/consent-revocations")
async def revoke(request: Request, sim: SimDep) -> Response:
    """``{"organization_id"?, "client_id"?, "api_key"?: bool}``: revoke the tokens (and with
    ``api_key`` the API key) and send ``v1/consent-revocations`` to the subscriptions."""
    body = await json_body(request)
    org = body.get("organization_id")
    client = body.get("client_id")
    result = revoke_consent(
        sim,
        organization_id=str(org) if org else None,
        client_id=str(client) if client else None,
        api_key=bool(body.get("api_key", False)),
    )
    return json_response(result)
