"""Three replicas race over the same invoices: PostgreSQL keeps every invoice within its amount.

The engine here is a deliberately greedy stand-in (injected, as a replica would take any
engine): every transaction goes to the first invoice its replica's cache believes open, so
all replicas fight over the same rows and their caches are stale most of the time. Two
replicas share a consumer group (they split the partitions); the third is in another group,
so it decides every transaction too, concurrently with the first two.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from qrecon.common import testing
from qrecon.common.schemas import Allocation, MatchResult, QontoTransaction
from qrecon.common.topics import Topics
from qrecon.matcher import metrics
from qrecon.matcher.core import InvoiceBook, Knowledge

from .conftest import DEFAULT_ORG, RuntimeFactory, produce
from .factories import assert_allocations_consistent, invoice, invoice_event, transaction, tx_event

INVOICES = 4
INVOICE_AMOUNT = 100_000
PAYMENTS = 60
PAYMENT = 10_000  # capacity: 4 x 10 payments; 20 payments find no room


class FirstFitEngine:
    def decide(
        self, tx: QontoTransaction, book: InvoiceBook, knowledge: Knowledge | None = None
    ) -> MatchResult:
        for inv in sorted(book.open_invoices(), key=lambda i: i.id):
            if book.residual(inv.id) >= tx.amount_cents:
                return MatchResult(
                    transaction_id=tx.id,
                    transaction_version=tx.version,
                    status="auto_matched",
                    allocations=[
                        Allocation(
                            invoice_id=inv.id,
                            invoice_number=inv.number,
                            amount_cents=tx.amount_cents,
                        )
                    ],
                    residual_cents=0,
                    confidence=1.0,
                    reasons=["test.first_fit"],
                    matcher_version="first-fit",
                )
        return MatchResult(
            transaction_id=tx.id,
            transaction_version=tx.version,
            status="unmatched",
            residual_cents=tx.amount_cents,
            confidence=0.0,
            matcher_version="first-fit",
        )


async def test_three_replicas_never_over_allocate(
    runtimes: RuntimeFactory,
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    replicas = [
        await runtimes(FirstFitEngine(), MATCHER_CONFLICT_RETRIES=30, MATCHER_CONCURRENCY=4),
        await runtimes(FirstFitEngine(), MATCHER_CONFLICT_RETRIES=30, MATCHER_CONCURRENCY=4),
        await runtimes(
            FirstFitEngine(),
            MATCHER_CONFLICT_RETRIES=30,
            MATCHER_CONCURRENCY=4,
            MATCHER_GROUP_ID=f"{topics.prefix}other-group",
        ),
    ]
    assert replicas[0].service is not None
    pool = replicas[0].service.db.pool
    invoices = [invoice(f"FAC-RACE-{n:03d}", INVOICE_AMOUNT) for n in range(INVOICES)]
    await produce(
        kafka_bootstrap,
        topics.invoices,
        [(i.id, invoice_event(i).model_dump_json().encode()) for i in invoices],
    )
    for _ in range(200):  # every replica's cache has them (consumed by one, refreshed by all)
        if all(len(r.state.org(DEFAULT_ORG).book) == INVOICES for r in replicas):
            break
        await asyncio.sleep(0.05)
    conflicts_before = metrics.CONFLICTS._value.get()
    payments = [transaction(PAYMENT, reference=f"payment {n}") for n in range(PAYMENTS)]
    await produce(
        kafka_bootstrap,
        topics.transactions,
        [(t.id, tx_event(t).model_dump_json().encode()) for t in payments],
    )

    records = await testing.consume_until(
        kafka_bootstrap, topics.matches, count=PAYMENTS, timeout=60
    )
    await asyncio.sleep(0.5)  # anything extra (there should be nothing) would show up

    async with pool.acquire() as conn:
        statuses = Counter(
            r["result_status"]
            for r in await conn.fetch("SELECT result_status FROM matcher_transactions")
        )
        results = await conn.fetchval("SELECT count(*) FROM matcher_results")
        allocated = await conn.fetch("SELECT allocated_cents FROM matcher_invoices")
    assert sum(statuses.values()) == PAYMENTS
    assert results == PAYMENTS  # one result per transaction version, whoever decided it
    assert statuses["auto_matched"] == INVOICES * INVOICE_AMOUNT // PAYMENT
    assert statuses["unmatched"] == PAYMENTS - statuses["auto_matched"]
    assert [r["allocated_cents"] for r in allocated] == [INVOICE_AMOUNT] * INVOICES
    await assert_allocations_consistent(pool)
    # Consumers of the topic see one result per transaction.
    more = await testing.consume_until(
        kafka_bootstrap, topics.matches, count=PAYMENTS + 1, timeout=1
    )
    assert len(records) == len(more) == PAYMENTS
    assert len({r.key for r in more}) == PAYMENTS
    # One relay publishes for the whole deployment (per-transaction order of results).
    assert [r.leadership is not None and r.leadership.is_leader for r in replicas].count(True) == 1
    # The race really happened: replicas' caches were wrong and PostgreSQL said so.
    assert metrics.CONFLICTS._value.get() > conflicts_before
