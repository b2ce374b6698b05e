"""PostgreSQL state of qonto-sync (tables ``sync_*``, migrations in ``qrecon.sync.migrations``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from qrecon.common.db import apply_migrations, load_migrations
from qrecon.sync.adapters.leases import assert_held
from qrecon.sync.app.ports import AccountState, BackfillRow, Fence, PublishedVersion
from qrecon.sync.core.backfill import Backfill
from qrecon.sync.core.sweep import ALL_AT_ONCE, Sweep
from qrecon.sync.core.versions import ObservedVersion, classify_observed

COMPONENT = "sync"


def migrations() -> list[Any]:
    return load_migrations(COMPONENT, "qrecon.sync.migrations")


async def migrate(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        return await apply_migrations(conn, migrations())


# ---------------------------------------------------------------- (de)serialisation


def sweep_to_json(sweep: Sweep) -> dict[str, Any]:
    data = asdict(sweep)
    for key in ("start", "end", "cursor"):
        data[key] = data[key].isoformat()
    return data


def sweep_from_json(data: dict[str, Any]) -> Sweep:
    """A checkpointed sweep (one written before statuses were polled apart has no
    ``status``: it asked for every status at once)."""
    values = dict(data)
    for key in ("start", "end", "cursor"):
        values[key] = datetime.fromisoformat(values[key])
    return Sweep(**values)


def backfill_to_json(state: Backfill) -> dict[str, Any]:
    return {
        "since": state.since.isoformat(),
        "until": state.until.isoformat(),
        "window_seconds": state.window.total_seconds(),
        "sweep": sweep_to_json(state.sweep),
        "statuses": list(state.statuses),
    }


def backfill_from_json(data: dict[str, Any]) -> Backfill:
    return Backfill(
        since=datetime.fromisoformat(data["since"]),
        until=datetime.fromisoformat(data["until"]),
        window=timedelta(seconds=float(data["window_seconds"])),
        sweep=sweep_from_json(data["sweep"]),
        # A backfill started before statuses were polled apart asked for all at once.
        statuses=tuple(data.get("statuses") or (ALL_AT_ONCE,)),
    )


_UPSERT_SEEN = """
INSERT INTO sync_seen_versions AS s (transaction_id, updated_at, event_id, source, connection_id)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[])
ON CONFLICT (transaction_id) DO UPDATE
   SET updated_at = excluded.updated_at, event_id = excluded.event_id,
       source = excluded.source, connection_id = excluded.connection_id, recorded_at = now()
 WHERE excluded.updated_at > s.updated_at
RETURNING transaction_id
"""


def _newest_per_id(rows: Iterable[PublishedVersion]) -> list[PublishedVersion]:
    newest: dict[str, PublishedVersion] = {}
    for row in rows:
        have = newest.get(row.transaction_id)
        if have is None or row.updated_at > have.updated_at:
            newest[row.transaction_id] = row
    return list(newest.values())


class SyncStore:
    """Everything sync keeps in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # ------------------------------------------------------------ watermarks

    async def load_account(
        self, connection_id: str, bank_account_id: str, status: str
    ) -> AccountState:
        row = await self.pool.fetchrow(
            "SELECT watermark, sweep FROM sync_watermarks"
            " WHERE connection_id = $1 AND bank_account_id = $2 AND status = $3",
            connection_id,
            bank_account_id,
            status,
        )
        if row is None:
            return AccountState(None, None)
        sweep = sweep_from_json(row["sweep"]) if row["sweep"] is not None else None
        return AccountState(row["watermark"], sweep)

    async def list_accounts(self) -> list[tuple[str, str, str, datetime | None, Sweep | None]]:
        rows = await self.pool.fetch(
            "SELECT connection_id, bank_account_id, status, watermark, sweep FROM sync_watermarks"
            " ORDER BY connection_id, bank_account_id, status"
        )
        return [
            (
                r["connection_id"],
                r["bank_account_id"],
                r["status"],
                r["watermark"],
                sweep_from_json(r["sweep"]) if r["sweep"] is not None else None,
            )
            for r in rows
        ]

    async def commit_page(
        self,
        connection_id: str,
        bank_account_id: str,
        *,
        published: Sequence[PublishedVersion],
        sweep: Sweep,
        fence: Fence | None = None,
    ) -> int:
        """After a page's publishes are acknowledged: record them and checkpoint, atomically.

        A completed sweep moves the watermark to its end and clears the sweep. Returns how
        many of the published versions were already recorded meanwhile (by the seen
        consumer, from another event): sync's redundant publishes. With a ``fence``, the
        transaction first checks (and locks) the lease: ``LeaseLost`` and nothing written
        if this replica no longer owns the account.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            if fence is not None:
                await assert_held(conn, fence)
            redundant = await self._upsert_seen(conn, published, connection_id)
            await conn.execute(
                """
                INSERT INTO sync_watermarks AS w
                    (connection_id, bank_account_id, status, watermark, sweep, last_success_at)
                VALUES ($1, $2, $6, $3, $4, CASE WHEN $5 THEN now() END)
                ON CONFLICT (connection_id, bank_account_id, status) DO UPDATE
                   SET watermark = coalesce(excluded.watermark, w.watermark),
                       sweep = excluded.sweep,
                       last_success_at = coalesce(excluded.last_success_at, w.last_success_at),
                       last_error = NULL,
                       updated_at = now()
                """,
                connection_id,
                bank_account_id,
                sweep.end if sweep.done else None,
                None if sweep.done else sweep_to_json(sweep),
                sweep.done,
                sweep.status,
            )
        return redundant

    async def record_error(
        self, connection_id: str, bank_account_id: str, status: str, error: str
    ) -> None:
        await self.pool.execute(
            """
            INSERT INTO sync_watermarks (connection_id, bank_account_id, status, last_error)
            VALUES ($1, $2, $4, $3)
            ON CONFLICT (connection_id, bank_account_id, status) DO UPDATE
               SET last_error = excluded.last_error, updated_at = now()
            """,
            connection_id,
            bank_account_id,
            error[:2000],
            status,
        )

    # ------------------------------------------------------------ seen versions

    async def known_versions(self, transaction_ids: Sequence[str]) -> dict[str, datetime]:
        if not transaction_ids:
            return {}
        rows = await self.pool.fetch(
            "SELECT transaction_id, updated_at FROM sync_seen_versions"
            " WHERE transaction_id = ANY($1::text[])",
            list(set(transaction_ids)),
        )
        return {r["transaction_id"]: r["updated_at"] for r in rows}

    async def record_published(
        self, published: Sequence[PublishedVersion], connection_id: str | None = None
    ) -> int:
        async with self.pool.acquire() as conn:
            return await self._upsert_seen(conn, published, connection_id)

    @staticmethod
    async def _upsert_seen(
        conn: asyncpg.Connection, rows: Sequence[PublishedVersion], connection_id: str | None
    ) -> int:
        """Record versions (newest wins); returns how many were not newer than the record."""
        newest = _newest_per_id(rows)
        if not newest:
            return 0
        applied = await conn.fetch(
            _UPSERT_SEEN,
            [r.transaction_id for r in newest],
            [r.updated_at for r in newest],
            [r.event_id for r in newest],
            [r.source for r in newest],
            [connection_id] * len(newest),
        )
        return len(newest) - len(applied)

    async def record_observed(
        self, observed: Sequence[ObservedVersion]
    ) -> list[tuple[ObservedVersion, str]]:
        """Versions read back from the topic: record them, and say how each relates to
        what was known before (see ``classify_observed``)."""
        if not observed:
            return []
        ids = list({o.transaction_id for o in observed})
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT transaction_id, updated_at, event_id FROM sync_seen_versions"
                " WHERE transaction_id = ANY($1::text[])",
                ids,
            )
            stored: dict[str, tuple[datetime, str]] = {
                r["transaction_id"]: (r["updated_at"], r["event_id"]) for r in rows
            }
            outcome: list[tuple[ObservedVersion, str]] = []
            for item in observed:
                kind = classify_observed(item, stored.get(item.transaction_id))
                outcome.append((item, kind))
                if kind == "new":
                    stored[item.transaction_id] = (item.updated_at, item.event_id)
            await self._upsert_seen(
                conn,
                [
                    PublishedVersion(o.transaction_id, o.updated_at, o.event_id, o.source)
                    for o in observed
                ],
                None,
            )
        return outcome

    # ------------------------------------------------------------ backfills

    async def find_backfill(
        self,
        connection_id: str,
        bank_account_id: str,
        since: datetime,
        until_requested: datetime | None,
    ) -> BackfillRow | None:
        row = await self.pool.fetchrow(
            """
            SELECT id, state, done, published, skipped FROM sync_backfills
             WHERE connection_id = $1 AND bank_account_id = $2 AND since = $3
               AND coalesce(until_requested, 'infinity'::timestamptz)
                   = coalesce($4::timestamptz, 'infinity'::timestamptz)
            """,
            connection_id,
            bank_account_id,
            since,
            until_requested,
        )
        if row is None:
            return None
        return BackfillRow(
            row["id"],
            backfill_from_json(row["state"]),
            row["done"],
            row["published"],
            row["skipped"],
        )

    async def create_backfill(
        self,
        connection_id: str,
        bank_account_id: str,
        since: datetime,
        until_requested: datetime | None,
        state: Backfill,
    ) -> BackfillRow:
        row = await self.pool.fetchrow(
            """
            INSERT INTO sync_backfills
                (connection_id, bank_account_id, since, until_requested, state, done)
            VALUES ($1, $2, $3, $4, $5, $6)
            RETURNING id
            """,
            connection_id,
            bank_account_id,
            since,
            until_requested,
            backfill_to_json(state),
            state.done,
        )
        assert row is not None
        return BackfillRow(row["id"], state, state.done, 0, 0)

    async def reset_backfill(self, backfill_id: int, state: Backfill) -> None:
        await self.pool.execute(
            "UPDATE sync_backfills SET state = $2, done = $3, updated_at = now() WHERE id = $1",
            backfill_id,
            backfill_to_json(state),
            state.done,
        )

    async def commit_backfill_page(
        self,
        backfill_id: int,
        *,
        connection_id: str,
        published: Sequence[PublishedVersion],
        skipped: int,
        state: Backfill,
        fence: Fence | None = None,
    ) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            if fence is not None:
                await assert_held(conn, fence)
            redundant = await self._upsert_seen(conn, published, connection_id)
            await conn.execute(
                """
                UPDATE sync_backfills
                   SET state = $2, done = $3, published = published + $4,
                       skipped = skipped + $5, updated_at = now()
                 WHERE id = $1
                """,
                backfill_id,
                backfill_to_json(state),
                state.done,
                len(published),
                skipped,
            )
        return redundant

    # ------------------------------------------------------------ invoices

    async def invoice_hashes(self, invoice_ids: Sequence[str]) -> dict[str, str]:
        if not invoice_ids:
            return {}
        rows = await self.pool.fetch(
            "SELECT invoice_id, content_hash FROM sync_invoice_state"
            " WHERE invoice_id = ANY($1::text[])",
            list(set(invoice_ids)),
        )
        return {r["invoice_id"]: r["content_hash"] for r in rows}

    async def record_invoice(
        self,
        *,
        invoice_id: str,
        connection_id: str,
        qonto_kind: str,
        content_hash: str,
        event_id: str,
        event_type: str,
        fence: Fence | None = None,
    ) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if fence is not None:
                await assert_held(conn, fence)
            await conn.execute(
                """
            INSERT INTO sync_invoice_state
                (invoice_id, connection_id, qonto_kind, content_hash, event_id, event_type)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (invoice_id) DO UPDATE
               SET content_hash = excluded.content_hash, event_id = excluded.event_id,
                   event_type = excluded.event_type, connection_id = excluded.connection_id,
                   qonto_kind = excluded.qonto_kind, published_at = now()
            """,
                invoice_id,
                connection_id,
                qonto_kind,
                content_hash,
                event_id,
                event_type,
            )

    async def invoice_watermarks(self, connection_id: str) -> dict[str, datetime]:
        rows = await self.pool.fetch(
            "SELECT qonto_kind, watermark FROM sync_invoice_watermarks WHERE connection_id = $1",
            connection_id,
        )
        return {r["qonto_kind"]: r["watermark"] for r in rows}

    async def set_invoice_watermark(
        self,
        connection_id: str,
        qonto_kind: str,
        watermark: datetime,
        *,
        fence: Fence | None = None,
    ) -> None:
        """Moves forward only (a late replica's older pass cannot move it back)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if fence is not None:
                await assert_held(conn, fence)
            await conn.execute(
                """
            INSERT INTO sync_invoice_watermarks (connection_id, qonto_kind, watermark)
            VALUES ($1, $2, $3)
            ON CONFLICT (connection_id, qonto_kind) DO UPDATE
               SET watermark = greatest(sync_invoice_watermarks.watermark, excluded.watermark),
                   updated_at = now()
            """,
                connection_id,
                qonto_kind,
                watermark,
            )
