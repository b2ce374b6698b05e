"""What reviewers teach beyond exact names, on PostgreSQL: a fuzzy-equal payer name is
recorded as an alias of its organisation only, serves a replica that loads it from the
database, and a name about as close to two customers is never recorded."""

from __future__ import annotations

import json

import asyncpg
import pytest

from qrecon.common.schemas import Invoice, InvoiceEvent, QontoTransaction, TransactionEvent
from qrecon.common.topics import Topics
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.bootstrap import build_service
from qrecon.matcher.core import EngineConfig, MatchingEngine

from .conftest import DEFAULT_ORG
from .factories import invoice, invoice_event, transaction, tx_event

pytestmark = pytest.mark.integration

PAYER = "MAISON DUPOND ET ASSOCIES"
DUPONT_1 = invoice("FAC-2026-0301", 84000, counterparty="Maison Dupont SARL")
DUPONT_2 = invoice("FAC-2026-0302", 52000, counterparty="Maison Dupont SARL")
DUPONT_3 = invoice("FAC-2026-0303", 61000, counterparty="Maison Dupont SARL")
BATIMENT = invoice("FAC-2026-0401", 50000, counterparty="Dupont Bâtiment SAS")
BATIMENTS = invoice("FAC-2026-0501", 70000, counterparty="Dupont Bâtiments SARL")


def inv_event(inv: Invoice, org: str) -> InvoiceEvent:
    return invoice_event(inv).model_copy(update={"organization_id": org})


def tx_of(tx: QontoTransaction, org: str) -> TransactionEvent:
    return tx_event(tx).model_copy(update={"organization_id": org})


async def _books(service: MatcherService, *orgs: str) -> None:
    for org in orgs:
        for inv in (DUPONT_1, DUPONT_2, DUPONT_3, BATIMENT, BATIMENTS):
            await service.handle_invoice_event(inv_event(inv, org))


async def _reasons(service: MatcherService, amount: int, payer: str, org: str) -> list[str]:
    result = (
        await service.handle_transaction_event(tx_of(transaction(amount, counterparty=payer), org))
    ).result
    assert result is not None
    return result.reasons


async def test_a_confirmed_fuzzy_name_is_an_alias_of_its_organisation_only(
    service: MatcherService, pool: asyncpg.Pool, topics: Topics
) -> None:
    await _books(service, "org-a", "org-b")
    first = transaction(84000, counterparty=PAYER)
    outcome = await service.handle_transaction_event(tx_of(first, "org-a"))
    assert outcome.result is not None
    assert outcome.result.status == "suggested"

    await service.confirm(first.id, actor="alice", organization="org-a")

    rows = await pool.fetch(
        "SELECT organization_id, observed_counterparty, invoice_counterparty_name"
        " FROM matcher_aliases"
    )
    assert [tuple(r) for r in rows] == [("org-a", PAYER, "Maison Dupont SARL")]
    assert "counterparty.alias" in await _reasons(service, 52000, PAYER, "org-a")
    assert "counterparty.alias" not in await _reasons(service, 52000, PAYER, "org-b")

    # Another replica, starting from the database, knows it too (and for org-a only).
    state = MatcherState()
    replica = build_service(
        pool,
        MatchingEngine(EngineConfig()),
        state,
        topics,
        conflict_retries=3,
        default_organization=DEFAULT_ORG,
    )
    await state.load(replica.db)
    assert "counterparty.alias" in await _reasons(replica, 61000, PAYER, "org-a")
    assert "counterparty.alias" not in await _reasons(replica, 61000, PAYER, "org-b")


async def test_a_name_about_as_close_to_two_customers_is_never_recorded(
    service: MatcherService, pool: asyncpg.Pool
) -> None:
    await _books(service, "org-a")
    paid = transaction(50000, counterparty="DUPONT BATIMNT")
    await service.handle_transaction_event(tx_of(paid, "org-a"))

    await service.match_manually(paid.id, {BATIMENT.id: 50000}, actor="alice", organization="org-a")

    assert await pool.fetchval("SELECT count(*) FROM matcher_aliases") == 0
    payload = await pool.fetchval(
        "SELECT payload FROM matcher_decisions WHERE transaction_id = $1", paid.id
    )
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["aliases"] == []
    assert payload["not_learnt"] == {"DUPONT BATIMNT": "ambiguous"}
