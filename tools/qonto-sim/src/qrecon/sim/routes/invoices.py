"""``/v2/client_invoices`` and ``/v2/supplier_invoices``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from qrecon.sim.errors import NotFound
from qrecon.sim.routes.common import SimDep, json_response, list_param, paged, principal

router = APIRouter()


def _statuses(request: Request) -> list[str]:
    return list_param(request, "filter[status]") or list_param(request, "status")


@router.get("/v2/client_invoices")
async def list_client_invoices(request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "client_invoices.read")
    items = sim.invoices.client_invoices(who.organization_id, _statuses(request))
    return paged(sim, request, "client_invoices", items)


@router.get("/v2/client_invoices/{invoice_id}")
async def get_client_invoice(invoice_id: str, request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "client_invoices.read")
    for invoice in sim.invoices.client_invoices(who.organization_id):
        if invoice["id"] == invoice_id:
            return json_response({"client_invoice": invoice})
    raise NotFound("client invoice not found")


@router.get("/v2/supplier_invoices")
async def list_supplier_invoices(request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "supplier_invoice.read")
    params = request.query_params
    items = sim.invoices.supplier_invoices(
        who.organization_id,
        _statuses(request),
        created_at_from=params.get("created_at_from") or None,
        created_at_to=params.get("created_at_to") or None,
        sort_by=params.get("sort_by") or "created_at:desc",
    )
    return paged(sim, request, "supplier_invoices", items)


@router.get("/v2/supplier_invoices/{invoice_id}")
async def get_supplier_invoice(invoice_id: str, request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "supplier_invoice.read")
    for invoice in sim.invoices.supplier_invoices(who.organization_id):
        if invoice["id"] == invoice_id:
            return json_response({"supplier_invoice": invoice})
    raise NotFound("supplier invoice not found")
