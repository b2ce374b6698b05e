"""The SQL of what reviews teach and record: aliases, rejected pairs, the knowledge epoch,
review decisions (``matcher_aliases``, ``matcher_rejections``, ``matcher_knowledge_epoch``,
``matcher_decisions``). Part of :class:`qrecon.matcher.adapters.postgres.PgRepository`."""

from __future__ import annotations

from typing import Any

import asyncpg

from qrecon.matcher.app.ports import AliasRecord, DecisionRecord, RejectionRecord


class PgKnowledgeSql:
    """Knowledge and review decisions, on one connection."""

    conn: asyncpg.Connection
    organization: str | None

    @property
    def org(self) -> str:
        """The organisation this repository is scoped to (a write needs one)."""
        if self.organization is None:
            raise RuntimeError("this repository is not scoped to an organisation")
        return self.organization

    # ------------------------------------------------------------------ knowledge
    async def knowledge_epoch(self) -> int:
        return int(await self.conn.fetchval("SELECT epoch FROM matcher_knowledge_epoch"))

    async def bump_knowledge_epoch(self) -> None:
        await self.conn.execute("UPDATE matcher_knowledge_epoch SET epoch = epoch + 1")

    async def aliases_after(self, after_id: int) -> list[AliasRecord]:
        """Of this organisation, or of every organisation when unscoped (the cache)."""
        rows = await self.conn.fetch(
            "SELECT id, observed_counterparty, observed_iban, invoice_counterparty_name,"
            " organization_id FROM matcher_aliases"
            " WHERE id > $1 AND ($2::text IS NULL OR organization_id = $2) ORDER BY id",
            after_id,
            self.organization,
        )
        return [
            AliasRecord(
                row["id"],
                row["observed_counterparty"],
                row["observed_iban"],
                row["invoice_counterparty_name"],
                row["organization_id"],
            )
            for row in rows
        ]

    async def rejections_after(self, after_id: int) -> list[RejectionRecord]:
        rows = await self.conn.fetch(
            "SELECT id, transaction_id, invoice_id, organization_id FROM matcher_rejections"
            " WHERE id > $1 AND ($2::text IS NULL OR organization_id = $2) ORDER BY id",
            after_id,
            self.organization,
        )
        return [
            RejectionRecord(
                row["id"], row["transaction_id"], row["invoice_id"], row["organization_id"]
            )
            for row in rows
        ]

    async def rejections_of(self, transaction_id: str) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT invoice_id FROM matcher_rejections"
            " WHERE organization_id = $2 AND transaction_id = $1",
            transaction_id,
            self.org,
        )
        return [row["invoice_id"] for row in rows]

    async def add_alias(
        self, observed_counterparty: str, observed_iban: str, invoice_name: str, decision_id: int
    ) -> int | None:
        value: int | None = await self.conn.fetchval(
            "INSERT INTO matcher_aliases"
            " (observed_counterparty, observed_iban, invoice_counterparty_name, decision_id,"
            " organization_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
            observed_counterparty,
            observed_iban,
            invoice_name,
            decision_id,
            self.org,
        )
        return value

    async def add_rejections(
        self, transaction_id: str, invoice_ids: list[str], decision_id: int
    ) -> list[str]:
        """Record the rejected pairs in one statement; the ids newly rejected, in order."""
        rows = await self.conn.fetch(
            "INSERT INTO matcher_rejections"
            " (transaction_id, invoice_id, decision_id, organization_id)"
            " SELECT $1, invoice_id, $3, $4 FROM unnest($2::text[]) AS invoice_id"
            " ON CONFLICT DO NOTHING RETURNING invoice_id",
            transaction_id,
            invoice_ids,
            decision_id,
            self.org,
        )
        added = {row["invoice_id"] for row in rows}
        return [invoice_id for invoice_id in invoice_ids if invoice_id in added]

    async def forget_decision(self, decision_id: int) -> tuple[int, int]:
        """Remove what a decision taught (its aliases, its rejections)."""
        aliases = await self.conn.execute(
            "DELETE FROM matcher_aliases WHERE decision_id = $1", decision_id
        )
        rejections = await self.conn.execute(
            "DELETE FROM matcher_rejections WHERE decision_id = $1", decision_id
        )
        return int(aliases.split()[-1]), int(rejections.split()[-1])

    # ------------------------------------------------------------------ decisions
    async def insert_decision(
        self, transaction_id: str, action: str, payload: dict[str, Any], actor: str | None
    ) -> int:
        value: int = await self.conn.fetchval(
            "INSERT INTO matcher_decisions"
            " (transaction_id, action, payload, actor, organization_id)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            transaction_id,
            action,
            payload,
            actor,
            self.org,
        )
        return value

    async def update_decision_payload(self, decision_id: int, payload: dict[str, Any]) -> None:
        await self.conn.execute(
            "UPDATE matcher_decisions SET payload = $2 WHERE id = $1", decision_id, payload
        )

    async def last_undoable_decision(self, transaction_id: str) -> DecisionRecord | None:
        row = await self.conn.fetchrow(
            "SELECT id, transaction_id, action, payload, actor, created_at, undone_at"
            " FROM matcher_decisions WHERE organization_id = $2 AND transaction_id = $1"
            " AND undone_at IS NULL AND action IN ('confirm', 'reject', 'match')"
            " ORDER BY id DESC LIMIT 1",
            transaction_id,
            self.org,
        )
        return None if row is None else _decision(row)

    async def mark_undone(self, decision_id: int) -> None:
        await self.conn.execute(
            "UPDATE matcher_decisions SET undone_at = now() WHERE id = $1", decision_id
        )

    async def decisions_of(self, transaction_id: str) -> list[DecisionRecord]:
        rows = await self.conn.fetch(
            "SELECT id, transaction_id, action, payload, actor, created_at, undone_at"
            " FROM matcher_decisions WHERE organization_id = $2 AND transaction_id = $1"
            " ORDER BY id",
            transaction_id,
            self.org,
        )
        return [_decision(row) for row in rows]


def _decision(row: asyncpg.Record) -> DecisionRecord:
    return DecisionRecord(
        id=row["id"],
        transaction_id=row["transaction_id"],
        action=row["action"],
        payload=row["payload"],
        actor=row["actor"],
        created_at=row["created_at"],
        undone_at=row["undone_at"],
    )
