"""PostgreSQL repository of the matcher (the tables of ``migrations/0001``): implements
:class:`qrecon.matcher.app.ports.Repository`.

Every method runs on the connection it is given, inside the caller's transaction (see
:class:`qrecon.matcher.adapters.postgres_uow.PgUnitOfWork`). Locking discipline, which
keeps replicas free of deadlocks: first the transaction advisory locks (several: in key
order), then the invoice rows ``FOR UPDATE`` (in ``invoice_id`` order), never the other
way round.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from qrecon.common.schemas import MatchResult
from qrecon.matcher.adapters.postgres_knowledge import PgKnowledgeSql
from qrecon.matcher.app.ports import (
    InvoiceRecord,
    ResultRecord,
    ReviewRecord,
    SavedInvoice,
    SavedTransaction,
    TransactionRecord,
)

_INVOICE_COLUMNS = (
    "organization_id, invoice_id, invoice, kind, currency, amount_cents, allocated_cents, status,"
    " last_event_at, row_version, updated_at"
)
_TX_COLUMNS = (
    "transaction_id, version, transaction, result_status, result, result_seq, decided_by,"
    " needs_redecide, event_observed_at, candidate_invoice_ids"
)


def _invoice(row: asyncpg.Record) -> InvoiceRecord:
    return InvoiceRecord(
        invoice_id=row["invoice_id"],
        invoice=row["invoice"],
        kind=row["kind"],
        currency=row["currency"],
        amount_cents=row["amount_cents"],
        allocated_cents=row["allocated_cents"],
        status=row["status"],
        last_event_at=row["last_event_at"],
        row_version=row["row_version"],
        updated_at=row["updated_at"],
        organization_id=row["organization_id"],
    )


def _transaction(row: asyncpg.Record) -> TransactionRecord:
    return TransactionRecord(
        transaction_id=row["transaction_id"],
        version=row["version"],
        transaction=row["transaction"],
        result_status=row["result_status"],
        result=row["result"],
        result_seq=row["result_seq"],
        decided_by=row["decided_by"],
        needs_redecide=row["needs_redecide"],
        event_observed_at=row["event_observed_at"],
        candidate_invoice_ids=list(row["candidate_invoice_ids"] or ()),
    )


def _scope(organization: str | None, position: int) -> tuple[str, list[Any]]:
    """The WHERE clause of a read that spans organisations when unscoped."""
    if organization is None:
        return "", []
    return f"organization_id = ${position}", [organization]


def _json(model: MatchResult) -> Any:
    return json.loads(model.model_dump_json())


class PgRepository(PgKnowledgeSql):
    """SQL of the matcher, on one connection (knowledge and decisions: ``PgKnowledgeSql``).

    Scoped to one organisation: every read and write names it (``organization``). Without
    one (``None``), only the reads that span organisations work: the cache's loads
    (invoices, knowledge) and the sweep's list; anything else raises.
    """

    def __init__(self, conn: asyncpg.Connection, organization: str | None = None) -> None:
        self.conn = conn
        self.organization = organization

    # ------------------------------------------------------------------ locks
    async def lock_transactions(self, transaction_ids: Iterable[str]) -> None:
        """Serialise every writer of these transactions until the end of the transaction.

        An advisory lock works before the row exists (first version), across replicas.
        """
        keys = sorted(set(transaction_ids))
        for key in keys:
            await self.conn.execute(
                "SELECT pg_advisory_xact_lock("
                "hashtextextended('matcher_tx:' || $1 || ':' || $2, 0))",
                self.org,
                key,
            )

    async def lock_invoices(self, invoice_ids: Iterable[str]) -> dict[str, InvoiceRecord]:
        ids = sorted(set(invoice_ids))
        if not ids:
            return {}
        rows = await self.conn.fetch(
            f"SELECT {_INVOICE_COLUMNS} FROM matcher_invoices"  # noqa: S608 - constant columns
            " WHERE organization_id = $2 AND invoice_id = ANY($1::text[])"
            " ORDER BY invoice_id FOR UPDATE",
            ids,
            self.org,
        )
        return {row["invoice_id"]: _invoice(row) for row in rows}

    # ------------------------------------------------------------------ transactions
    async def get_transaction(self, transaction_id: str) -> TransactionRecord | None:
        row = await self.conn.fetchrow(
            f"SELECT {_TX_COLUMNS} FROM matcher_transactions"  # noqa: S608
            " WHERE organization_id = $2 AND transaction_id = $1",
            transaction_id,
            self.org,
        )
        return None if row is None else _transaction(row)

    async def save_transaction(self, saved: SavedTransaction) -> None:
        await self.conn.execute(
            """
            INSERT INTO matcher_transactions (
                transaction_id, version, transaction, side, currency, amount_cents,
                qonto_status, tx_date, event_id, event_observed_at, result_status, result,
                result_seq, decided_by, candidate_invoice_ids, needs_redecide, organization_id
            ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, false, $16)
            ON CONFLICT (organization_id, transaction_id) DO UPDATE SET
                version = EXCLUDED.version, transaction = EXCLUDED.transaction,
                side = EXCLUDED.side, currency = EXCLUDED.currency,
                amount_cents = EXCLUDED.amount_cents, qonto_status = EXCLUDED.qonto_status,
                tx_date = EXCLUDED.tx_date,
                event_id = COALESCE(EXCLUDED.event_id, matcher_transactions.event_id),
                event_observed_at = COALESCE(
                    EXCLUDED.event_observed_at, matcher_transactions.event_observed_at),
                result_status = EXCLUDED.result_status, result = EXCLUDED.result,
                result_seq = EXCLUDED.result_seq, decided_by = EXCLUDED.decided_by,
                candidate_invoice_ids = EXCLUDED.candidate_invoice_ids,
                needs_redecide = false, updated_at = clock_timestamp()
            """,
            saved.transaction_id,
            saved.version,
            saved.transaction,
            saved.side,
            saved.currency,
            saved.amount_cents,
            saved.qonto_status,
            saved.tx_date,
            saved.event_id,
            saved.event_observed_at,
            saved.result.status,
            _json(saved.result),
            saved.result_seq,
            saved.decided_by,
            list(saved.candidate_invoice_ids),
            self.org,
        )

    async def flag_redecide(self, transaction_ids: Iterable[str]) -> None:
        await self.conn.execute(
            "UPDATE matcher_transactions SET needs_redecide = true, updated_at = clock_timestamp()"
            " WHERE organization_id = $2 AND transaction_id = ANY($1::text[])",
            sorted(set(transaction_ids)),
            self.org,
        )

    async def clear_redecide(self, transaction_id: str) -> None:
        await self.conn.execute(
            "UPDATE matcher_transactions SET needs_redecide = false"
            " WHERE organization_id = $2 AND transaction_id = $1",
            transaction_id,
            self.org,
        )

    async def transactions_to_redecide(self, limit: int) -> list[tuple[str, str]]:
        """``(organization, transaction)`` pairs flagged (of every organisation if unscoped)."""
        if self.organization is None:
            rows = await self.conn.fetch(
                "SELECT organization_id, transaction_id FROM matcher_transactions"
                " WHERE needs_redecide ORDER BY organization_id, transaction_id LIMIT $1",
                limit,
            )
        else:
            rows = await self.conn.fetch(
                "SELECT organization_id, transaction_id FROM matcher_transactions"
                " WHERE needs_redecide AND organization_id = $2 ORDER BY transaction_id LIMIT $1",
                limit,
                self.organization,
            )
        return [(row["organization_id"], row["transaction_id"]) for row in rows]

    async def transactions_suggesting(self, invoice_id: str) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT transaction_id FROM matcher_transactions"
            " WHERE candidate_invoice_ids @> ARRAY[$1::text] AND result_status = 'suggested'"
            " AND organization_id = $2 ORDER BY transaction_id",
            invoice_id,
            self.org,
        )
        return [row["transaction_id"] for row in rows]

    async def latest_transaction_date(self) -> datetime | None:
        """The newest bank date held (``matcher_transactions_tx_date_idx``, migration 0003)."""
        value = await self.conn.fetchval(
            "SELECT max(tx_date) FROM matcher_transactions WHERE organization_id = $1", self.org
        )
        return value if isinstance(value, datetime) else None

    async def reexamine_candidates(
        self, currencies: Sequence[str], since: datetime, limit: int
    ) -> list[TransactionRecord]:
        rows = await self.conn.fetch(
            f"SELECT {_TX_COLUMNS} FROM matcher_transactions"  # noqa: S608 - constant columns
            " WHERE result_status IN ('unmatched', 'suggested') AND tx_date >= $1"
            " AND currency = ANY($2::text[]) AND qonto_status <> 'declined'"
            " AND organization_id = $4"
            " ORDER BY tx_date DESC, transaction_id DESC LIMIT $3",
            since,
            list(currencies),
            limit,
            self.org,
        )
        return [_transaction(row) for row in rows]

    async def list_for_review(
        self, status: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[ReviewRecord]:
        if after is None:
            rows = await self.conn.fetch(
                "SELECT transaction_id, tx_date, transaction, result, result_seq"
                " FROM matcher_transactions WHERE organization_id = $3 AND result_status = $1"
                " ORDER BY tx_date DESC, transaction_id DESC LIMIT $2",
                status,
                limit,
                self.org,
            )
        else:
            rows = await self.conn.fetch(
                "SELECT transaction_id, tx_date, transaction, result, result_seq"
                " FROM matcher_transactions WHERE organization_id = $5 AND result_status = $1"
                " AND (tx_date, transaction_id) < ($3, $4)"
                " ORDER BY tx_date DESC, transaction_id DESC LIMIT $2",
                status,
                limit,
                after[0],
                after[1],
                self.org,
            )
        return [
            ReviewRecord(
                transaction_id=row["transaction_id"],
                tx_date=row["tx_date"],
                transaction=row["transaction"],
                result=row["result"],
                result_seq=row["result_seq"],
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ allocations
    async def allocations_of(self, transaction_id: str) -> dict[str, int]:
        rows = await self.conn.fetch(
            "SELECT invoice_id, amount_cents FROM matcher_allocations"
            " WHERE organization_id = $2 AND transaction_id = $1 ORDER BY invoice_id",
            transaction_id,
            self.org,
        )
        return {row["invoice_id"]: row["amount_cents"] for row in rows}

    async def allocations_of_many(
        self, transaction_ids: Iterable[str]
    ) -> dict[str, dict[str, int]]:
        rows = await self.conn.fetch(
            "SELECT transaction_id, invoice_id, amount_cents FROM matcher_allocations"
            " WHERE organization_id = $2 AND transaction_id = ANY($1::text[])",
            sorted(set(transaction_ids)),
            self.org,
        )
        found: dict[str, dict[str, int]] = {}
        for row in rows:
            found.setdefault(row["transaction_id"], {})[row["invoice_id"]] = row["amount_cents"]
        return found

    async def transactions_allocated_to(self, invoice_id: str) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT transaction_id FROM matcher_allocations"
            " WHERE organization_id = $2 AND invoice_id = $1 ORDER BY transaction_id",
            invoice_id,
            self.org,
        )
        return [row["transaction_id"] for row in rows]

    async def delete_allocations(self, transaction_ids: Iterable[str]) -> None:
        """Release (the trigger gives the amounts back to the invoices)."""
        await self.conn.execute(
            "DELETE FROM matcher_allocations"
            " WHERE organization_id = $2 AND transaction_id = ANY($1::text[])",
            sorted(set(transaction_ids)),
            self.org,
        )

    async def insert_allocations(self, transaction_id: str, allocations: dict[str, int]) -> None:
        """Allocate (the trigger takes the amounts from the invoices, under their CHECK)."""
        if not allocations:
            return
        ids = sorted(allocations)
        await self.conn.execute(
            "INSERT INTO matcher_allocations"
            " (organization_id, transaction_id, invoice_id, amount_cents)"
            " SELECT $4, $1, a.invoice_id, a.amount FROM unnest($2::text[], $3::bigint[])"
            " AS a(invoice_id, amount)",
            transaction_id,
            ids,
            [allocations[i] for i in ids],
            self.org,
        )

    # ------------------------------------------------------------------ results
    async def record_result(
        self, result: MatchResult, *, seq: int, cause: str, event_id: str
    ) -> None:
        """The audit row of a result (``matcher_results``); publishing it is the outbox's
        (:class:`qrecon.matcher.adapters.postgres_uow.PgResultPublisher`)."""
        await self.conn.execute(
            "INSERT INTO matcher_results"
            " (transaction_id, seq, version, status, cause, result, event_id, organization_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            result.transaction_id,
            seq,
            result.transaction_version,
            result.status,
            cause,
            _json(result),
            event_id,
            self.org,
        )

    async def results_of(self, transaction_id: str) -> list[ResultRecord]:
        rows = await self.conn.fetch(
            "SELECT seq, cause, event_id, created_at, result FROM matcher_results"
            " WHERE organization_id = $2 AND transaction_id = $1 ORDER BY seq",
            transaction_id,
            self.org,
        )
        return [
            ResultRecord(
                seq=row["seq"],
                cause=row["cause"],
                event_id=row["event_id"],
                recorded_at=row["created_at"],
                result=row["result"],
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ invoices
    async def get_invoice(self, invoice_id: str) -> InvoiceRecord | None:
        row = await self.conn.fetchrow(
            f"SELECT {_INVOICE_COLUMNS} FROM matcher_invoices"  # noqa: S608
            " WHERE organization_id = $2 AND invoice_id = $1",
            invoice_id,
            self.org,
        )
        return None if row is None else _invoice(row)

    async def get_invoices(self, invoice_ids: Iterable[str]) -> list[InvoiceRecord]:
        rows = await self.conn.fetch(
            f"SELECT {_INVOICE_COLUMNS} FROM matcher_invoices"  # noqa: S608
            " WHERE organization_id = $2 AND invoice_id = ANY($1::text[])",
            sorted(set(invoice_ids)),
            self.org,
        )
        return [_invoice(row) for row in rows]

    async def save_invoice(self, saved: SavedInvoice) -> None:
        await self.conn.execute(
            """
            INSERT INTO matcher_invoices (invoice_id, invoice, kind, currency, amount_cents,
                                          status, last_event_id, last_event_at, organization_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (organization_id, invoice_id) DO UPDATE SET
                invoice = EXCLUDED.invoice, kind = EXCLUDED.kind, currency = EXCLUDED.currency,
                amount_cents = EXCLUDED.amount_cents, status = EXCLUDED.status,
                last_event_id = EXCLUDED.last_event_id, last_event_at = EXCLUDED.last_event_at
            """,
            saved.invoice_id,
            saved.invoice,
            saved.kind,
            saved.currency,
            saved.amount_cents,
            saved.status,
            saved.event_id,
            saved.event_at,
            self.org,
        )

    async def invoices_changed_since(self, since: datetime | None) -> list[InvoiceRecord]:
        """Of this organisation, or of every organisation when unscoped (the cache)."""
        where, args = _scope(self.organization, 1)
        if since is not None:
            where = f"{where} AND updated_at >= ${len(args) + 1}" if where else "updated_at >= $1"
            args.append(since)
        rows = await self.conn.fetch(
            f"SELECT {_INVOICE_COLUMNS} FROM matcher_invoices"  # noqa: S608
            + (f" WHERE {where}" if where else ""),
            *args,
        )
        return [_invoice(row) for row in rows]

    async def clock(self) -> datetime:
        value: datetime = await self.conn.fetchval("SELECT clock_timestamp()")
        return value
