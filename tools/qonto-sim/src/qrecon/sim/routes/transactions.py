"""``/v2/transactions``: the filtered, paginated listing and one transaction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from qrecon.sim.errors import Unprocessable
from qrecon.sim.routes.common import (
    SimDep,
    bool_param,
    json_response,
    list_param,
    page_meta,
    pagination,
    principal,
    timestamp_param,
)
from qrecon.sim.shapes import subject_type_in
from qrecon.sim.state import Simulator

router = APIRouter()


def _cased(sim: Simulator, tx: dict[str, Any]) -> dict[str, Any]:
    """``subject_type`` as ``Simulator.rest_subject_type_case`` says (lower by default)."""
    subject = tx.get("subject_type")
    if sim.rest_subject_type_case == "lower" or not isinstance(subject, str):
        return tx
    return {**tx, "subject_type": subject_type_in(subject, sim.rest_subject_type_case)}


@router.get("/v2/transactions")
async def list_transactions(request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "organization.read")
    params = request.query_params
    page, per_page = pagination(request)
    statuses = list_param(request, "status") or ["completed"]
    if sim.strict:
        # As Qonto: the list is per bank account, and a multi-status request answers one
        # status only (the first given, here; see Simulator.strict).
        if not (params.get("bank_account_id") or params.get("iban")):
            raise Unprocessable("bank_account_id or iban is required", parameter="bank_account_id")
        statuses = statuses[:1]
    side = params.get("side") or None
    if side is not None and side not in ("credit", "debit"):
        raise Unprocessable("side must be credit or debit", parameter="side")
    includes = list_param(request, "includes")
    items, total = sim.transactions.query(
        who.organization_id,
        bank_account_id=params.get("bank_account_id") or None,
        iban=params.get("iban") or None,
        statuses=statuses,
        sort_by=params.get("sort_by") or "settled_at:desc",
        updated_at_from=timestamp_param(request, "updated_at_from"),
        updated_at_to=timestamp_param(request, "updated_at_to"),
        settled_at_from=timestamp_param(request, "settled_at_from"),
        settled_at_to=timestamp_param(request, "settled_at_to"),
        emitted_at_from=timestamp_param(request, "emitted_at_from"),
        emitted_at_to=timestamp_param(request, "emitted_at_to"),
        side=side,
        operation_types=list_param(request, "operation_type"),
        with_attachments=bool_param(request, "with_attachments"),
        offset=(page - 1) * per_page,
        limit=per_page,
    )
    meta = page_meta(sim, page, per_page, total)
    if includes:
        items = [sim.transactions.includes(tx, includes) for tx in items]
    return json_response({"transactions": [_cased(sim, t) for t in items], "meta": meta})


@router.get("/v2/transactions/{transaction_id}")
async def get_transaction(transaction_id: str, request: Request, sim: SimDep) -> Response:
    who = principal(sim, request, "organization.read")
    tx = sim.transactions.get(transaction_id, who.organization_id)
    includes = list_param(request, "includes")
    if includes:
        tx = sim.transactions.includes(tx, includes)
    return json_response({"transaction": _cased(sim, tx)})
