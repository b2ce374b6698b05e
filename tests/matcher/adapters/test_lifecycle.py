"""Lifecycle paths and invariants of the matcher service, against real PostgreSQL.

The service layer is driven directly (no Kafka here: the streaming tests cover the
consumers); what it would publish is read from its outbox table.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from qrecon.common.topics import Topics
from qrecon.matcher import metrics
from qrecon.matcher.adapters.postgres import PgRepository
from qrecon.matcher.app import lifecycle
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.bootstrap import build_service
from qrecon.matcher.core import EngineConfig, MatchingEngine

from .conftest import DEFAULT_ORG
from .factories import (
    BASE,
    assert_allocations_consistent,
    bump,
    cancel_event,
    invoice,
    invoice_event,
    invoice_state,
    outbox_results,
    transaction,
    tx_event,
)


async def _count(pool: asyncpg.Pool, table: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


async def test_match_commits_allocation_result_and_outbox_together(
    service: MatcherService,
) -> None:
    inv = invoice("FAC-2025-0123", 120000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(120000, reference="Facture FAC-2025-0123")

    outcome = await service.handle_transaction_event(tx_event(tx))

    assert outcome.applied
    assert outcome.result is not None
    assert outcome.result.status == "auto_matched"
    assert await invoice_state(service.db.pool, inv.id) == (120000, 120000, "open")
    published = await outbox_results(service.db.pool)
    assert [r.status for r in published] == ["auto_matched"]
    assert published[0].transaction_id == tx.id
    assert published[0].transaction_version == tx.updated_at
    assert service.state.org(DEFAULT_ORG).book.residual(inv.id) == 0
    await assert_allocations_consistent(service.db.pool)


async def test_duplicates_and_older_versions_change_nothing(service: MatcherService) -> None:
    inv = invoice("FAC-2025-0200", 50000)
    await service.handle_invoice_event(invoice_event(inv))
    v1 = transaction(50000, reference="FAC-2025-0200", version=5)
    older = bump(v1, minutes=-3, note="older")

    assert (await service.handle_transaction_event(tx_event(v1))).applied
    duplicate = await service.handle_transaction_event(tx_event(v1))
    stale = await service.handle_transaction_event(tx_event(older))

    assert (duplicate.applied, duplicate.reason) == (False, "duplicate")
    assert (stale.applied, stale.reason) == (False, "stale")
    assert len(await outbox_results(service.db.pool)) == 1
    assert await invoice_state(service.db.pool, inv.id) == (50000, 50000, "open")


async def test_declined_version_reverts_and_restores_the_residual(
    service: MatcherService,
) -> None:
    inv = invoice("FAC-2025-0300", 80000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(80000, reference="FAC-2025-0300")
    await service.handle_transaction_event(tx_event(tx))
    assert await invoice_state(service.db.pool, inv.id) == (80000, 80000, "open")

    declined = bump(tx, status="declined")
    outcome = await service.handle_transaction_event(tx_event(declined))

    assert outcome.result is not None
    assert outcome.result.status == "reverted"
    assert outcome.result.allocations == []
    assert lifecycle.REASON_DECLINED in outcome.result.reasons
    assert await invoice_state(service.db.pool, inv.id) == (80000, 0, "open")
    assert service.state.org(DEFAULT_ORG).book.residual(inv.id) == 80000
    assert [r.status for r in await outbox_results(service.db.pool, tx.id)] == [
        "auto_matched",
        "reverted",
    ]
    # The first version replayed after the decline changes nothing.
    assert not (await service.handle_transaction_event(tx_event(tx))).applied
    # The freed invoice can be paid by another transaction.
    other = transaction(80000, reference="FAC-2025-0300")
    result = (await service.handle_transaction_event(tx_event(other))).result
    assert result is not None
    assert result.status == "auto_matched"
    await assert_allocations_consistent(service.db.pool)


async def test_reversed_version_reverts(service: MatcherService) -> None:
    inv = invoice("FAC-2025-0310", 30000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(30000, reference="FAC-2025-0310")
    await service.handle_transaction_event(tx_event(tx))

    outcome = await service.handle_transaction_event(
        tx_event(bump(tx, reversed_at="2025-10-16T10:00:00Z"))
    )

    assert outcome.result is not None
    assert outcome.result.status == "reverted"
    assert lifecycle.REASON_REVERSED in outcome.result.reasons
    assert await invoice_state(service.db.pool, inv.id) == (30000, 0, "open")


async def test_declined_before_any_match_is_unmatched(service: MatcherService) -> None:
    tx = transaction(1000, status="declined")
    outcome = await service.handle_transaction_event(tx_event(tx))
    assert outcome.result is not None
    assert outcome.result.status == "unmatched"


async def test_new_version_with_same_money_keeps_the_match(service: MatcherService) -> None:
    inv = invoice("FAC-2025-0400", 45000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(45000, reference="FAC-2025-0400")
    first = (await service.handle_transaction_event(tx_event(tx))).result
    assert first is not None
    assert first.status == "auto_matched"

    later = (await service.handle_transaction_event(tx_event(bump(tx, note="VAT ok")))).result

    assert later is not None
    assert later.status == "auto_matched"
    assert later.allocations == first.allocations
    assert lifecycle.REASON_CARRIED in later.reasons
    assert await invoice_state(service.db.pool, inv.id) == (45000, 45000, "open")


async def test_new_version_with_another_amount_is_decided_again(service: MatcherService) -> None:
    inv = invoice("FAC-2025-0410", 45000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(45000, reference="FAC-2025-0410")
    await service.handle_transaction_event(tx_event(tx))

    result = (await service.handle_transaction_event(tx_event(bump(tx, amount_cents=20000)))).result

    assert result is not None
    assert lifecycle.REASON_CARRIED not in result.reasons
    _, allocated, _ = await invoice_state(service.db.pool, inv.id)
    assert allocated == (20000 if result.status == "auto_matched" else 0)
    await assert_allocations_consistent(service.db.pool)


async def test_new_invoice_re_examines_unmatched_transactions(service: MatcherService) -> None:
    tx = transaction(99000, reference="FAC-2025-0500")
    first = (await service.handle_transaction_event(tx_event(tx))).result
    assert first is not None
    assert first.status == "unmatched"

    inv = invoice("FAC-2025-0500", 99000)
    outcome = await service.handle_invoice_event(invoice_event(inv))
    assert outcome.open
    changed = await service.reexamine([outcome.currency])

    assert changed == 1
    results = await outbox_results(service.db.pool, tx.id)
    assert [r.status for r in results] == ["unmatched", "auto_matched"]
    assert results[-1].transaction_version == tx.updated_at
    assert await invoice_state(service.db.pool, inv.id) == (99000, 99000, "open")
    # Re-examining again publishes nothing new.
    assert await service.reexamine(["EUR"]) == 0
    assert len(await outbox_results(service.db.pool, tx.id)) == 2


async def test_re_examination_window_is_measured_from_the_newest_bank_date_not_today(
    service: MatcherService,
) -> None:
    # A month replayed years later behaves as it did live: the window is anchored on the
    # newest bank date held, so the calendar of the machine running it plays no part.
    long_ago = BASE - timedelta(days=2000)
    fresh = transaction(77000, reference="FAC-1999-0001", settled_at=long_ago, emitted_at=long_ago)
    stale_day = long_ago - timedelta(days=400)
    stale = transaction(
        66000, reference="FAC-1998-0001", settled_at=stale_day, emitted_at=stale_day
    )
    for tx in (stale, fresh):
        await service.handle_transaction_event(tx_event(tx))

    currencies = set()
    for number, amount in (("FAC-1999-0001", 77000), ("FAC-1998-0001", 66000)):
        inv = invoice(number, amount, issue_date=stale_day.date())
        currencies.add((await service.handle_invoice_event(invoice_event(inv))).currency)
    await service.reexamine(currencies)

    assert [r.status for r in await outbox_results(service.db.pool, fresh.id)] == [
        "unmatched",
        "auto_matched",
    ]
    # 400 days before the newest bank date: outside the 180-day window.
    assert [r.status for r in await outbox_results(service.db.pool, stale.id)] == ["unmatched"]


async def test_cancelled_invoice_releases_its_allocations_and_redecides(
    service: MatcherService,
) -> None:
    inv = invoice("FAC-2025-0600", 70000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(70000, reference="FAC-2025-0600")
    await service.handle_transaction_event(tx_event(tx))

    outcome = await service.handle_invoice_event(cancel_event(inv.id))

    assert outcome.applied
    assert not outcome.open
    assert outcome.redecided == 1
    assert await invoice_state(service.db.pool, inv.id) == (70000, 0, "canceled")
    results = await outbox_results(service.db.pool, tx.id)
    assert results[0].status == "auto_matched"
    assert results[-1].status in ("unmatched", "suggested")
    assert all(
        a.invoice_id != inv.id or results[-1].status != "auto_matched"
        for a in results[-1].allocations
    )
    async with service.db.pool.acquire() as conn:
        row = await PgRepository(conn, DEFAULT_ORG).get_transaction(tx.id)
    assert row is not None
    assert not row.needs_redecide
    await assert_allocations_consistent(service.db.pool)


async def test_invoice_amount_below_allocated_releases_then_redecides(
    service: MatcherService,
) -> None:
    inv = invoice("FAC-2025-0610", 70000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(70000, reference="FAC-2025-0610")
    await service.handle_transaction_event(tx_event(tx))

    smaller = inv.model_copy(update={"amount_cents": 50000})
    await service.handle_invoice_event(invoice_event(smaller))

    amount, allocated, status = await invoice_state(service.db.pool, inv.id)
    assert (amount, status) == (50000, "open")
    assert allocated <= 50000
    assert len(await outbox_results(service.db.pool, tx.id)) == 2
    await assert_allocations_consistent(service.db.pool)


async def test_invoice_events_apply_in_observed_order(service: MatcherService) -> None:
    inv = invoice("FAC-2025-0700", 10000)
    newer = invoice_event(inv.model_copy(update={"amount_cents": 12000}))
    older = invoice_event(inv, at=newer.observed_at.replace(year=2024))
    await service.handle_invoice_event(newer)
    assert not (await service.handle_invoice_event(older)).applied
    assert (await invoice_state(service.db.pool, inv.id))[0] == 12000
    # A cancellation of an invoice never seen leaves a tombstone: a late upsert is ignored.
    ghost = invoice("FAC-2025-0701", 5000)
    cancel = cancel_event(ghost.id)
    await service.handle_invoice_event(cancel)
    late = invoice_event(ghost, at=cancel.observed_at.replace(year=2024))
    assert not (await service.handle_invoice_event(late)).applied
    assert (
        ghost.id not in service.state.org(DEFAULT_ORG).book
        or service.state.org(DEFAULT_ORG).book.residual(ghost.id) == 0
    )


async def test_a_failure_before_commit_publishes_nothing_and_changes_nothing(
    service: MatcherService, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = invoice("FAC-2025-0800", 25000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(25000, reference="FAC-2025-0800")
    original = PgRepository.record_result

    async def crash_after_writing(self: PgRepository, *args: object, **kwargs: object) -> None:
        await original(self, *args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("process died before COMMIT")

    monkeypatch.setattr(PgRepository, "record_result", crash_after_writing)
    with pytest.raises(RuntimeError):
        await service.handle_transaction_event(tx_event(tx))
    assert await _count(service.db.pool, "matcher_outbox") == 0
    assert await _count(service.db.pool, "matcher_transactions") == 0
    assert await _count(service.db.pool, "matcher_allocations") == 0
    assert await invoice_state(service.db.pool, inv.id) == (25000, 0, "open")

    monkeypatch.setattr(PgRepository, "record_result", original)
    assert (await service.handle_transaction_event(tx_event(tx))).applied
    assert [r.status for r in await outbox_results(service.db.pool)] == ["auto_matched"]


async def test_stale_replica_cache_cannot_over_allocate(pool: asyncpg.Pool, topics: Topics) -> None:
    """Two replicas with their own caches; the second has not seen the first's allocation."""
    replicas = []
    for _ in range(2):
        state = MatcherState()
        replicas.append(
            build_service(
                pool,
                MatchingEngine(EngineConfig()),
                state,
                topics,
                conflict_retries=2,
                default_organization=DEFAULT_ORG,
            )
        )
    a, b = replicas
    inv = invoice("FAC-2025-0900", 60000)
    await a.handle_invoice_event(invoice_event(inv))
    for replica in replicas:
        await replica.state.load(replica.db)
    conflicts_before = metrics.CONFLICTS._value.get()

    first = (
        await a.handle_transaction_event(tx_event(transaction(60000, reference="FAC-2025-0900")))
    ).result
    # b still believes the invoice is open for 60000: PostgreSQL says otherwise.
    assert b.state.org(DEFAULT_ORG).book.residual(inv.id) == 60000
    second = (
        await b.handle_transaction_event(tx_event(transaction(60000, reference="FAC-2025-0900")))
    ).result

    assert first is not None
    assert second is not None
    assert first.status == "auto_matched"
    assert second.status != "auto_matched"
    assert metrics.CONFLICTS._value.get() > conflicts_before
    assert (
        b.state.org(DEFAULT_ORG).book.residual(inv.id) == 0
    )  # refreshed from the rows read under lock
    assert await invoice_state(pool, inv.id) == (60000, 60000, "open")
    await assert_allocations_consistent(pool)


async def test_the_database_refuses_over_allocation_whatever_the_code(
    pool: asyncpg.Pool, service: MatcherService
) -> None:
    inv = invoice("FAC-2025-0950", 10000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(10000, reference="FAC-2025-0950")
    await service.handle_transaction_event(tx_event(tx))
    other = transaction(10000, reference="nothing")
    await service.handle_transaction_event(tx_event(other))
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO matcher_allocations"
                " (organization_id, transaction_id, invoice_id, amount_cents)"
                " VALUES ($3, $1, $2, 1)",
                other.id,
                inv.id,
                DEFAULT_ORG,
            )


async def test_sweep_finishes_a_release_interrupted_by_a_crash(service: MatcherService) -> None:
    inv = invoice("FAC-2025-1000", 40000)
    await service.handle_invoice_event(invoice_event(inv))
    tx = transaction(40000, reference="FAC-2025-1000")
    await service.handle_transaction_event(tx_event(tx))
    # What a crash right after an invoice change leaves: released, flagged, not re-decided.
    async with service.db.pool.acquire() as conn, conn.transaction():
        repo = PgRepository(conn, DEFAULT_ORG)
        await repo.delete_allocations([tx.id])
        await repo.flag_redecide([tx.id])
    await service.state.load(service.db)

    assert await service.sweep() == 1

    results = await outbox_results(service.db.pool, tx.id)
    assert [r.status for r in results] == ["auto_matched", "auto_matched"]
    assert await invoice_state(service.db.pool, inv.id) == (40000, 40000, "open")
    assert await service.sweep() == 0
    await assert_allocations_consistent(service.db.pool)


async def test_one_outbox_relay_is_active_and_another_takes_over(pool: asyncpg.Pool) -> None:
    from qrecon.common.outbox import OutboxRelay
    from qrecon.matcher.adapters.relay import RelayLeadership

    leaders = [
        RelayLeadership(
            pool,
            OutboxRelay(pool, object(), table="matcher_outbox"),
            retry_seconds=0.05,  # type: ignore[arg-type]
        )
        for _ in range(2)
    ]
    for leadership in leaders:
        await leadership.start()
    try:
        for _ in range(100):
            if any(x.is_leader for x in leaders):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert [x.is_leader for x in leaders].count(True) == 1
        first = next(x for x in leaders if x.is_leader)
        other = next(x for x in leaders if not x.is_leader)
        assert first.relay.running
        assert not other.relay.running
        await first.stop()
        for _ in range(100):
            if other.is_leader:
                break
            await asyncio.sleep(0.02)
        assert other.is_leader
        assert other.relay.running
    finally:
        for leadership in leaders:
            await leadership.stop()
