"""The review API: authentication, listings, confirm / reject / manual match / undo, and what
each decision teaches the engine. Real PostgreSQL, the real engine, the app in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from qrecon.common.topics import Topics
from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.app import lifecycle
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.bootstrap import build_service
from qrecon.matcher.core import EngineConfig, MatchingEngine

from .conftest import DEFAULT_ORG
from .factories import (
    assert_allocations_consistent,
    invoice,
    invoice_event,
    invoice_state,
    outbox_results,
    transaction,
    tx_event,
)

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

TILLEULS_1 = invoice("FAC-2025-1100", 150000, counterparty="Tilleuls Immobilier")
TILLEULS_2 = invoice("FAC-2025-1101", 80000, counterparty="Tilleuls Immobilier")
MARTIN = invoice("FAC-2025-1200", 33300, counterparty="Boulangerie Martin")
GARAGE = invoice("FAC-2025-1201", 150000, counterparty="Garage Petit")


async def _ready() -> dict[str, bool]:
    return {"postgres": True, "kafka": True}


@pytest.fixture
async def client(service: MatcherService) -> AsyncIterator[httpx.AsyncClient]:
    for inv in (TILLEULS_1, TILLEULS_2, MARTIN, GARAGE):
        await service.handle_invoice_event(invoice_event(inv))
    app = create_app(service, api_token=SecretStr(TOKEN), readiness=_ready)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://matcher") as http:
        yield http


async def _decide(service: MatcherService, amount: int, counterparty: str, **kw: Any) -> str:
    tx = transaction(amount, counterparty=counterparty, **kw)
    await service.handle_transaction_event(tx_event(tx))
    return tx.id


async def test_every_review_endpoint_needs_the_token(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    tx_id = await _decide(service, 80000, "SCI TILLEULS IMMOBILIER GESTION")
    calls = [
        ("GET", "/v1/suggestions"),
        ("GET", "/v1/unmatched"),
        ("GET", f"/v1/transactions/{tx_id}"),
        ("GET", f"/v1/invoices/{MARTIN.id}"),
        ("POST", f"/v1/transactions/{tx_id}/confirm"),
        ("POST", f"/v1/transactions/{tx_id}/reject"),
        ("POST", f"/v1/transactions/{tx_id}/undo"),
        ("POST", f"/v1/transactions/{tx_id}/match"),
    ]
    for method, path in calls:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
    # Nothing was decided by those calls.
    assert len(await outbox_results(service.db.pool, tx_id)) == 1
    # Probes and the schema are open; the schema declares the bearer scheme.
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    assert "matcher_results_total" in (await client.get("/metrics")).text
    schema = (await client.get("/openapi.json")).json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert "/v1/transactions/{transaction_id}/match" in schema["paths"]


async def test_without_a_configured_token_nothing_is_served(service: MatcherService) -> None:
    app = create_app(service, api_token=None, readiness=_ready)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://matcher"
    ) as http:
        response = await http.post("/v1/transactions/x/confirm", headers=AUTH)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "api_token_not_configured"
        assert (await http.get("/v1/suggestions", headers=AUTH)).status_code == 503


async def test_listings_are_paginated(client: httpx.AsyncClient, service: MatcherService) -> None:
    suggested = {
        await _decide(service, 33300, "BOULANGERIE MARTIN", status="pending"),
        await _decide(service, 80000, "SCI TILLEULS IMMOBILIER GESTION"),
        await _decide(service, 33300, "B MARTIN"),
    }
    unmatched = {await _decide(service, 12345, "Inconnu"), await _decide(service, 999, "X")}

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/suggestions", params=params, headers=AUTH)).json()
        seen += [item["transaction_id"] for item in page["items"]]
        assert all(item["result"]["status"] == "suggested" for item in page["items"])
        for item in page["items"]:  # every reason, in plain French and English
            assert [e["code"] for e in item["explanations"]] == item["result"]["reasons"]
            assert all(e["fr"] and e["en"] for e in item["explanations"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(suggested)
    page = (await client.get("/v1/unmatched", headers=AUTH)).json()
    assert {item["transaction_id"] for item in page["items"]} == unmatched
    assert page["next_cursor"] is None
    bad = await client.get("/v1/unmatched", params={"cursor": "garbage"}, headers=AUTH)
    assert bad.status_code == 422
    assert (await client.get("/v1/unmatched", params={"limit": 0}, headers=AUTH)).status_code == 422


async def test_confirm_allocates_and_teaches_an_alias_used_later(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    tx_id = await _decide(service, 80000, "SCI TILLEULS IMMOBILIER GESTION")
    detail = (await client.get(f"/v1/transactions/{tx_id}", headers=AUTH)).json()
    assert detail["result"]["status"] == "suggested"
    assert [e["code"] for e in detail["explanations"]] == detail["result"]["reasons"]
    assert "alternatives" in detail["result"]

    stale = await client.post(
        f"/v1/transactions/{tx_id}/confirm", json={"expected_result_seq": 99}, headers=AUTH
    )
    assert stale.status_code == 409
    response = await client.post(
        f"/v1/transactions/{tx_id}/confirm",
        json={"expected_result_seq": detail["result_seq"], "actor": "alice"},
        headers=AUTH,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "auto_matched"
    assert lifecycle.REASON_CONFIRMED in body["reasons"]
    assert await invoice_state(service.db.pool, TILLEULS_2.id) == (80000, 80000, "open")
    published = await outbox_results(service.db.pool, tx_id)
    assert [r.status for r in published] == ["suggested", "auto_matched"]
    # Downstream can tell a reviewer's match from the engine's.
    assert [r.decided_by for r in published] == ["engine", "review"]
    assert body["decided_by"] == "review"
    # Confirming twice is refused.
    assert (await client.post(f"/v1/transactions/{tx_id}/confirm", headers=AUTH)).status_code == 409
    # The alias is persisted and used: the same payer now auto-matches its other invoice.
    later = transaction(150000, counterparty="SCI TILLEULS IMMOBILIER GESTION")
    result = (await service.handle_transaction_event(tx_event(later))).result
    assert result is not None
    assert result.status == "auto_matched"
    assert result.decided_by == "engine"
    assert "counterparty.alias" in result.reasons
    detail = (await client.get(f"/v1/transactions/{tx_id}", headers=AUTH)).json()
    assert [d["action"] for d in detail["decisions"]] == ["confirm"]
    assert detail["decisions"][0]["actor"] == "alice"
    assert detail["allocations"] == {TILLEULS_2.id: 80000}


async def test_a_rejected_pair_is_never_suggested_again(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    tx_id = await _decide(service, 33300, "B MARTIN")
    response = await client.post(f"/v1/transactions/{tx_id}/reject", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert lifecycle.REASON_REJECTED in body["reasons"]
    assert MARTIN.id not in [a["invoice_id"] for a in body["allocations"]]

    # Neither when the invoice side changes (re-examination), nor from another replica's
    # cold cache, nor after the pair is explicitly asked for again.
    await service.handle_invoice_event(
        invoice_event(MARTIN.model_copy(update={"number": "FAC-2025-1200B"}))
    )
    await service.reexamine(["EUR"])
    await service.state.load(service.db)
    await service.redecide(tx_id, cause="test", statuses=None)
    later = (await outbox_results(service.db.pool, tx_id))[1:]
    assert later
    assert all(MARTIN.id not in [a.invoice_id for a in r.allocations] for r in later)
    # Rejecting what is not proposed anymore needs explicit invoice ids.
    assert (await client.post(f"/v1/transactions/{tx_id}/reject", headers=AUTH)).status_code == 409


async def test_manual_match_is_validated_against_residuals(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    small = await _decide(service, 12345, "Inconnu")
    big = await _decide(service, 150000, "Autre Inconnu", reference="no invoice named")
    url = f"/v1/transactions/{small}/match"

    def body(*allocations: tuple[str, int]) -> dict[str, Any]:
        return {"allocations": [{"invoice_id": i, "amount_cents": a} for i, a in allocations]}

    assert (await client.post(url, json=body(), headers=AUTH)).status_code == 422
    assert (await client.post(url, json=body((GARAGE.id, 20000)), headers=AUTH)).status_code == 422
    assert (await client.post(url, json=body((GARAGE.id, -5)), headers=AUTH)).status_code == 422
    assert (await client.post(url, json=body(("nope", 100)), headers=AUTH)).status_code == 404
    ok = await client.post(url, json=body((GARAGE.id, 12345)), headers=AUTH)
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "auto_matched"
    assert lifecycle.REASON_MANUAL in ok.json()["reasons"]
    assert ok.json()["residual_cents"] == 0
    assert await invoice_state(service.db.pool, GARAGE.id) == (150000, 12345, "open")

    over = await client.post(
        f"/v1/transactions/{big}/match", json=body((GARAGE.id, 150000)), headers=AUTH
    )
    assert over.status_code == 409
    assert over.json()["error"]["residuals"] == {GARAGE.id: 150000 - 12345}
    split = await client.post(
        f"/v1/transactions/{big}/match",
        json=body((GARAGE.id, 150000 - 12345), (MARTIN.id, 12345)),
        headers=AUTH,
    )
    assert split.status_code == 200, split.text
    assert await invoice_state(service.db.pool, GARAGE.id) == (150000, 150000, "open")
    invoice_view = (await client.get(f"/v1/invoices/{GARAGE.id}", headers=AUTH)).json()
    assert invoice_view["residual_cents"] == 0
    assert sorted(invoice_view["allocations"]) == sorted([small, big])
    await assert_allocations_consistent(service.db.pool)


async def test_undo_restores_what_the_decision_changed(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    tx_id = await _decide(service, 80000, "SCI TILLEULS IMMOBILIER GESTION")
    assert (await client.post(f"/v1/transactions/{tx_id}/confirm", headers=AUTH)).status_code == 200
    assert await invoice_state(service.db.pool, TILLEULS_2.id) == (80000, 80000, "open")

    undone = await client.post(f"/v1/transactions/{tx_id}/undo", headers=AUTH)

    assert undone.status_code == 200, undone.text
    assert undone.json()["status"] == "suggested"  # as before the confirmation
    assert lifecycle.REASON_UNDONE in undone.json()["reasons"]
    assert await invoice_state(service.db.pool, TILLEULS_2.id) == (80000, 0, "open")
    # The alias is forgotten: the payer's next payment is only suggested again.
    later = transaction(150000, counterparty="SCI TILLEULS IMMOBILIER GESTION")
    result = (await service.handle_transaction_event(tx_event(later))).result
    assert result is not None
    assert result.status == "suggested"
    assert (await client.post(f"/v1/transactions/{tx_id}/undo", headers=AUTH)).status_code == 409

    # Undoing a rejection makes the pair possible again.
    rejected = await _decide(service, 33300, "B MARTIN")
    await client.post(f"/v1/transactions/{rejected}/reject", headers=AUTH)
    again = (await client.post(f"/v1/transactions/{rejected}/undo", headers=AUTH)).json()
    assert again["status"] == "suggested"
    assert [a["invoice_id"] for a in again["allocations"]] == [MARTIN.id]
    statuses = [r.status for r in await outbox_results(service.db.pool, tx_id)]
    assert statuses == ["suggested", "auto_matched", "suggested"]
    await assert_allocations_consistent(service.db.pool)


async def test_unknown_transaction_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/v1/transactions/nope", "/v1/invoices/nope"):
        response = await client.get(path, headers=AUTH)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    response = await client.post("/v1/transactions/nope/confirm", headers=AUTH)
    assert response.status_code == 404


async def test_other_replicas_learn_and_forget_through_postgresql(
    client: httpx.AsyncClient, service: MatcherService, topics: Topics
) -> None:
    other = build_service(
        service.db.pool,
        MatchingEngine(EngineConfig()),
        MatcherState(),
        topics,
        default_organization=DEFAULT_ORG,
    )
    await other.state.load(service.db)
    tx_id = await _decide(service, 80000, "SCI TILLEULS IMMOBILIER GESTION")
    assert (await client.post(f"/v1/transactions/{tx_id}/confirm", headers=AUTH)).status_code == 200

    await other.state.refresh(other.db)
    learned = (
        await other.handle_transaction_event(
            tx_event(transaction(150000, counterparty="SCI TILLEULS IMMOBILIER GESTION"))
        )
    ).result
    assert learned is not None
    assert learned.status == "auto_matched"
    assert "counterparty.alias" in learned.reasons

    # The other replica saw that allocation only through PostgreSQL; undo there, here.
    assert (await client.post(f"/v1/transactions/{tx_id}/undo", headers=AUTH)).status_code == 200
    await other.state.refresh(other.db)
    forgotten = (
        await other.handle_transaction_event(
            tx_event(
                transaction(150000, counterparty="SCI TILLEULS IMMOBILIER GESTION", reference="x")
            )
        )
    ).result
    assert forgotten is not None
    assert "counterparty.alias" not in forgotten.reasons
