"""Builders of invoices, transactions and their events for the matcher service tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from qrecon.common.schemas import (
    Invoice,
    InvoiceEvent,
    MatchResult,
    QontoTransaction,
    TransactionEvent,
)

# A fixed business day (re-examination looks back MATCHER_REEXAMINE_DAYS from the newest
# bank date held, not from today), on a whole minute.
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ISSUED = BASE.date() - timedelta(days=14)
# When an event was observed, unless a test says otherwise: an hour after the base, never
# the wall clock (a test does not depend on the day it runs).
OBSERVED = BASE + timedelta(hours=1)


def new_id() -> str:
    return str(uuid.uuid4())


def invoice(
    number: str,
    amount_cents: int,
    *,
    counterparty: str = "Client Dupont SAS",
    kind: str = "receivable",
    iban: str | None = None,
    status: str = "open",
    invoice_id: str | None = None,
    issue_date: date = ISSUED,
    **extra: Any,
) -> Invoice:
    return Invoice.model_validate(
        {
            "id": invoice_id or f"inv-{number}",
            "number": number,
            "kind": kind,
            "counterparty_name": counterparty,
            "counterparty_iban": iban,
            "amount_cents": amount_cents,
            "currency": "EUR",
            "issue_date": issue_date,
            "due_date": issue_date + timedelta(days=30),
            "status": status,
            **extra,
        }
    )


def invoice_event(inv: Invoice, *, at: datetime | None = None) -> InvoiceEvent:
    return InvoiceEvent(event_type="invoice.upsert", invoice=inv, observed_at=at or OBSERVED)


def cancel_event(invoice_id: str, *, at: datetime | None = None) -> InvoiceEvent:
    return InvoiceEvent(
        event_type="invoice.cancel", invoice_id=invoice_id, observed_at=at or OBSERVED
    )


def transaction(
    amount_cents: int,
    *,
    reference: str | None = None,
    counterparty: str = "CLIENT DUPONT SAS",
    side: str = "credit",
    status: str = "completed",
    tx_id: str | None = None,
    version: int = 0,
    iban: str | None = None,
    **extra: Any,
) -> QontoTransaction:
    """A Qonto transfer; ``version`` n gives ``updated_at`` n minutes after the base."""
    data: dict[str, Any] = {
        "id": tx_id or new_id(),
        "transaction_id": f"tx-{uuid.uuid4().hex[:8]}",
        "amount_cents": amount_cents,
        "currency": "EUR",
        "side": side,
        "operation_type": "transfer",
        "status": status,
        "label": counterparty,
        "clean_counterparty_name": counterparty,
        "reference": reference,
        "settled_at": BASE,
        "emitted_at": BASE,
        "updated_at": BASE + timedelta(minutes=version),
        "subject_type": "transfer",
        **extra,
    }
    if iban:
        data["transfer"] = {
            "counterparty_account_number": iban,
            "counterparty_account_number_format": "IBAN",
        }
    return QontoTransaction.model_validate(data)


def tx_event(tx: QontoTransaction, *, observed_at: datetime | None = None) -> TransactionEvent:
    return TransactionEvent(
        event_id=new_id(),
        source="webhook",
        transaction=tx,
        observed_at=observed_at or OBSERVED,
    )


def bump(tx: QontoTransaction, minutes: int = 1, **changes: Any) -> QontoTransaction:
    """A later version of ``tx`` (``updated_at`` moved), with ``changes``."""
    data = tx.model_dump(mode="json")
    data.update(changes)
    data["updated_at"] = (tx.updated_at + timedelta(minutes=minutes)).isoformat()
    return QontoTransaction.model_validate(data)


async def outbox_results(
    pool: asyncpg.Pool, transaction_id: str | None = None
) -> list[MatchResult]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT key, value FROM matcher_outbox ORDER BY id")
    results = [MatchResult.model_validate_json(bytes(r["value"])) for r in rows]
    if transaction_id is not None:
        results = [r for r in results if r.transaction_id == transaction_id]
    return results


async def invoice_state(pool: asyncpg.Pool, invoice_id: str) -> tuple[int, int, str]:
    """(amount, allocated, status) of an invoice in PostgreSQL."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT amount_cents, allocated_cents, status FROM matcher_invoices"
            " WHERE invoice_id = $1",
            invoice_id,
        )
    assert row is not None
    return row["amount_cents"], row["allocated_cents"], row["status"]


async def assert_allocations_consistent(pool: asyncpg.Pool) -> None:
    """The invariants, from PostgreSQL: no invoice allocated beyond its amount, the
    maintained sums equal the allocations, only auto_matched results hold allocations,
    and each transaction's result is its last recorded one."""
    async with pool.acquire() as conn:
        bad = await conn.fetch(
            """
            SELECT i.organization_id, i.invoice_id, i.amount_cents, i.allocated_cents,
                   COALESCE(SUM(a.amount_cents), 0) AS total
            FROM matcher_invoices i
            LEFT JOIN matcher_allocations a USING (organization_id, invoice_id)
            GROUP BY i.organization_id, i.invoice_id
            HAVING i.allocated_cents <> COALESCE(SUM(a.amount_cents), 0)
                OR COALESCE(SUM(a.amount_cents), 0)
                   NOT BETWEEN LEAST(0, i.amount_cents) AND GREATEST(0, i.amount_cents)
            """
        )
        assert not bad, [dict(r) for r in bad]
        holding = await conn.fetch(
            """
            SELECT t.transaction_id, t.result_status FROM matcher_transactions t
            WHERE EXISTS (SELECT 1 FROM matcher_allocations a
                          WHERE a.transaction_id = t.transaction_id
                            AND a.organization_id = t.organization_id)
              AND t.result_status <> 'auto_matched'
            """
        )
        assert not holding, [dict(r) for r in holding]
        mismatched = await conn.fetch(
            """
            SELECT t.transaction_id FROM matcher_transactions t
            JOIN matcher_results r ON r.transaction_id = t.transaction_id
                                  AND r.organization_id = t.organization_id
                                  AND r.seq = t.result_seq
            WHERE r.result <> t.result
            """
        )
        assert not mismatched
