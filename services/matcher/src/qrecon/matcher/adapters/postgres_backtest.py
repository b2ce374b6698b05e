"""The SQL of ``qonto-matcher backtest``: the history the matcher already holds (invoices,
transactions, reviewers' decisions), read once, for ``core.backtest``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from qrecon.common.schemas import Invoice, QontoTransaction
from qrecon.matcher.core.backtest import CONFIRM, MATCH, REJECT, Verdict


@dataclass(frozen=True, slots=True)
class History:
    invoices: list[Invoice]
    transactions: list[QontoTransaction]  # by transaction date
    verdicts: dict[str, Verdict]  # transaction id -> what reviewers said


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def organizations(conn: asyncpg.Connection | asyncpg.Pool) -> list[str]:
    """The organisations the matcher holds transactions of."""
    rows = await conn.fetch(
        "SELECT DISTINCT organization_id FROM matcher_transactions ORDER BY organization_id"
    )
    return [row["organization_id"] for row in rows]


async def load_history(conn: asyncpg.Connection | asyncpg.Pool, organization: str) -> History:
    """One organisation's invoices and transactions, and each transaction's latest review
    decision not undone (confirm, match by hand, reject) with every invoice rejected for
    it. Matching never crosses organisations, so neither does its back-test."""
    invoices = [
        Invoice.model_validate(_json(row["invoice"]))
        for row in await conn.fetch(
            "SELECT invoice FROM matcher_invoices WHERE organization_id = $1 ORDER BY invoice_id",
            organization,
        )
    ]
    transactions = [
        QontoTransaction.model_validate(_json(row["transaction"]))
        for row in await conn.fetch(
            "SELECT transaction FROM matcher_transactions WHERE organization_id = $1"
            " ORDER BY tx_date, transaction_id",
            organization,
        )
    ]
    latest = await conn.fetch(
        "SELECT DISTINCT ON (transaction_id) transaction_id, action, payload"
        " FROM matcher_decisions"
        " WHERE organization_id = $2 AND undone_at IS NULL AND action = ANY($1::text[])"
        " ORDER BY transaction_id, id DESC",
        [CONFIRM, MATCH, REJECT],
        organization,
    )
    rejected: dict[str, set[str]] = {}
    for row in await conn.fetch(
        "SELECT transaction_id, invoice_id FROM matcher_rejections WHERE organization_id = $1",
        organization,
    ):
        rejected.setdefault(row["transaction_id"], set()).add(row["invoice_id"])
    verdicts: dict[str, Verdict] = {}
    for row in latest:
        payload = _json(row["payload"]) or {}
        allocations = payload.get("allocations") or {}
        verdicts[row["transaction_id"]] = Verdict(
            action=row["action"],
            allocations={str(k): int(v) for k, v in dict(allocations).items()},
            rejected=frozenset(rejected.get(row["transaction_id"], ())),
        )
    return History(invoices, transactions, verdicts)
