"""``make backtest-demo``'s parts: the ground truth a reviewer works from, the review
session through the real review API (the matcher in process on PostgreSQL, shadow mode),
and the report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from qrecon.common.db import create_pool
from qrecon.common.schemas import Invoice, InvoiceEvent, QontoTransaction, TransactionEvent
from qrecon.common.topics import Topics
from qrecon.devstack.backtest_demo import HttpDesk, render, truths_of, what_was_taught
from qrecon.devstack.observe import Observation
from qrecon.devstack.review_session import SessionTally, review
from qrecon.devstack.run import PlayOptions, RunResult
from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.bootstrap import build_service, migrate
from qrecon.matcher.core import EngineConfig, MatchingEngine

ORG = "org-demo"
TOKEN = "backtest-demo-token-0123456789"
AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _invoice(number: str, amount: int, name: str) -> Invoice:
    return Invoice.model_validate(
        {
            "id": f"inv-{number}",
            "number": number,
            "kind": "receivable",
            "counterparty_name": name,
            "amount_cents": amount,
            "currency": "EUR",
            "issue_date": "2026-11-02",
            "due_date": "2026-12-02",
            "status": "open",
        }
    )


def _tx(tx_id: str, amount: int, payer: str, reference: str | None = None) -> QontoTransaction:
    return QontoTransaction.model_validate(
        {
            "id": tx_id,
            "transaction_id": tx_id,
            "amount_cents": amount,
            "currency": "EUR",
            "side": "credit",
            "operation_type": "transfer",
            "status": "completed",
            "label": payer,
            "clean_counterparty_name": payer,
            "reference": reference,
            "settled_at": AT,
            "emitted_at": AT,
            "updated_at": AT,
            "subject_type": "transfer",
        }
    )


GARAGE_1 = _invoice("FAC-2026-0601", 12000, "Garage Petit")
GARAGE_2 = _invoice("FAC-2026-0602", 12000, "Garage Petit")
MARTIN = _invoice("FAC-2026-0700", 33300, "Boulangerie Martin")
DURAND = _invoice("FAC-2026-0800", 7700, "Plomberie Durand")


# ---------------------------------------------------------------------- truth, report
def _run_result() -> RunResult:
    truth: list[dict[str, Any]] = [
        {"id": "tx-2", "status": "completed", "settled_at": "2026-11-05T10:00:00Z"},
        {"id": "tx-1", "status": "completed", "settled_at": "2026-11-04T10:00:00Z"},
        {"id": "tx-3", "status": "declined", "settled_at": None},
    ]
    allocations: dict[str, dict[str, Any]] = {
        "tx-1": {"allocations": [{"invoice_id": "inv-1", "amount_cents": 500}]},
        "tx-2": {"allocations": []},
        "tx-3": {"allocations": [{"invoice_id": "inv-2", "amount_cents": 100}]},
    }
    return RunResult(Observation(), truth, allocations, 2, 12.0, True)


def test_the_reviewer_goes_through_the_completed_transactions_in_the_order_they_settled() -> None:
    truths, order = truths_of(_run_result())
    assert order == ["tx-1", "tx-2"]
    assert truths == {"tx-1": {"inv-1": 500}, "tx-3": {"inv-2": 100}}


def test_the_report_states_the_month_the_session_and_the_back_test() -> None:
    tally = SessionTally(reviewed=2)
    tally.decisions.update({"confirm": 1})
    stats = {
        "reason": "(all)",
        "reviewed": 1,
        "with_truth": 1,
        "auto": 1,
        "auto_correct": 1,
        "precision": 1.0,
        "coverage": 1.0,
        "suggested": 0,
        "suggested_correct": 0,
    }
    report: dict[str, Any] = {
        "transactions": 2,
        "would_auto_match": 1,
        "overall": stats,
        "reasons": [{**stats, "reason": "counterparty.iban"}],
        "reliability": {
            "n": 1,
            "ece": 0.01,
            "buckets": [{"bin": "[0.990, 0.999)", "n": 1, "mean_confidence": 0.99, "accuracy": 1}],
            "auto_threshold": 0.964,
            "at_or_above_threshold": 1,
            "precision_at_or_above_threshold": 1.0,
        },
    }
    options = PlayOptions(start=date(2026, 11, 2))

    taught = {"names": 3, "ibans": 2, "not_learnt": {"ambiguous": 1}}

    text = render(options, _run_result(), tally, report, ORG, taught)

    assert "business days 2026-11-02 to 2026-12-02 (seed 7" in text
    assert "- decisions: confirm 1" in text
    assert "the engine would auto-match 1, 0 of them on lines no reviewer decided" in text
    assert "| counterparty.iban | 1 | 1 | 1 | 100.00% | 100.00% | 0 | 0 |" in text
    assert "| [0.990, 0.999) | 1 | 0.990 | 1.000 |" in text
    assert "--organization org-demo" in text
    assert "3 payer names, 2 IBANs; not learnt: ambiguous 1" in text


# ---------------------------------------------------------------------- the review API
@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    await migrate(pool)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def shadow(pool: asyncpg.Pool, topics: Topics) -> MatcherService:
    """The matcher in shadow mode, as ``make backtest-demo`` runs it."""
    state = MatcherState()
    service = build_service(
        pool,
        MatchingEngine(EngineConfig()),
        state,
        topics,
        conflict_retries=3,
        default_organization=ORG,
        auto_match=False,
    )
    await state.load(service.db)
    return service


@pytest.fixture
async def client(shadow: MatcherService) -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> dict[str, bool]:
        return {"postgres": True}

    app = create_app(shadow, api_token=SecretStr(TOKEN), readiness=ready)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://matcher",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as http:
        yield http


async def test_a_session_through_the_review_api_leaves_the_reviewers_decisions(
    shadow: MatcherService, client: httpx.AsyncClient, pool: asyncpg.Pool, database_url: str
) -> None:
    for inv in (GARAGE_1, GARAGE_2, MARTIN, DURAND):
        await shadow.handle_invoice_event(
            InvoiceEvent(event_type="invoice.upsert", invoice=inv, observed_at=AT)
        )
    payments = [
        _tx("tx-garage", 12000, "GARAGE PETIT"),  # two equal invoices: it paid the second
        _tx("tx-martin", 33300, "BOULANGERIE MARTIN", "FAC-2026-0700"),
        _tx("tx-durand", 7000, "M DURAND"),  # 70,00 of 77,00: the engine finds nothing
        _tx("tx-fee", 500, "INCONNU"),  # pays no invoice
    ]
    for tx in payments:
        await shadow.handle_transaction_event(
            TransactionEvent(
                event_id=f"event-{tx.id}", source="webhook", transaction=tx, observed_at=AT
            )
        )
    desk = HttpDesk(client)
    first = await desk.proposal("tx-garage")
    assert first is not None
    assert (first.status, dict(first.allocations)) == ("suggested", {GARAGE_1.id: 12000})
    truths = {
        "tx-garage": {GARAGE_2.id: 12000},
        "tx-martin": {MARTIN.id: 33300},
        "tx-durand": {DURAND.id: 7000},
    }

    tally = await review(desk, truths, [tx.id for tx in payments] + ["tx-unknown"])

    assert tally.decisions == {"reject": 1, "confirm": 2, "match": 1}
    assert tally.refused == {}
    assert tally.outcomes["unknown to the matcher"] == 1
    for tx_id, truth in truths.items():
        final = await desk.proposal(tx_id)
        assert final is not None
        assert (final.status, dict(final.allocations)) == ("auto_matched", truth)
    actions = await pool.fetch("SELECT transaction_id, action FROM matcher_decisions ORDER BY id")
    assert [tuple(r) for r in actions] == [
        ("tx-garage", "reject"),
        ("tx-garage", "confirm"),
        ("tx-martin", "confirm"),
        ("tx-durand", "match"),
    ]
    # "M DURAND" is like "Plomberie Durand" and no one else: learnt; the others paid under
    # their customer's own name, which teaches nothing new.
    assert await what_was_taught(database_url, ORG) == {"names": 1, "ibans": 0, "not_learnt": {}}
