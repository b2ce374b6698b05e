"""Specifications of an invoice event, and of deciding again once invoices arrive."""

from __future__ import annotations

from datetime import timedelta

from qrecon.matcher.app.service import MatcherService

from .builders import BASE, cancel_event, invoice, invoice_event, transaction, tx_event
from .fakes import ORG, FakeDatabase


async def test_a_new_invoice_is_held_open_and_offered_to_the_engine(
    service: MatcherService, db: FakeDatabase
) -> None:
    inv = invoice("FAC-2025-1000", 99000)

    outcome = await service.handle_invoice_event(invoice_event(inv))

    assert (outcome.applied, outcome.open, outcome.currency) == (True, True, "EUR")
    assert (db.invoice(inv.id).status, db.invoice(inv.id).amount_cents) == ("open", 99000)
    assert service.state.org(ORG).book.residual(inv.id) == 99000
    assert db.published == []


async def test_an_invoice_event_older_than_the_one_applied_is_ignored(
    service: MatcherService, db: FakeDatabase
) -> None:
    inv = invoice("FAC-2025-1001", 10000)
    await service.handle_invoice_event(invoice_event(inv, at=BASE + timedelta(hours=1)))

    older = invoice("FAC-2025-1001", 20000)
    outcome = await service.handle_invoice_event(invoice_event(older, at=BASE))

    assert not outcome.applied
    assert db.invoice(inv.id).amount_cents == 10000


async def test_a_cancelled_invoice_releases_its_payment_which_is_decided_again(
    service: MatcherService, db: FakeDatabase
) -> None:
    inv = invoice("FAC-2025-1002", 70000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(70000, reference="FAC-2025-1002")
    await service.handle_transaction_event(tx_event(tx))

    outcome = await service.handle_invoice_event(cancel_event(inv.id))

    assert (outcome.applied, outcome.open, outcome.redecided) == (True, False, 1)
    assert (db.invoice(inv.id).status, db.invoice(inv.id).allocated_cents) == ("canceled", 0)
    assert db.allocations(tx.id) == {}
    assert [r.status for r in db.published_for(tx.id)] == ["auto_matched", "unmatched"]
    assert db.state.transactions[tx.id].record.needs_redecide is False


async def test_an_invoice_reduced_below_what_is_allocated_releases_it(
    service: MatcherService, db: FakeDatabase
) -> None:
    inv = invoice("FAC-2025-1003", 45000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(45000, reference="FAC-2025-1003")
    await service.handle_transaction_event(tx_event(tx))

    smaller = invoice("FAC-2025-1003", 12000)
    await service.handle_invoice_event(invoice_event(smaller, at=BASE + timedelta(hours=1)))

    assert db.invoice(inv.id).amount_cents == 12000
    assert db.allocations(tx.id) == {}
    assert db.published_for(tx.id)[-1].status != "auto_matched"


async def test_a_cancellation_of_an_unknown_invoice_is_kept_against_reordering(
    service: MatcherService, db: FakeDatabase
) -> None:
    outcome = await service.handle_invoice_event(cancel_event("inv-ghost"))
    late_upsert = invoice("GHOST", 5000, id="inv-ghost")
    stale = await service.handle_invoice_event(invoice_event(late_upsert, at=BASE))

    assert outcome.applied
    assert not stale.applied
    assert (db.invoice("inv-ghost").kind, db.invoice("inv-ghost").status) == (
        "unknown",
        "canceled",
    )
    assert "inv-ghost" not in service.state.org(ORG).book


async def test_an_unmatched_payment_is_matched_once_its_invoice_arrives(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx = transaction(33300, reference="FAC-2025-1004")
    await service.handle_transaction_event(tx_event(tx))

    await service.handle_invoice_event(invoice_event(invoice("FAC-2025-1004", 33300)))
    changed = await service.reexamine(["EUR"])

    assert changed == 1
    assert [r.status for r in db.published_for(tx.id)] == ["unmatched", "auto_matched"]
    assert db.published_for(tx.id)[-1].decided_by == "engine"
    assert db.allocations(tx.id) == {"inv-FAC-2025-1004": 33300}


async def test_re_examining_publishes_nothing_when_no_outcome_changes(
    service: MatcherService, db: FakeDatabase
) -> None:
    await service.handle_transaction_event(tx_event(transaction(1111, counterparty="Inconnu")))
    await service.handle_invoice_event(invoice_event(invoice("FAC-2025-1005", 999999)))

    assert await service.reexamine(["EUR"]) == 0
    assert await service.reexamine(["USD"]) == 0
    assert len(db.published) == 1


async def test_a_suggestion_is_decided_again_when_its_invoice_changes(
    service: MatcherService, db: FakeDatabase
) -> None:
    tilleuls = invoice("FAC-2025-1101", 80000, counterparty="Tilleuls Immobilier")
    await service.handle_invoice_event(invoice_event(tilleuls))
    tx = transaction(80000, counterparty="SCI TILLEULS IMMOBILIER GESTION")
    await service.handle_transaction_event(tx_event(tx))

    outcome = await service.handle_invoice_event(cancel_event(tilleuls.id))

    assert outcome.redecided == 1
    assert [r.status for r in db.published_for(tx.id)] == ["suggested", "unmatched"]
