"""``/v2/client_invoices`` and ``/v2/supplier_invoices``.

Filters as documented (docs: list-client-invoices, list-supplier-invoices): client
invoices take ``filter[status]`` (one status, or several comma-separated),
``filter[created_at_from/_to]`` and ``filter[updated_at_from/_to]``; supplier invoices
take ``filter[status][]`` (repeated) and the same time filters; both ``sort_by``
(``created_at:asc|desc``). Strict mode (the default) ignores other names, as Qonto does
with an unknown parameter; lenient mode also reads the old bare ``status``/``status[]``,
``created_at_from``/``created_at_to``.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from qrecon.sim.clock import parse_ts
from qrecon.sim.errors import NotFound
from qrecon.sim.routes.common import SimDep, json_response, list_param, paged, principal
from qrecon.sim.routes.common import timestamp_param as _timestamp
from qrecon.sim.state import Simulator
from qrecon.sim.stores.invoices import InvoiceFilter

router = APIRouter()

_TIME_FILTERS = ("created_at_from", "created_at_to", "updated_at_from", "updated_at_to")


def invoice_filter(sim: Simulator, request: Request) -> InvoiceFilter:
    """The documented ``filter[...]`` parameters (and, lenient, the bare old names)."""
    statuses = list_param(request, "filter[status]")
    if not sim.strict:
        statuses += list_param(request, "status")
    bounds: dict[str, datetime | None] = {}
    for name in _TIME_FILTERS:
        raw = _timestamp(request, f"filter[{name}]")
        if raw is None and not sim.strict:
            raw = _timestamp(request, name)
        bounds[name] = parse_bound(raw)
    return InvoiceFilter(tuple(statuses), **bounds)


def parse_bound(raw: str | None) -> datetime | None:
    return parse_ts(raw) if raw is not None else None


def _sort_by(request: Request, default: str | None) -> str | None:
    return request.query_params.get("sort_by") or default


@router.get("/v2/client_invoices")
async def list_client_invoices(request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "client_invoices.read")
    items = sim.invoices.client_invoices(
        who.organization_id, where=invoice_filter(sim, request), sort_by=_sort_by(request, None)
    )
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
    items = sim.invoices.supplier_invoices(
        who.organization_id,
        sort_by=_sort_by(request, "created_at:desc") or "created_at:desc",
        where=invoice_filter(sim, request),
    )
    return paged(sim, request, "supplier_invoices", items)


@router.get("/v2/supplier_invoices/{invoice_id}")
async def get_supplier_invoice(invoice_id: str, request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "supplier_invoice.read")
    for invoice in sim.invoices.supplier_invoices(who.organization_id):
        if invoice["id"] == invoice_id:
            return json_response({"supplier_invoice": invoice})
    raise NotFound("supplier invoice not found")
