"""Builders of invoices and bank lines for the desk's tests, in process and in the browser
(``tests/browser`` imports them as ``tests.matcher.web.world``): explicit dates, no clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from qrecon.common.schemas import (
    Invoice,
    InvoiceEvent,
    MatchResult,
    QontoTransaction,
    TransactionEvent,
)

BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ISSUED = BASE.date() - timedelta(days=14)


def invoice(number: str, amount_cents: int, counterparty: str) -> Invoice:
    return Invoice.model_validate(
        {
            "id": f"inv-{number}",
            "number": number,
            "kind": "receivable",
            "counterparty_name": counterparty,
            "amount_cents": amount_cents,
            "currency": "EUR",
            "issue_date": ISSUED,
            "due_date": ISSUED + timedelta(days=30),
            "status": "open",
        }
    )


def invoice_event(inv: Invoice) -> InvoiceEvent:
    return InvoiceEvent(event_type="invoice.upsert", invoice=inv, observed_at=BASE)


def transaction(
    amount_cents: int, counterparty: str, *, days: int = 0, **extra: Any
) -> QontoTransaction:
    at = BASE + timedelta(days=days)
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "transaction_id": f"tx-{uuid.uuid4().hex[:8]}",
        "amount_cents": amount_cents,
        "currency": "EUR",
        "side": "credit",
        "operation_type": "transfer",
        "status": "completed",
        "label": counterparty,
        "clean_counterparty_name": counterparty,
        "settled_at": at,
        "emitted_at": at,
        "updated_at": at,
        **extra,
    }
    return QontoTransaction.model_validate(data)


def tx_event(tx: QontoTransaction) -> TransactionEvent:
    return TransactionEvent(
        event_id=str(uuid.uuid4()), source="webhook", transaction=tx, observed_at=BASE
    )


async def outbox_results(pool: asyncpg.Pool, transaction_id: str) -> list[MatchResult]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT value FROM matcher_outbox ORDER BY id")
    results = [MatchResult.model_validate_json(bytes(r["value"])) for r in rows]
    return [r for r in results if r.transaction_id == transaction_id]


async def invoice_state(pool: asyncpg.Pool, invoice_id: str) -> tuple[int, int, str]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT amount_cents, allocated_cents, status FROM matcher_invoices"
            " WHERE invoice_id = $1",
            invoice_id,
        )
    return row["amount_cents"], row["allocated_cents"], row["status"]
