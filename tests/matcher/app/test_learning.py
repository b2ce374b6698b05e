"""Specifications of what reviewers teach beyond exact names: a payer name close to the
customer's (``core.aliases``) becomes its alias when the reviewer confirms or matches it,
unless the name could be another customer's or nobody's."""

from __future__ import annotations

import pytest

from qrecon.common.schemas import MatchResult
from qrecon.matcher.app.service import MatcherService

from .builders import invoice, invoice_event, transaction, tx_event
from .fakes import FakeDatabase

DUPONT_1 = invoice("FAC-2026-0301", 84000, counterparty="Maison Dupont SARL")
DUPONT_2 = invoice("FAC-2026-0302", 52000, counterparty="Maison Dupont SARL")
BATIMENT = invoice("FAC-2026-0401", 50000, counterparty="Dupont Bâtiment SAS")
BATIMENT_2 = invoice("FAC-2026-0402", 31000, counterparty="Dupont Bâtiment SAS")
BATIMENTS = invoice("FAC-2026-0501", 70000, counterparty="Dupont Bâtiments SARL")
GARAGE = invoice("FAC-2026-0601", 12000, counterparty="Garage Petit")


@pytest.fixture(autouse=True)
async def invoices(service: MatcherService) -> None:
    for inv in (DUPONT_1, DUPONT_2, BATIMENT, BATIMENT_2, BATIMENTS, GARAGE):
        await service.handle_invoice_event(invoice_event(inv))


async def _decide(service: MatcherService, amount: int, payer: str) -> tuple[str, MatchResult]:
    tx = transaction(amount, counterparty=payer)
    result = (await service.handle_transaction_event(tx_event(tx))).result
    assert result is not None
    return tx.id, result


async def test_confirming_a_payment_under_a_misspelt_name_teaches_it_for_the_next_one(
    service: MatcherService, db: FakeDatabase
) -> None:
    # Before any review, a second payer under the same misspelt name is only "like" Dupont.
    _, before = await _decide(service, 52000, "MAISON DUPOND ET ASSOCIES")
    assert "counterparty.name.fuzzy" in before.reasons
    assert before.status == "suggested"
    tx_id, first = await _decide(service, 84000, "MAISON DUPOND ET ASSOCIES")
    assert first.status == "suggested"

    await service.confirm(tx_id, actor="alice")

    [decision] = db.state.decisions
    assert len(decision.payload["aliases"]) == 1
    assert "not_learnt" not in decision.payload
    _, after = await _decide(service, 52000, "MAISON DUPOND ET ASSOCIES")
    assert "counterparty.alias" in after.reasons
    assert after.confidence > before.confidence
    assert after.status == "auto_matched"


async def test_a_name_about_as_close_to_two_customers_is_not_learnt(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id, _ = await _decide(service, 50000, "DUPONT BATIMNT")
    await service.match_manually(tx_id, {BATIMENT.id: 50000}, actor="alice")

    [decision] = db.state.decisions
    assert decision.payload["aliases"] == []
    assert decision.payload["not_learnt"] == {"DUPONT BATIMNT": "ambiguous"}
    assert db.state.aliases == []
    # The next payment under that name is still only like both customers: never an alias.
    _, later = await _decide(service, 31000, "DUPONT BATIMNT")
    assert "counterparty.alias" not in later.reasons


async def test_a_payment_through_a_processor_teaches_nothing(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id, _ = await _decide(service, 12000, "STRIPE PAYMENTS EUROPE")
    await service.match_manually(tx_id, {GARAGE.id: 12000}, actor="alice")

    [decision] = db.state.decisions
    assert decision.payload["not_learnt"] == {"STRIPE PAYMENTS EUROPE": "intermediary"}
    assert db.state.aliases == []


async def test_the_customers_own_name_records_no_alias(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id, _ = await _decide(service, 12345, "GARAGE PETIT SARL")
    await service.match_manually(tx_id, {GARAGE.id: 12000}, actor="alice")

    [decision] = db.state.decisions
    assert decision.payload["aliases"] == []
    assert "not_learnt" not in decision.payload  # nothing was refused: there was nothing new
