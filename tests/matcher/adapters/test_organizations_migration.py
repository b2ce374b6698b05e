"""Upgrading a live single-organisation matcher (migrations 0001-0003) to organisations.

A database of the previous schema holds invoices, a transaction with an allocation, its
results, a review decision, an alias and a rejection. After 0004 every row belongs to the
sentinel organisation ``''``; the service's start adopts them as
``MATCHER_DEFAULT_ORGANIZATION`` in one transaction: nothing is lost, the residuals are
unchanged, and the service then reads and decides on them as the default organisation's.
"""

from __future__ import annotations

import asyncpg
import pytest

from qrecon.common.db import apply_migrations, load_migrations
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.postgres_orgs import TABLES, adopt_default_organization
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.bootstrap import COMPONENT, MIGRATIONS_PACKAGE, build_service
from qrecon.matcher.core import EngineConfig, MatchingEngine

from .factories import assert_allocations_consistent, invoice, transaction, tx_event

pytestmark = pytest.mark.integration

ORG = "org-acme"


async def _previous_schema_with_data(conn: asyncpg.Connection) -> tuple[str, str]:
    """0001-0003 and one reconciled payment, as the single-organisation matcher left it."""
    migrations = load_migrations(COMPONENT, MIGRATIONS_PACKAGE)
    previous = [m for m in migrations if m.name < "0004"]
    assert [m.name for m in previous] == [
        "0001_matcher_state.sql",
        "0002_outbox_pending.sql",
        "0003_tx_date_index.sql",
    ]
    await apply_migrations(conn, previous)
    paid = invoice("FAC-2025-0001", 120000, counterparty="Maison Dupont SARL")
    other = invoice("FAC-2025-0002", 50000, counterparty="Maison Dupont SARL")
    tx = transaction(80000, reference="FAC-2025-0001", counterparty="MAISON DUPONT")
    for inv in (paid, other):
        await conn.execute(
            "INSERT INTO matcher_invoices (invoice_id, invoice, kind, currency, amount_cents,"
            " status, last_event_at) VALUES ($1, $2, 'receivable', 'EUR', $3, 'open',"
            " '2025-03-01T00:00:00Z')",
            inv.id,
            inv.model_dump(mode="json"),
            inv.amount_cents,
        )
    result = {"transaction_id": tx.id, "status": "auto_matched", "allocations": []}
    await conn.execute(
        "INSERT INTO matcher_transactions (transaction_id, version, transaction, side,"
        " currency, amount_cents, qonto_status, tx_date, result_status, result, result_seq,"
        " decided_by) VALUES ($1, $2, $3, 'credit', 'EUR', 80000, 'completed', $2,"
        " 'auto_matched', $4, 1, 'engine')",
        tx.id,
        tx.updated_at,
        tx.model_dump(mode="json"),
        result,
    )
    await conn.execute(
        "INSERT INTO matcher_allocations (transaction_id, invoice_id, amount_cents)"
        " VALUES ($1, $2, 80000)",
        tx.id,
        paid.id,
    )
    await conn.execute(
        "INSERT INTO matcher_results (transaction_id, seq, version, status, cause, result,"
        " event_id) VALUES ($1, 1, $2, 'auto_matched', 'transaction', $3, 'ev-1')",
        tx.id,
        tx.updated_at,
        result,
    )
    decision = await conn.fetchval(
        "INSERT INTO matcher_decisions (transaction_id, action, actor)"
        " VALUES ($1, 'reject', 'alice') RETURNING id",
        tx.id,
    )
    await conn.execute(
        "INSERT INTO matcher_aliases (observed_counterparty, invoice_counterparty_name,"
        " decision_id) VALUES ('MAISON DUPONT', 'Maison Dupont SARL', $1)",
        decision,
    )
    await conn.execute(
        "INSERT INTO matcher_rejections (transaction_id, invoice_id, decision_id)"
        " VALUES ($1, $2, $3)",
        tx.id,
        other.id,
        decision,
    )
    return tx.id, paid.id


async def _organisations(conn: asyncpg.Connection) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table in TABLES:
        rows = await conn.fetch(f"SELECT DISTINCT organization_id FROM {table}")
        found[table] = {row["organization_id"] for row in rows}
    return found


async def test_single_organisation_state_moves_to_the_default_organisation(
    pool: asyncpg.Pool, topics: Topics
) -> None:
    async with pool.acquire() as conn:
        # the `pool` fixture migrated everything: start again from the previous schema
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        tx_id, paid_id = await _previous_schema_with_data(conn)
        rest = [m for m in load_migrations(COMPONENT, MIGRATIONS_PACKAGE) if m.name >= "0004"]
        await apply_migrations(conn, rest)
        # the sentinel organisation until the service adopts it
        assert all(orgs == {""} for orgs in (await _organisations(conn)).values())
        assert (
            await conn.fetchval(
                "SELECT allocated_cents FROM matcher_invoices WHERE invoice_id = $1", paid_id
            )
            == 80000
        )

    assert await adopt_default_organization(pool, None) == 0  # no default: kept as it is
    renamed = await adopt_default_organization(pool, ORG)
    assert renamed == 8  # 2 invoices, 1 transaction, allocation, result, decision, alias, rejection
    assert await adopt_default_organization(pool, ORG) == 0  # once only
    async with pool.acquire() as conn:
        assert all(orgs == {ORG} for orgs in (await _organisations(conn)).values())
        row = await conn.fetchrow(
            "SELECT allocated_cents, row_version FROM matcher_invoices"
            " WHERE organization_id = $1 AND invoice_id = $2",
            ORG,
            paid_id,
        )
        assert row["allocated_cents"] == 80000  # the rename moved no money
    await assert_allocations_consistent(pool)

    # The service now holds it as the default organisation's: reads, knowledge, decisions.
    state = MatcherState()
    service = build_service(
        pool, MatchingEngine(EngineConfig()), state, topics, default_organization=ORG
    )
    await state.load(service.db)
    assert state.organizations == [ORG]
    assert state.org(ORG).book.residual(paid_id) == 40000
    assert state.org(ORG).knowledge.is_rejected(tx_id, invoice("FAC-2025-0002", 1).id)
    view = await service.queries.transaction(tx_id)
    assert view.allocations == {paid_id: 80000}
    assert [d.actor for d in view.decisions] == ["alice"]
    balance = transaction(40000, reference="FAC-2025-0001", counterparty="MAISON DUPONT")
    outcome = await service.handle_transaction_event(tx_event(balance))
    assert outcome.result is not None
    assert outcome.result.status == "auto_matched"
    assert outcome.result.organization_id == ORG
    assert [a.invoice_id for a in outcome.result.allocations] == [paid_id]
    await assert_allocations_consistent(pool)
