"""Specifications of the reads the review API renders."""

from __future__ import annotations

import pytest

from qrecon.matcher.app.errors import NotFound
from qrecon.matcher.app.service import MatcherService

from .builders import invoice, invoice_event, transaction, tx_event
from .fakes import FakeDatabase


async def test_a_review_queue_is_read_newest_first_one_page_at_a_time(
    service: MatcherService,
) -> None:
    ids = []
    for amount in (101, 102, 103):
        tx = transaction(amount, counterparty="Inconnu")
        await service.handle_transaction_event(tx_event(tx))
        ids.append(tx.id)
    expected = sorted(ids, reverse=True)  # same bank date: by id, descending

    first = await service.queries.review_queue("unmatched", 2)
    second = await service.queries.review_queue("unmatched", 2, first.next_after)

    assert [r.transaction_id for r in first.items] == expected[:2]
    assert [r.transaction_id for r in second.items] == expected[2:]
    assert second.next_after is None
    assert (await service.queries.review_queue("suggested", 10)).items == []


async def test_a_transaction_is_read_with_its_allocations_history_and_decisions(
    service: MatcherService, db: FakeDatabase
) -> None:
    inv = invoice("FAC-2025-2000", 5000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(5000, counterparty="Inconnu")
    await service.handle_transaction_event(tx_event(tx))
    await service.match_manually(tx.id, {inv.id: 5000}, actor="dan")

    view = await service.queries.transaction(tx.id)

    assert view.transaction.result_seq == 2
    assert view.allocations == {inv.id: 5000}
    assert [(r.seq, r.cause) for r in view.history] == [(1, "transaction"), (2, "review")]
    assert [(d.action, d.actor) for d in view.decisions] == [("match", "dan")]
    invoice_view = await service.queries.invoice(inv.id)
    assert (invoice_view.invoice.residual_cents, invoice_view.allocated_to) == (0, [tx.id])


async def test_reading_what_is_unknown_is_not_found(service: MatcherService) -> None:
    with pytest.raises(NotFound):
        await service.queries.transaction("nope")
    with pytest.raises(NotFound):
        await service.queries.invoice("nope")
