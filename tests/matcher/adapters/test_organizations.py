"""Organisations on PostgreSQL: state, decisions and the review API never cross them.

Two organisations hold the same books (same invoice ids, numbers, customers, IBANs): a
payment of one settles that one's invoice only, and the review API's per-person keys see
their own organisation only (404 for the other's ids, whose existence they cannot tell).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from qrecon.common.schemas import Invoice, InvoiceEvent, QontoTransaction, TransactionEvent
from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.adapters.postgres_keys import PgKeyStore
from qrecon.matcher.app.errors import MissingOrganization
from qrecon.matcher.app.keys import ApiKeys, digest
from qrecon.matcher.app.service import MatcherService

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

pytestmark = pytest.mark.integration

TOKEN = "shared-token-0123456789"
IBAN = "FR7630006000011234567890189"
TILLEULS = invoice("FAC-2025-1101", 80000, counterparty="Tilleuls Immobilier", iban=IBAN)
MARTIN = invoice("FAC-2025-1200", 33300, counterparty="Boulangerie Martin")


def inv_event(inv: Invoice, org: str | None) -> InvoiceEvent:
    return invoice_event(inv).model_copy(update={"organization_id": org})


def tx_of(tx: QontoTransaction, org: str | None) -> TransactionEvent:
    return tx_event(tx).model_copy(update={"organization_id": org})


async def _org_state(pool: asyncpg.Pool, org: str, invoice_id: str) -> int:
    value = await pool.fetchval(
        "SELECT allocated_cents FROM matcher_invoices"
        " WHERE organization_id = $1 AND invoice_id = $2",
        org,
        invoice_id,
    )
    assert isinstance(value, int)
    return value


async def test_a_payment_settles_its_own_organisations_invoice_only(
    service: MatcherService,
) -> None:
    for org in ("org-a", "org-b"):
        await service.handle_invoice_event(inv_event(TILLEULS, org))
    paid = transaction(80000, reference="FAC-2025-1101", counterparty="TILLEULS IMMOBILIER")
    result = (await service.handle_transaction_event(tx_of(paid, "org-a"))).result
    assert result is not None
    assert (result.status, result.organization_id) == ("auto_matched", "org-a")
    pool = service.db.pool  # type: ignore[attr-defined]
    assert await _org_state(pool, "org-a", TILLEULS.id) == 80000
    assert await _org_state(pool, "org-b", TILLEULS.id) == 0

    # The same payment again, in org-a: its invoice is paid; org-b's open one is not org-a's.
    again = transaction(80000, reference="FAC-2025-1101", counterparty="TILLEULS IMMOBILIER")
    second = (await service.handle_transaction_event(tx_of(again, "org-a"))).result
    assert second is not None
    assert second.allocations == []
    # An organisation without invoices matches nothing, whatever the others hold.
    third = (await service.handle_transaction_event(tx_of(again, "org-c"))).result
    assert third is not None
    assert (third.status, third.allocations) == ("unmatched", [])
    assert await _org_state(pool, "org-b", TILLEULS.id) == 0
    assert {r.organization_id for r in await outbox_results(pool)} == {"org-a", "org-c"}
    await assert_allocations_consistent(pool)


async def test_what_a_reviewer_teaches_serves_their_organisation_only(
    service: MatcherService,
) -> None:
    payer = "SCI TILLEULS IMMOBILIER GESTION"
    for org in ("org-a", "org-b"):
        await service.handle_invoice_event(inv_event(TILLEULS, org))
        await service.handle_invoice_event(inv_event(MARTIN, org))
    first = transaction(80000, counterparty=payer)
    await service.handle_transaction_event(tx_of(first, "org-a"))
    await service.confirm(first.id, actor="alice", organization="org-a")  # teaches an alias

    # The same payer pays 333,00 in both organisations: only org-a learned who it is.
    later_a = transaction(33300, counterparty=payer)
    later_b = transaction(33300, counterparty=payer)
    in_a = (await service.handle_transaction_event(tx_of(later_a, "org-a"))).result
    in_b = (await service.handle_transaction_event(tx_of(later_b, "org-b"))).result
    assert in_a is not None
    assert in_b is not None
    assert "counterparty.alias" not in in_b.reasons
    pool = service.db.pool  # type: ignore[attr-defined]
    learned = await pool.fetch(
        "SELECT organization_id, count(*) AS n FROM matcher_aliases GROUP BY organization_id"
    )
    assert {r["organization_id"]: r["n"] for r in learned} == {"org-a": 1}
    assert await _org_state(pool, "org-b", TILLEULS.id) == 0

    # A pair rejected in org-b is never proposed again there; org-a is untouched.
    again_b = transaction(80000, counterparty="TILLEULS IMMOBILIER")
    proposed = (await service.handle_transaction_event(tx_of(again_b, "org-b"))).result
    assert proposed is not None
    assert proposed.allocations
    rejected = await service.reject(again_b.id, actor="bob", organization="org-b")
    assert TILLEULS.id not in {a.invoice_id for a in rejected.allocations}
    redecided = await service.redecide(again_b.id, cause="test", organization="org-b")
    assert redecided is None or TILLEULS.id not in {a.invoice_id for a in redecided.allocations}


async def test_an_event_without_organisation_needs_a_default(service: MatcherService) -> None:
    """With MATCHER_DEFAULT_ORGANIZATION it is the default's; without, refused (the consumer
    dead-letters it at once: tests/matcher/adapters/test_consumer_policy)."""
    await service.handle_invoice_event(inv_event(MARTIN, None))
    pool = service.db.pool  # type: ignore[attr-defined]
    assert await invoice_state(pool, MARTIN.id) == (33300, 0, "open")
    assert await pool.fetchval("SELECT organization_id FROM matcher_invoices") == DEFAULT_ORG
    strict = service.with_database(service.db)
    strict.default_organization = None
    with pytest.raises(MissingOrganization, match="MATCHER_DEFAULT_ORGANIZATION"):
        await strict.handle_invoice_event(inv_event(MARTIN, None))
    with pytest.raises(MissingOrganization):
        await strict.handle_transaction_event(tx_of(transaction(100), None))


@pytest.fixture
async def keys(pool: asyncpg.Pool) -> ApiKeys:
    return ApiKeys(PgKeyStore(pool))


@pytest.fixture
async def client(service: MatcherService, keys: ApiKeys) -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> dict[str, bool]:
        return {"postgres": True}

    app = create_app(service, api_token=SecretStr(TOKEN), readiness=ready, keys=keys)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://matcher") as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_keys_act_for_their_organisation_and_person_only(
    client: httpx.AsyncClient, service: MatcherService, keys: ApiKeys, pool: asyncpg.Pool
) -> None:
    alice = await keys.create("org-a", "Alice Martin")
    bob = await keys.create("org-b", "Bob Durand")
    admin = await keys.create("org-a", "Ops", admin=True)
    stored = await pool.fetchrow("SELECT * FROM matcher_api_keys WHERE key_id = $1", alice.key_id)
    assert stored is not None
    assert bytes(stored["digest"]) == digest(alice.token)  # the digest, never the secret
    assert alice.token.split("_")[-1] not in str(dict(stored))

    await service.handle_invoice_event(inv_event(TILLEULS, "org-a"))
    await service.handle_invoice_event(inv_event(MARTIN, "org-a"))
    await service.handle_invoice_event(inv_event(TILLEULS, "org-b"))
    tx = transaction(80000, counterparty="SCI TILLEULS IMMOBILIER GESTION")
    assert (await service.handle_transaction_event(tx_of(tx, "org-a"))).result is not None

    mine = await client.get(f"/v1/transactions/{tx.id}", headers=bearer(alice.token))
    assert mine.status_code == 200, mine.text
    assert mine.json()["result"]["status"] == "suggested"
    assert mine.json()["result"]["organization_id"] == "org-a"
    # Bob's organisation has no such transaction, nor MARTIN: 404, as for any unknown id.
    for method, path in [
        ("GET", f"/v1/transactions/{tx.id}"),
        ("GET", f"/v1/invoices/{MARTIN.id}"),
        ("POST", f"/v1/transactions/{tx.id}/confirm"),
        ("POST", f"/v1/transactions/{tx.id}/reject"),
        ("POST", f"/v1/transactions/{tx.id}/undo"),
    ]:
        response = await client.request(method, path, headers=bearer(bob.token))
        assert response.status_code == 404, (method, path, response.text)
    assert (await client.get("/v1/suggestions", headers=bearer(bob.token))).json()["items"] == []
    # Same invoice id in both organisations: each key reads its own.
    theirs = await client.get(f"/v1/invoices/{TILLEULS.id}", headers=bearer(bob.token))
    assert theirs.status_code == 200
    assert theirs.json()["allocations"] == []

    confirmed = await client.post(
        f"/v1/transactions/{tx.id}/confirm",
        json={"actor": "someone else"},  # ignored: the key says who decides
        headers=bearer(alice.token),
    )
    assert confirmed.status_code == 200, confirmed.text
    detail = (await client.get(f"/v1/transactions/{tx.id}", headers=bearer(alice.token))).json()
    assert [d["actor"] for d in detail["decisions"]] == ["Alice Martin"]
    assert await _org_state(pool, "org-a", TILLEULS.id) == 80000
    assert await _org_state(pool, "org-b", TILLEULS.id) == 0

    # Organisations: admin keys (and the shared token) only.
    assert (await client.get("/v1/organizations", headers=bearer(alice.token))).status_code == 403
    listed = await client.get("/v1/organizations", headers=bearer(admin.token))
    assert listed.status_code == 200
    assert listed.json()["items"] == ["org-a", "org-b"]
    shared = await client.get("/v1/organizations", headers=bearer(TOKEN))
    assert shared.json()["items"] == ["org-a", "org-b"]

    # A revoked key, a forged secret: 401 like any wrong token.
    assert await keys.revoke(bob.key_id)
    assert not await keys.revoke(bob.key_id)
    forged = alice.token[:-4] + "AAAA"
    for token in (bob.token, forged):
        refused = await client.get("/v1/suggestions", headers=bearer(token))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
    assert [k.name for k in await keys.list("org-a")] == ["Alice Martin", "Ops"]


async def test_the_shared_token_acts_for_the_default_organisation(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    await service.handle_invoice_event(inv_event(MARTIN, "org-a"))
    mine = await client.get(f"/v1/invoices/{MARTIN.id}", headers=bearer(TOKEN))
    assert mine.status_code == 404  # org-a's, not the default organisation's
    await service.handle_invoice_event(inv_event(MARTIN, None))
    default = await client.get(f"/v1/invoices/{MARTIN.id}", headers=bearer(TOKEN))
    assert default.status_code == 200
