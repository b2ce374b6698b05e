"""The state kept before organisations existed (migration 0004 gave it the sentinel
organisation ``''``) becomes the default organisation's (``MATCHER_DEFAULT_ORGANIZATION``).

Run at every start, after the migrations; a no-op once nothing is left under ``''``.
Everything is renamed in one transaction (the foreign keys are deferred to its end; the
residual trigger ignores a change of organisation alone), so a crash leaves all or none
of it renamed. A default organisation that already holds a row of the same id refuses
the start (a primary key violation), naming the table: nothing is merged by guess.
"""

from __future__ import annotations

import asyncpg

from qrecon.common.logging import get_logger

log = get_logger(__name__)

SENTINEL = ""
# Children after parents does not matter (deferred keys); listed for the reader.
TABLES = (
    "matcher_invoices",
    "matcher_transactions",
    "matcher_allocations",
    "matcher_results",
    "matcher_decisions",
    "matcher_aliases",
    "matcher_rejections",
)


async def adopt_default_organization(pool: asyncpg.Pool, organization: str | None) -> int:
    """Rename the sentinel organisation's rows to ``organization``; the rows renamed.

    Without a default organisation they stay where they are (kept, unreachable by the
    service) and a warning says how to adopt them.
    """
    async with pool.acquire() as conn:
        pending = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM matcher_transactions WHERE organization_id = $1)"
            " OR EXISTS (SELECT 1 FROM matcher_invoices WHERE organization_id = $1)",
            SENTINEL,
        )
        if not pending:
            return 0
        if not organization:
            log.warning(
                "matcher_state_without_organization",
                detail="state kept before organisations existed; set"
                " MATCHER_DEFAULT_ORGANIZATION to adopt it",
            )
            return 0
        renamed = 0
        async with conn.transaction():
            await conn.execute("SET CONSTRAINTS ALL DEFERRED")
            for table in TABLES:
                status = await conn.execute(
                    f"UPDATE {table} SET organization_id = $1"  # noqa: S608 - constant names
                    " WHERE organization_id = $2",
                    organization,
                    SENTINEL,
                )
                renamed += int(status.split()[-1])
    log.info("matcher_default_organization_adopted", organization=organization, rows=renamed)
    return renamed
