"""The SQL of Qonto payment links (``matcher_payment_links``, migration 0007): the
:class:`~qrecon.matcher.app.ports.PaymentLinkStore` on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from qrecon.matcher.core.payment_links import PAID, PaymentLink

# Newest version wins (an older or equal one changes nothing); a link already paid keeps
# the time it became paid.
_UPSERT = """
INSERT INTO matcher_payment_links AS held (organization_id, link_id, invoice_id,
    invoice_number, amount_cents, currency, status, paid_at, link_updated_at, event_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (organization_id, link_id) DO UPDATE SET
    invoice_id = EXCLUDED.invoice_id,
    invoice_number = EXCLUDED.invoice_number,
    amount_cents = EXCLUDED.amount_cents,
    currency = EXCLUDED.currency,
    status = EXCLUDED.status,
    paid_at = CASE WHEN EXCLUDED.status <> 'paid' THEN NULL
                   WHEN held.status = 'paid' THEN LEAST(held.paid_at, EXCLUDED.paid_at)
                   ELSE EXCLUDED.paid_at END,
    link_updated_at = EXCLUDED.link_updated_at,
    event_id = EXCLUDED.event_id,
    row_changed_at = clock_timestamp()
WHERE held.link_updated_at < EXCLUDED.link_updated_at
RETURNING link_id
"""

_CHANGED = """
SELECT organization_id, link_id, invoice_id, invoice_number, amount_cents, currency, status,
       paid_at, link_updated_at
FROM matcher_payment_links
WHERE $1::timestamptz IS NULL OR row_changed_at >= $1
ORDER BY row_changed_at, organization_id, link_id
"""


def _link(row: asyncpg.Record) -> PaymentLink:
    return PaymentLink(
        link_id=row["link_id"],
        organization_id=row["organization_id"],
        invoice_id=row["invoice_id"],
        invoice_number=row["invoice_number"],
        amount_cents=row["amount_cents"],
        currency=row["currency"],
        status=row["status"],
        paid_at=row["paid_at"],
        updated_at=row["link_updated_at"],
    )


class PgPaymentLinks:
    """Payment links on ``pool`` (every organisation's; each row names its own)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def upsert_link(self, link: PaymentLink, event_id: str) -> bool:
        paid_at = link.paid_at if link.status == PAID else None
        if link.status == PAID and paid_at is None:
            paid_at = link.updated_at
        async with self.pool.acquire() as conn:
            written = await conn.fetchval(
                _UPSERT,
                link.organization_id,
                link.link_id,
                link.invoice_id,
                link.invoice_number,
                link.amount_cents,
                link.currency,
                link.status,
                paid_at,
                link.updated_at,
                event_id,
            )
        return written is not None

    async def links_changed_since(
        self, since: datetime | None
    ) -> tuple[datetime, list[PaymentLink]]:
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            clock: datetime = await conn.fetchval("SELECT clock_timestamp()")
            rows = await conn.fetch(_CHANGED, since)
        return clock, [_link(row) for row in rows]
