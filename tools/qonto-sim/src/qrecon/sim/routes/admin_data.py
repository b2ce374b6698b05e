"""The admin API under ``/_sim``, continued — webhook subscriptions and the delivery log,
direct edits (transactions, invoices), credentials and OAuth helpers, the ground truth."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from qrecon.sim.errors import NotFound, Unprocessable
from qrecon.sim.routes.common import SimDep, json_body, json_response
from qrecon.sim.state import SCOPES
from qrecon.sim.stores.ground_truth import GROUND_TRUTH_SECTIONS
from qrecon.sim.stores.payment_links import PAYMENT_METHODS

router = APIRouter()

# --- webhooks


@router.get("/_sim/webhook_subscriptions")
async def list_subscriptions(sim: SimDep) -> Response:
    items = sim.subscriptions.listing(with_secret=True)
    return json_response({"webhook_subscriptions": items})


@router.post("/_sim/webhook_subscriptions")
async def add_subscription(request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    if not isinstance(body.get("callback_url"), str):
        raise Unprocessable("callback_url is required", parameter="callback_url")
    subscription = sim.subscriptions.add(
        callback_url=body["callback_url"],
        types=body.get("types") or ["v1/transactions"],
        secret=body.get("secret"),
        description=body.get("description"),
    )
    return json_response({"webhook_subscription": subscription}, 201)


@router.delete("/_sim/webhook_subscriptions/{subscription_id}")
async def delete_subscription(subscription_id: str, sim: SimDep) -> Response:
    sim.subscriptions.delete(subscription_id)
    return Response(status_code=204)


@router.get("/_sim/webhooks")
async def webhook_log(sim: SimDep) -> Response:
    return json_response({"webhooks": sim.webhooks.log(), "stats": sim.webhooks.stats()})


@router.post("/_sim/webhooks/flush")
async def flush(request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    timeout = float(body.get("timeout", 10.0))
    flushed = await asyncio.to_thread(sim.webhooks.flush, timeout)
    return json_response({"flushed": flushed, "stats": sim.webhooks.stats()})


# --- direct edits


@router.post("/_sim/transactions")
async def add_transaction(request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    notify = bool(body.pop("notify", True))
    allocations = body.pop("allocations", None)
    tx = sim.transactions.add(notify=notify, **body)
    if allocations is not None:
        sim.truth.set_allocation(tx["id"], allocations, kind=body.get("kind"))
    return json_response({"transaction": tx}, 201)


@router.patch("/_sim/transactions/{transaction_id}")
async def update_transaction(transaction_id: str, request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    notify = bool(body.pop("notify", True))
    tx = sim.transactions.update(transaction_id, notify=notify, **body)
    return json_response({"transaction": tx})


@router.post("/_sim/transactions/{transaction_id}/attachments")
async def add_attachment(transaction_id: str, request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    file_name = str(body.get("file_name") or "facture.pdf")
    tx = sim.transactions.add_attachment(transaction_id, file_name)
    return json_response({"transaction": tx}, 201)


@router.get("/_sim/transactions/{transaction_id}/versions")
async def versions(transaction_id: str, sim: SimDep) -> Response:
    sim.transactions.get(transaction_id)
    return json_response({"versions": sim.transactions.versions(transaction_id)})


@router.post("/_sim/bank_accounts")
async def add_bank_account(request: Request, sim: SimDep) -> Response:
    """``{"name", "iban"?, "balance_cents"?, "main"?, "organization_id"?}``: an account,
    and its ``v1/accounts`` ``created`` webhook."""
    body = await json_body(request)
    allowed = {"name", "iban", "bic", "balance_cents", "main", "organization_id", "currency"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Unprocessable(f"unknown fields {unknown}", parameter=unknown[0])
    return json_response({"bank_account": sim.add_bank_account(**body)}, 201)


@router.patch("/_sim/bank_accounts/{account_id}")
async def update_bank_account(account_id: str, request: Request, sim: SimDep) -> Response:
    """``{"status"?: "active" | "closed", "name"?}``, and its ``updated`` webhook."""
    body = await json_body(request)
    status, name = body.get("status"), body.get("name")
    if not isinstance(status, str | None) or not isinstance(name, str | None):
        raise Unprocessable("status and name are strings")
    if status is None and name is None:
        raise Unprocessable("status or name is required", parameter="status")
    account = sim.update_bank_account(account_id, status=status, name=name)
    return json_response({"bank_account": account})


@router.post("/_sim/client_invoices")
async def add_client_invoice(request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    return json_response({"client_invoice": sim.add_client_invoice(**body)}, 201)


@router.post("/_sim/supplier_invoices")
async def add_supplier_invoice(request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    return json_response({"supplier_invoice": sim.invoices.add_supplier_invoice(**body)}, 201)


@router.post("/_sim/payment_links")
async def create_payment_link(request: Request, sim: SimDep) -> Response:
    """``{"invoice_id": ..., "methods": [...]?}``: a link for a client invoice, and its
    ``v1/payment-links`` ``created`` webhook."""
    body = await json_body(request)
    if not isinstance(body.get("invoice_id"), str):
        raise Unprocessable("invoice_id is required", parameter="invoice_id")
    methods = body.get("methods") or list(PAYMENT_METHODS)
    if not isinstance(methods, list):
        raise Unprocessable("methods is a list", parameter="methods")
    link = sim.payment_links.create(body["invoice_id"], methods=methods)
    return json_response({"payment_link": link}, 201)


@router.patch("/_sim/payment_links/{link_id}")
async def update_payment_link(link_id: str, request: Request, sim: SimDep) -> Response:
    """``{"status": "paid" | "expired" | "canceled"}``, and its ``updated`` webhook."""
    body = await json_body(request)
    status = body.get("status")
    if not isinstance(status, str):
        raise Unprocessable("status is required", parameter="status")
    return json_response({"payment_link": sim.payment_links.update(link_id, status=status)})


# --- credentials and OAuth helpers


@router.post("/_sim/oauth/authorization_code")
async def mint_code(request: Request, sim: SimDep) -> Response:
    """What a user's consent would return: ``{"code", "client_id", "redirect_uri"}``."""
    body = await json_body(request)
    creds = sim.credentials()
    client_id = str(body.get("client_id") or creds.client_id)
    scopes = body.get("scopes") or list(SCOPES)
    if isinstance(scopes, str):
        scopes = scopes.split()
    redirect_uri = body.get("redirect_uri")
    code = sim.auth.mint_authorization_code(client_id, scopes=scopes, redirect_uri=redirect_uri)
    return json_response(
        {
            "code": code,
            "client_id": client_id,
            "redirect_uri": redirect_uri or creds.redirect_uri,
            "scopes": scopes,
        },
        201,
    )


@router.post("/_sim/oauth/clients")
async def add_client(request: Request, sim: SimDep) -> Response:
    body = await json_body(request)
    client = sim.auth.add_oauth_client(
        client_id=body.get("client_id"),
        client_secret=body.get("client_secret"),
        redirect_uris=body.get("redirect_uris"),
    )
    return json_response(client, 201)


@router.post("/_sim/api_key/regenerate")
async def regenerate(sim: SimDep) -> Response:
    sim.regenerate_api_key()
    return json_response(sim.credentials().to_dict())


# --- ground truth


@router.get("/_sim/ground_truth")
async def ground_truth(sim: SimDep) -> Response:
    return json_response(sim.truth.export())


@router.get("/_sim/ground_truth/{section}")
async def ground_truth_section(section: str, sim: SimDep) -> Response:
    """One section as JSON Lines (``transactions``, ``transaction_versions``,
    ``webhooks``, ``allocations``, ``invoices``, ...)."""
    name = section.removesuffix(".jsonl")
    if name not in GROUND_TRUTH_SECTIONS:
        raise NotFound(f"no ground-truth section {name!r}")
    rows = sim.truth.export([name])[name]

    def lines() -> Any:
        for row in rows:
            yield json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
