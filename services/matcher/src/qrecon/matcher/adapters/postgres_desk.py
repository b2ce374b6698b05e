"""The review desk's store on PostgreSQL (:class:`qrecon.matcher.app.desk_ports.DeskStore`).

Organisations: every read of the matcher's tables is built here, with the session's
organisation as ``org``; :meth:`PgDeskStore._org_clause` is the one place that narrows
them (``organization_id = org``), and each query of the queue, the line page and the
invoice search includes it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time
from typing import Any

import asyncpg

from qrecon.matcher.app.desk_ports import (
    BulkRecord,
    InvoiceHit,
    Membership,
    Person,
    QueueCounts,
    QueueFilter,
    QueueRow,
    SessionRecord,
)

_WORD = re.compile(r"\w+", re.UNICODE)
_SEARCH = (
    "to_tsvector('simple', coalesce(t.transaction ->> 'label', '') || ' ' ||"
    " coalesce(t.transaction ->> 'reference', '') || ' ' ||"
    " coalesce(t.transaction ->> 'clean_counterparty_name', ''))"
)
# The expression matcher_desk_invoices_search_idx indexes (trigrams).
_INVOICE_TEXT = (
    "(coalesce(i.invoice ->> 'number', '') || ' ' ||"
    " coalesce(i.invoice ->> 'counterparty_name', ''))"
)
_CONFIDENCE = "coalesce((t.result ->> 'confidence')::float8, 0)"
_SORTS = {
    "amount": "abs(t.amount_cents) DESC, t.tx_date ASC, t.transaction_id",
    "age": "t.tx_date ASC, t.transaction_id",
    "confidence": f"{_CONFIDENCE} DESC, abs(t.amount_cents) DESC, t.transaction_id",
}
_ROW = (
    "SELECT t.transaction_id, t.tx_date, t.side, t.amount_cents, t.currency, t.result_status,"
    " t.result_seq, t.transaction ->> 'label' AS label,"
    " t.transaction ->> 'reference' AS reference,"
    " t.transaction ->> 'clean_counterparty_name' AS counterparty,"
    " coalesce((t.result ->> 'confidence')::float8, 0) AS confidence"
    " FROM matcher_transactions t"
)


def prefix_query(text: str) -> str | None:
    """A tsquery matching every word of ``text`` as a prefix (``dupont:* & 42:*``); only
    word characters reach it, so no input can break the query's syntax."""
    words = _WORD.findall(text.lower())[:8]
    return " & ".join(f"{w}:*" for w in words) or None


class _Where:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list[Any] = []

    def add(self, sql: str, *values: Any) -> None:
        for value in values:
            self.args.append(value)
            sql = sql.replace("?", f"${len(self.args)}", 1)
        self.parts.append(sql)

    @property
    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "TRUE"


def _person(row: asyncpg.Record) -> Person:
    return Person(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        password_hash=row["password_hash"],
        disabled=row["disabled"],
        failed_logins=row["failed_logins"],
        locked_until=row["locked_until"],
    )


def _queue_row(row: asyncpg.Record) -> QueueRow:
    return QueueRow(
        transaction_id=row["transaction_id"],
        tx_date=row["tx_date"],
        side=row["side"],
        amount_cents=row["amount_cents"],
        currency=row["currency"],
        label=row["label"],
        counterparty=row["counterparty"],
        reference=row["reference"],
        status=row["result_status"],
        confidence=float(row["confidence"]),
        result_seq=row["result_seq"],
    )


def _invoice_hit(row: asyncpg.Record) -> InvoiceHit:
    inv = row["invoice"]
    return InvoiceHit(
        invoice_id=row["invoice_id"],
        number=str(inv.get("number") or ""),
        counterparty=str(inv.get("counterparty_name") or ""),
        kind=row["kind"],
        currency=row["currency"],
        amount_cents=row["amount_cents"],
        residual_cents=row["amount_cents"] - row["allocated_cents"],
        issue_date=inv.get("issue_date"),
        due_date=inv.get("due_date"),
    )


class PgDeskStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    def _org_clause(self, where: _Where, org: str, alias: str) -> None:
        """Narrow ``alias`` (a matcher table) to ``org``: every desk read goes through
        here, so another organisation's lines and invoices do not exist for the desk."""
        where.add(f"{alias}.organization_id = ?", org)

    # ------------------------------------------------------------------ people
    async def create_person(
        self, email: str, name: str, password_hash: str, memberships: list[Membership]
    ) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            person_id: int = await conn.fetchval(
                "INSERT INTO matcher_desk_people (email, name, password_hash)"
                " VALUES ($1, $2, $3) RETURNING id",
                email,
                name,
                password_hash,
            )
            await conn.executemany(
                "INSERT INTO matcher_desk_memberships (person_id, organization_id, role)"
                " VALUES ($1, $2, $3)",
                [(person_id, m.organization_id, m.role) for m in memberships],
            )
        return person_id

    async def person_by_email(self, email: str) -> Person | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM matcher_desk_people WHERE lower(email) = lower($1)", email
        )
        return _person(row) if row else None

    async def people(self) -> list[tuple[Person, list[Membership]]]:
        rows = await self.pool.fetch("SELECT * FROM matcher_desk_people ORDER BY id")
        return [(_person(r), await self.memberships(r["id"])) for r in rows]

    async def memberships(self, person_id: int) -> list[Membership]:
        rows = await self.pool.fetch(
            "SELECT organization_id, role FROM matcher_desk_memberships WHERE person_id = $1"
            " ORDER BY organization_id",
            person_id,
        )
        return [Membership(organization_id=r["organization_id"], role=r["role"]) for r in rows]

    async def set_disabled(self, email: str, disabled: bool) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            person_id = await conn.fetchval(
                "UPDATE matcher_desk_people SET disabled = $2 WHERE lower(email) = lower($1)"
                " RETURNING id",
                email,
                disabled,
            )
            if person_id is not None and disabled:
                await conn.execute(
                    "DELETE FROM matcher_desk_sessions WHERE person_id = $1", person_id
                )
        return person_id is not None

    async def failed_login(
        self, person_id: int, *, lock_after: int, locked_until: datetime
    ) -> None:
        await self.pool.execute(
            "UPDATE matcher_desk_people SET failed_logins = failed_logins + 1,"
            " locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END"
            " WHERE id = $1",
            person_id,
            lock_after,
            locked_until,
        )

    async def successful_login(self, person_id: int, password_hash: str | None) -> None:
        await self.pool.execute(
            "UPDATE matcher_desk_people SET failed_logins = 0, locked_until = NULL,"
            " password_hash = coalesce($2, password_hash) WHERE id = $1",
            person_id,
            password_hash,
        )

    # ------------------------------------------------------------------ sessions
    async def create_session(
        self,
        token_hash: str,
        person_id: int,
        organization_id: str,
        csrf_token: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.pool.execute(
            "INSERT INTO matcher_desk_sessions (token_hash, person_id, organization_id,"
            " csrf_token, created_at, last_seen_at, expires_at) VALUES ($1,$2,$3,$4,$5,$5,$6)",
            token_hash,
            person_id,
            organization_id,
            csrf_token,
            now,
            expires_at,
        )

    async def session(self, token_hash: str) -> SessionRecord | None:
        row = await self.pool.fetchrow(
            "SELECT s.*, p.name, m.role FROM matcher_desk_sessions s"
            " JOIN matcher_desk_people p ON p.id = s.person_id AND NOT p.disabled"
            " JOIN matcher_desk_memberships m ON m.person_id = s.person_id"
            " AND m.organization_id = s.organization_id WHERE s.token_hash = $1",
            token_hash,
        )
        if row is None:
            return None
        return SessionRecord(
            token_hash=row["token_hash"],
            person_id=row["person_id"],
            person_name=row["name"],
            organization_id=row["organization_id"],
            role=row["role"],
            csrf_token=row["csrf_token"],
            expires_at=row["expires_at"],
            last_seen_at=row["last_seen_at"],
            memberships=tuple(await self.memberships(row["person_id"])),
        )

    async def touch_session(self, token_hash: str, now: datetime, expires_at: datetime) -> None:
        await self.pool.execute(
            "UPDATE matcher_desk_sessions SET last_seen_at = $2, expires_at = $3"
            " WHERE token_hash = $1",
            token_hash,
            now,
            expires_at,
        )

    async def switch_session(self, token_hash: str, organization_id: str) -> None:
        await self.pool.execute(
            "UPDATE matcher_desk_sessions SET organization_id = $2 WHERE token_hash = $1",
            token_hash,
            organization_id,
        )

    async def delete_session(self, token_hash: str) -> None:
        await self.pool.execute(
            "DELETE FROM matcher_desk_sessions WHERE token_hash = $1", token_hash
        )

    # ------------------------------------------------------------------ queue
    def _queue_where(self, org: str, flt: QueueFilter, *, with_status: bool) -> _Where:
        w = _Where()
        self._org_clause(w, org, "t")
        if with_status and flt.status != "all":
            w.add("t.result_status = ?", flt.status)
        else:
            w.add("t.result_status IN ('suggested', 'unmatched')")
        if flt.side:
            w.add("t.side = ?", flt.side)
        if flt.date_from:
            w.add("t.tx_date >= ?", datetime.combine(flt.date_from, time(), UTC))
        if flt.date_to:
            w.add(
                "t.tx_date < ?::timestamptz + interval '1 day'",
                datetime.combine(flt.date_to, time(), UTC),
            )
        if flt.amount_min_cents is not None:
            w.add("abs(t.amount_cents) >= ?", flt.amount_min_cents)
        if flt.amount_max_cents is not None:
            w.add("abs(t.amount_cents) <= ?", flt.amount_max_cents)
        if flt.counterparty:
            w.add(
                "t.transaction ->> 'clean_counterparty_name' ILIKE ?",
                "%" + _like(flt.counterparty) + "%",
            )
        if flt.confidence_min is not None:
            w.add(f"{_CONFIDENCE} >= ?", flt.confidence_min)
        query = prefix_query(flt.text) if flt.text else None
        if query:
            w.add(f"{_SEARCH} @@ to_tsquery('simple', ?)", query)
        return w

    async def queue(self, org: str, flt: QueueFilter) -> list[QueueRow]:
        w = self._queue_where(org, flt, with_status=True)
        w.args += [flt.limit, flt.offset]
        n = len(w.args)
        rows = await self.pool.fetch(
            f"{_ROW} WHERE {w.sql} ORDER BY {_SORTS[flt.sort]} LIMIT ${n - 1} OFFSET ${n}",
            *w.args,
        )
        return [_queue_row(r) for r in rows]

    async def counts(self, org: str, flt: QueueFilter) -> QueueCounts:
        w = self._queue_where(org, flt, with_status=False)
        rows = await self.pool.fetch(
            f"SELECT t.result_status, count(*) AS n FROM matcher_transactions t"  # noqa: S608
            f" WHERE {w.sql} GROUP BY t.result_status",
            *w.args,
        )
        by = {r["result_status"]: r["n"] for r in rows}
        return QueueCounts(suggested=by.get("suggested", 0), unmatched=by.get("unmatched", 0))

    async def owns_transaction(self, org: str, transaction_id: str) -> bool:
        return await self.transaction_seq(org, transaction_id) is not None

    async def transaction_seq(self, org: str, transaction_id: str) -> int | None:
        w = _Where()
        w.add("t.transaction_id = ?", transaction_id)
        self._org_clause(w, org, "t")
        seq: int | None = await self.pool.fetchval(
            f"SELECT t.result_seq FROM matcher_transactions t WHERE {w.sql}",  # noqa: S608
            *w.args,
        )
        return seq

    async def invoices(self, org: str, invoice_ids: list[str]) -> dict[str, InvoiceHit]:
        if not invoice_ids:
            return {}
        w = _Where()
        w.add("i.invoice_id = ANY(?::text[])", invoice_ids)
        self._org_clause(w, org, "i")
        rows = await self.pool.fetch(
            f"SELECT i.* FROM matcher_invoices i WHERE {w.sql}",  # noqa: S608
            *w.args,
        )
        return {r["invoice_id"]: _invoice_hit(r) for r in rows}

    async def search_invoices(
        self, org: str, text: str | None, amount_cents: int | None, limit: int
    ) -> list[InvoiceHit]:
        w = _Where()
        w.add("i.status = 'open' AND i.allocated_cents <> i.amount_cents")
        self._org_clause(w, org, "i")
        if amount_cents is not None:
            w.add(
                "(i.amount_cents = ? OR i.amount_cents - i.allocated_cents = ?)",
                amount_cents,
                amount_cents,
            )
        if text:
            pattern = "%" + _like(text) + "%"
            w.add(f"{_INVOICE_TEXT} ILIKE ?", pattern)
        w.args.append(limit)
        rows = await self.pool.fetch(
            f"SELECT i.* FROM matcher_invoices i WHERE {w.sql}"  # noqa: S608
            f" ORDER BY i.invoice ->> 'issue_date' DESC, i.invoice_id LIMIT ${len(w.args)}",
            *w.args,
        )
        return [_invoice_hit(r) for r in rows]

    async def suggestions_above(
        self, org: str, min_confidence: float, limit: int
    ) -> list[QueueRow]:
        flt = QueueFilter(
            status="suggested", confidence_min=min_confidence, sort="confidence", limit=limit
        )
        return await self.queue(org, flt)

    # ------------------------------------------------------------------ bulk
    async def record_bulk(
        self, org: str, actor: str, min_confidence: float, items: dict[str, int]
    ) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            bulk_id: int = await conn.fetchval(
                "INSERT INTO matcher_desk_bulks (organization_id, actor, min_confidence)"
                " VALUES ($1, $2, $3) RETURNING id",
                org,
                actor,
                min_confidence,
            )
            await conn.executemany(
                "INSERT INTO matcher_desk_bulk_items (bulk_id, transaction_id, result_seq)"
                " VALUES ($1, $2, $3)",
                [(bulk_id, tx, seq) for tx, seq in items.items()],
            )
        return bulk_id

    async def bulk(self, org: str, bulk_id: int) -> BulkRecord | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM matcher_desk_bulks WHERE id = $1 AND organization_id = $2",
            bulk_id,
            org,
        )
        if row is None:
            return None
        items = await self.pool.fetch(
            "SELECT transaction_id, result_seq FROM matcher_desk_bulk_items WHERE bulk_id = $1",
            bulk_id,
        )
        return BulkRecord(
            id=row["id"],
            actor=row["actor"],
            min_confidence=row["min_confidence"],
            created_at=row["created_at"],
            undone_at=row["undone_at"],
            items={r["transaction_id"]: r["result_seq"] for r in items},
        )

    async def mark_bulk_undone(self, org: str, bulk_id: int) -> bool:
        done = await self.pool.fetchval(
            "UPDATE matcher_desk_bulks SET undone_at = now()"
            " WHERE id = $1 AND organization_id = $2 AND undone_at IS NULL RETURNING id",
            bulk_id,
            org,
        )
        return done is not None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def dumps(value: Any) -> str:
    return json.dumps(value)
