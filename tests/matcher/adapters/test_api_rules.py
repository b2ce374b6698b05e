"""A manual match obeys the engine's rules (``qrecon.matcher.core.rules``): each broken rule
is a 422 that names it, and nothing is allocated. Real PostgreSQL, the app in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.app.service import MatcherService

from .factories import (
    assert_allocations_consistent,
    invoice,
    invoice_event,
    invoice_state,
    transaction,
    tx_event,
)

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

CLIENT_INVOICE = invoice("FAC-2025-2000", 100000, counterparty="Client Rouge")
CLIENT_CREDIT_NOTE = invoice("AV-2025-2001", -30000, counterparty="Client Rouge")
SUPPLIER_INVOICE = invoice("FRN-2025-2002", 50000, counterparty="Fournisseur Bleu", kind="payable")
DOLLAR_INVOICE = invoice("FAC-2025-2003", 100000, counterparty="Client Vert", currency="USD")
ALL = (CLIENT_INVOICE, CLIENT_CREDIT_NOTE, SUPPLIER_INVOICE, DOLLAR_INVOICE)


async def _ready() -> dict[str, bool]:
    return {"postgres": True, "kafka": True}


@pytest.fixture
async def client(service: MatcherService) -> AsyncIterator[httpx.AsyncClient]:
    for inv in ALL:
        await service.handle_invoice_event(invoice_event(inv))
    app = create_app(service, api_token=SecretStr(TOKEN), readiness=_ready)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://matcher") as http:
        yield http


async def _match(
    client: httpx.AsyncClient,
    service: MatcherService,
    side: str,
    amount: int,
    *allocations: tuple[str, int],
) -> httpx.Response:
    tx = transaction(amount, side=side, counterparty="Personne", reference="none")
    await service.handle_transaction_event(tx_event(tx))
    body: dict[str, Any] = {
        "allocations": [{"invoice_id": i, "amount_cents": a} for i, a in allocations]
    }
    return await client.post(f"/v1/transactions/{tx.id}/match", json=body, headers=AUTH)


async def _refused(response: httpx.Response, rule: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["rule"] == rule


async def test_a_debit_never_pays_a_receivable_nor_a_credit_a_payable(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    card_payment = await _match(client, service, "debit", 100000, (CLIENT_INVOICE.id, 100000))
    await _refused(card_payment, "direction")
    assert CLIENT_INVOICE.id in card_payment.json()["error"]["detail"]
    await _refused(
        await _match(client, service, "credit", 50000, (SUPPLIER_INVOICE.id, 50000)), "direction"
    )
    assert (await invoice_state(service.db.pool, CLIENT_INVOICE.id))[1] == 0
    assert (await invoice_state(service.db.pool, SUPPLIER_INVOICE.id))[1] == 0
    # the right directions are accepted, and so is a debit refunding a client's credit note
    paid = await _match(client, service, "debit", 50000, (SUPPLIER_INVOICE.id, 50000))
    assert paid.status_code == 200, paid.text
    refund = await _match(client, service, "debit", 30000, (CLIENT_CREDIT_NOTE.id, -30000))
    assert refund.status_code == 200, refund.text
    assert refund.json()["residual_cents"] == 0
    await assert_allocations_consistent(service.db.pool)


async def test_an_invoice_is_paid_in_its_currency(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    response = await _match(client, service, "credit", 100000, (DOLLAR_INVOICE.id, 100000))
    await _refused(response, "currency")


async def test_an_allocation_is_in_the_invoice_sign_and_within_its_amount(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    await _refused(await _match(client, service, "credit", 500, (CLIENT_INVOICE.id, -500)), "sign")
    await _refused(await _match(client, service, "credit", 500, (CLIENT_INVOICE.id, 0)), "sign")
    over = await _match(client, service, "credit", 200000, (CLIENT_INVOICE.id, 100001))
    await _refused(over, "invoice_amount")


async def test_allocations_take_between_one_cent_and_the_transaction_amount(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    too_much = await _match(client, service, "credit", 99999, (CLIENT_INVOICE.id, 100000))
    await _refused(too_much, "transaction_amount")
    # a credit note alone, netted against a payment, would take a negative amount
    negative = await _match(client, service, "credit", 30000, (CLIENT_CREDIT_NOTE.id, -30000))
    await _refused(negative, "transaction_amount")
    # netted with an invoice it is fine: 1000.00 - 300.00 paid by 700.00
    netted = await _match(
        client,
        service,
        "credit",
        70000,
        (CLIENT_INVOICE.id, 100000),
        (CLIENT_CREDIT_NOTE.id, -30000),
    )
    assert netted.status_code == 200, netted.text
    assert netted.json()["residual_cents"] == 0
    await assert_allocations_consistent(service.db.pool)
