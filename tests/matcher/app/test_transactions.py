"""Specifications of a transaction event: decided, committed, published once."""

from __future__ import annotations

import pytest

from qrecon.matcher.app import lifecycle
from qrecon.matcher.app.service import MatcherService

from .builders import bump, invoice, invoice_event, transaction, tx_event
from .conftest import NOW, new_service
from .fakes import ORG, FakeDatabase

TILLEULS = invoice("FAC-2025-1101", 80000, counterparty="Tilleuls Immobilier")


async def test_a_payment_quoting_its_invoice_is_auto_matched_and_published_once(
    service: MatcherService, db: FakeDatabase
) -> None:
    inv = invoice("FAC-2025-0100", 120000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(120000, reference="Paiement FAC-2025-0100")

    outcome = await service.handle_transaction_event(tx_event(tx))

    assert outcome.applied
    assert outcome.result is not None
    assert outcome.result.status == "auto_matched"
    assert outcome.result.decided_by == "engine"
    assert outcome.result.decided_at == NOW
    assert db.allocations(tx.id) == {inv.id: 120000}
    assert db.invoice(inv.id).residual_cents == 0
    assert service.state.org(ORG).book.residual(inv.id) == 0
    [published] = db.published
    assert (published.result, published.seq) == (outcome.result, 1)
    assert published.event_id == lifecycle.result_event_id(tx.id, 1, ORG)


async def test_a_plausible_but_unsure_payment_is_suggested_and_allocates_nothing(
    service: MatcherService, db: FakeDatabase
) -> None:
    await service.handle_invoice_event(invoice_event(TILLEULS))
    tx = transaction(80000, counterparty="SCI TILLEULS IMMOBILIER GESTION")

    result = (await service.handle_transaction_event(tx_event(tx))).result

    assert result is not None
    assert result.status == "suggested"
    assert [a.invoice_id for a in result.allocations] == [TILLEULS.id]
    assert db.allocations(tx.id) == {}
    assert db.invoice(TILLEULS.id).residual_cents == 80000
    assert db.published_for(tx.id) == [result]


async def test_a_payment_without_any_invoice_is_unmatched_and_still_published(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx = transaction(4242, counterparty="Inconnu")

    result = (await service.handle_transaction_event(tx_event(tx))).result

    assert result is not None
    assert result.status == "unmatched"
    assert result.residual_cents == 4242
    assert db.published_for(tx.id) == [result]


async def test_a_duplicate_or_an_older_version_changes_and_publishes_nothing(
    service: MatcherService, db: FakeDatabase
) -> None:
    tx = transaction(4242, counterparty="Inconnu")
    later = bump(tx)
    await service.handle_transaction_event(tx_event(later))

    duplicate = await service.handle_transaction_event(tx_event(later))
    stale = await service.handle_transaction_event(tx_event(tx))

    assert (duplicate.applied, duplicate.reason) == (False, "duplicate")
    assert (stale.applied, stale.reason) == (False, "stale")
    assert len(db.published) == 1


async def test_a_declined_version_of_a_match_is_reverted_and_releases_the_invoice(
    service: MatcherService, db: FakeDatabase
) -> None:
    inv = invoice("FAC-2025-0200", 50000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(50000, reference="FAC-2025-0200")
    await service.handle_transaction_event(tx_event(tx))

    result = (await service.handle_transaction_event(tx_event(bump(tx, status="declined")))).result

    assert result is not None
    assert result.status == "reverted"
    assert lifecycle.REASON_DECLINED in result.reasons
    assert db.allocations(tx.id) == {}
    assert db.invoice(inv.id).residual_cents == 50000
    assert [r.status for r in db.published_for(tx.id)] == ["auto_matched", "reverted"]


async def test_a_new_version_with_the_same_money_keeps_its_allocations(
    service: MatcherService, db: FakeDatabase
) -> None:
    inv = invoice("FAC-2025-0300", 30000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(30000, reference="FAC-2025-0300")
    await service.handle_transaction_event(tx_event(tx))

    result = (await service.handle_transaction_event(tx_event(bump(tx, note="a note")))).result

    assert result is not None
    assert result.status == "auto_matched"
    assert lifecycle.REASON_CARRIED in result.reasons
    assert db.allocations(tx.id) == {inv.id: 30000}
    assert [p.seq for p in db.published] == [1, 2]


async def test_a_result_is_published_only_when_its_unit_of_work_commits(
    service: MatcherService, db: FakeDatabase
) -> None:
    inv = invoice("FAC-2025-0400", 25000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(25000, reference="FAC-2025-0400")
    db.fail_next_commit = True

    with pytest.raises(ConnectionError):
        await service.handle_transaction_event(tx_event(tx))

    assert db.published == []
    assert db.state.transactions == {}
    assert db.allocations(tx.id) == {}
    assert db.invoice(inv.id).residual_cents == 25000
    # The redelivered event then decides, commits and publishes, once.
    assert (await service.handle_transaction_event(tx_event(tx))).applied
    assert [r.status for r in db.published_for(tx.id)] == ["auto_matched"]


async def test_a_stale_replica_cache_cannot_over_allocate(db: FakeDatabase) -> None:
    inv = invoice("FAC-2025-0500", 60000)
    a, b = new_service(db), new_service(db)
    await a.handle_invoice_event(invoice_event(inv))
    for replica in (a, b):
        await replica.state.load(db)
    await a.handle_transaction_event(tx_event(transaction(60000, reference="FAC-2025-0500")))
    assert b.state.org(ORG).book.residual(inv.id) == 60000  # b has not seen it

    second = transaction(60000, reference="FAC-2025-0500")
    result = (await b.handle_transaction_event(tx_event(second))).result

    assert result is not None
    assert result.status != "auto_matched"
    assert db.allocations(second.id) == {}
    assert db.invoice(inv.id).allocated_cents == 60000
    assert b.state.org(ORG).book.residual(inv.id) == 0  # refreshed by the conflict


async def test_the_sweep_decides_again_what_a_crash_left_flagged(
    service: MatcherService, db: FakeDatabase
) -> None:
    inv = invoice("FAC-2025-0600", 40000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(40000, reference="FAC-2025-0600")
    await service.handle_transaction_event(tx_event(tx))
    async with db.unit_of_work() as uow:  # what a crash after a release leaves behind
        await uow.repo.delete_allocations([tx.id])
        await uow.repo.flag_redecide([tx.id])
    await service.state.load(db)

    assert await service.sweep() == 1

    assert db.allocations(tx.id) == {inv.id: 40000}
    assert [r.status for r in db.published_for(tx.id)] == ["auto_matched", "auto_matched"]
    assert await service.sweep() == 0
