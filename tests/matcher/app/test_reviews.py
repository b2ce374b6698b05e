"""Specifications of the review decisions: confirm, reject, match by hand, undo."""

from __future__ import annotations

import pytest

from qrecon.matcher.app import lifecycle
from qrecon.matcher.app.errors import Conflict, InvalidRequest, NotFound
from qrecon.matcher.app.service import MatcherService

from .builders import invoice, invoice_event, transaction, tx_event
from .fakes import ORG, FakeDatabase

TILLEULS_1 = invoice("FAC-2025-1100", 150000, counterparty="Tilleuls Immobilier")
TILLEULS_2 = invoice("FAC-2025-1101", 80000, counterparty="Tilleuls Immobilier")
GARAGE = invoice("FAC-2025-1201", 150000, counterparty="Garage Petit")
SUPPLIER = invoice("ACH-2025-0001", 150000, counterparty="Garage Petit", kind="payable")
PAYER = "SCI TILLEULS IMMOBILIER GESTION"


@pytest.fixture(autouse=True)
async def invoices(service: MatcherService) -> None:
    for inv in (TILLEULS_1, TILLEULS_2, GARAGE, SUPPLIER):
        await service.handle_invoice_event(invoice_event(inv))


async def _suggested(service: MatcherService) -> str:
    tx = transaction(80000, counterparty=PAYER)
    result = (await service.handle_transaction_event(tx_event(tx))).result
    assert result is not None
    assert result.status == "suggested"
    return tx.id


async def _unmatched(service: MatcherService, amount: int = 12345) -> str:
    tx = transaction(amount, counterparty="Inconnu")
    await service.handle_transaction_event(tx_event(tx))
    return tx.id


# ---------------------------------------------------------------------- confirm
async def test_confirming_a_suggestion_allocates_it_and_learns_the_alias(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id = await _suggested(service)

    result = await service.confirm(tx_id, expected_seq=1, actor="alice")

    assert (result.status, result.confidence, result.decided_by) == ("auto_matched", 1.0, "review")
    assert result.reasons[0] == lifecycle.REASON_CONFIRMED
    assert db.allocations(tx_id) == {TILLEULS_2.id: 80000}
    assert db.published_for(tx_id)[-1] == result
    [decision] = db.state.decisions
    assert (decision.action, decision.actor, len(decision.payload["aliases"])) == (
        "confirm",
        "alice",
        1,
    )
    # The next payment of that payer is matched on the alias.
    again = transaction(150000, counterparty=PAYER)
    learned = (await service.handle_transaction_event(tx_event(again))).result
    assert learned is not None
    assert "counterparty.alias" in learned.reasons


async def test_only_a_suggestion_can_be_confirmed(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id = await _unmatched(service)

    with pytest.raises(Conflict):
        await service.confirm(tx_id)
    assert len(db.published) == 1


async def test_confirming_an_unknown_transaction_is_not_found(service: MatcherService) -> None:
    with pytest.raises(NotFound):
        await service.confirm("nope")


async def test_a_decision_on_a_result_that_changed_since_read_is_a_conflict(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id = await _suggested(service)

    with pytest.raises(Conflict) as refused:
        await service.confirm(tx_id, expected_seq=7)

    assert refused.value.extra == {"result_seq": 1, "expected_result_seq": 7}
    assert db.allocations(tx_id) == {}


async def test_confirming_what_another_payment_took_meanwhile_is_a_conflict(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id = await _suggested(service)
    other = await _unmatched(service, 80000)
    await service.match_manually(other, {TILLEULS_2.id: 80000})

    with pytest.raises(Conflict) as refused:
        await service.confirm(tx_id)

    assert refused.value.extra["invoice_ids"] == [TILLEULS_2.id]
    assert db.allocations(tx_id) == {}


# ---------------------------------------------------------------------- reject
async def test_a_rejected_pair_is_never_suggested_again(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id = await _suggested(service)

    result = await service.reject(tx_id, actor="bob")

    assert lifecycle.REASON_REJECTED in result.reasons
    assert TILLEULS_2.id not in [a.invoice_id for a in result.allocations]
    assert await service.redecide(tx_id, cause="test") is None  # still not proposed
    assert [r.invoice_id for r, _ in db.state.rejections] == [TILLEULS_2.id]
    assert db.published_for(tx_id)[-1] == result


async def test_rejecting_when_nothing_is_proposed_is_a_conflict(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id = await _unmatched(service)

    with pytest.raises(Conflict):
        await service.reject(tx_id)

    assert db.state.rejections == []
    assert db.state.decisions == []


# ---------------------------------------------------------------------- match by hand
async def test_a_manual_match_allocates_exactly_what_was_asked(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id = await _unmatched(service)

    result = await service.match_manually(tx_id, {GARAGE.id: 12345}, actor="carol")

    assert (result.status, result.reasons, result.residual_cents) == (
        "auto_matched",
        [lifecycle.REASON_MANUAL],
        0,
    )
    assert db.allocations(tx_id) == {GARAGE.id: 12345}
    assert db.invoice(GARAGE.id).residual_cents == 150000 - 12345
    assert db.published_for(tx_id)[-1] == result


async def test_a_transfer_abroad_settles_the_dollar_invoice_through_the_service(
    service: MatcherService, db: FakeDatabase
) -> None:
    dollars = invoice("US-2025-0042", 34500, counterparty="Acme Corp", kind="payable",
                      currency="USD")  # fmt: skip
    await service.handle_invoice_event(invoice_event(dollars))
    tx = transaction(31877, counterparty="ACME CORP", side="debit", reference="US-2025-0042",
                     local_amount="345.00", local_currency="USD")  # fmt: skip

    result = (await service.handle_transaction_event(tx_event(tx))).result

    assert result is not None
    assert result.status == "auto_matched", result.reasons
    assert db.allocations(tx.id) == {dollars.id: 34500}
    assert db.invoice(dollars.id).residual_cents == 0


async def test_a_payment_abroad_is_matched_by_hand_in_the_invoice_s_currency(
    service: MatcherService, db: FakeDatabase
) -> None:
    dollars = invoice("US-2025-0042", 34500, counterparty="Acme Corp", kind="payable",
                      currency="USD")  # fmt: skip
    await service.handle_invoice_event(invoice_event(dollars))
    tx = transaction(31877, counterparty="Inconnu", side="debit",
                     local_amount="345.00", local_currency="USD")  # fmt: skip
    await service.handle_transaction_event(tx_event(tx))

    result = await service.match_manually(tx.id, {dollars.id: 34500}, actor="carol")

    assert (result.status, result.residual_cents) == ("auto_matched", 0)
    assert db.allocations(tx.id) == {dollars.id: 34500}
    assert db.invoice(dollars.id).residual_cents == 0


@pytest.mark.parametrize(
    ("allocations", "error", "rule"),
    [
        ({}, InvalidRequest, None),
        ({GARAGE.id: 0}, InvalidRequest, "sign"),
        ({"inv-unknown": 100}, NotFound, None),
        ({SUPPLIER.id: 12345}, InvalidRequest, "direction"),
        ({GARAGE.id: 20000}, InvalidRequest, "transaction_amount"),
    ],
    ids=["nothing", "zero", "unknown-invoice", "supplier-invoice-for-a-credit", "too-much"],
)
async def test_a_manual_match_that_breaks_a_rule_is_refused(
    service: MatcherService,
    db: FakeDatabase,
    allocations: dict[str, int],
    error: type[Exception],
    rule: str | None,
) -> None:
    tx_id = await _unmatched(service)

    with pytest.raises(error) as refused:
        await service.match_manually(tx_id, allocations)

    if rule is not None:
        assert refused.value.extra["rule"] == rule  # type: ignore[attr-defined]
    assert db.allocations(tx_id) == {}
    assert len(db.published) == 1


async def test_a_manual_match_beyond_an_invoice_residual_is_a_conflict(
    service: MatcherService, db: FakeDatabase
) -> None:
    first = await _unmatched(service, 100000)
    await service.match_manually(first, {GARAGE.id: 100000})
    second = await _unmatched(service, 60000)

    with pytest.raises(Conflict) as refused:
        await service.match_manually(second, {GARAGE.id: 60000})

    assert refused.value.extra["residuals"] == {GARAGE.id: 50000}
    assert db.invoice(GARAGE.id).allocated_cents == 100000


# ---------------------------------------------------------------------- undo
async def test_undoing_a_confirmation_releases_it_and_forgets_the_alias(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id = await _suggested(service)
    await service.confirm(tx_id)

    result = await service.undo(tx_id, actor="alice")

    assert lifecycle.REASON_UNDONE in result.reasons
    assert result.status == "suggested"
    assert db.allocations(tx_id) == {}
    assert db.state.aliases == []
    assert [d.action for d in db.state.decisions] == ["confirm", "undo"]
    assert db.state.decisions[0].undone_at is not None
    # The next payment of that payer is no longer matched on the forgotten alias.
    again = transaction(150000, counterparty=PAYER)
    later = (await service.handle_transaction_event(tx_event(again))).result
    assert later is not None
    assert "counterparty.alias" not in later.reasons


async def test_undo_without_a_review_decision_is_a_conflict(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id = await _suggested(service)

    with pytest.raises(Conflict):
        await service.undo(tx_id)

    assert len(db.published) == 1


async def test_a_review_decision_that_fails_to_commit_publishes_nothing(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx_id = await _suggested(service)
    db.fail_next_commit = True

    with pytest.raises(ConnectionError):
        await service.reject(tx_id)

    assert db.state.rejections == []
    assert len(db.published) == 1
    # the in-memory rejection was forgotten with the rollback
    assert not service.state.org(ORG).knowledge.is_rejected(tx_id, TILLEULS_2.id)
