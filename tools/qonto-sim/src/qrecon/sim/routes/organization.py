"""``/v2/organization`` and ``/v2/bank_accounts``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from qrecon.sim.routes.common import SimDep, json_response, paged, principal

router = APIRouter()


@router.get("/v2/organization")
async def get_organization(request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "organization.read")
    return json_response({"organization": sim.accounts.organization(who.organization_id)})


@router.get("/v2/bank_accounts")
async def list_bank_accounts(request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "organization.read")
    return paged(sim, request, "bank_accounts", sim.accounts.bank_accounts(who.organization_id))


@router.get("/v2/bank_accounts/{account_id}")
async def get_bank_account(account_id: str, request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "organization.read")
    account = sim.accounts.bank_account(account_id, who.organization_id)
    return json_response({"bank_account": account})
