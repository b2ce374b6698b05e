"""Revoked connections in PostgreSQL (migration 0004): recorded once, read by every replica,
reinstated by ``qonto-sync reinstate``; the connection's other state is untouched."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from qrecon.sync.adapters.revocations import RevocationStore
from qrecon.sync.adapters.store import migrate
from qrecon.sync.bootstrap import reinstate
from qrecon.sync.core.revocation import ConsentRevocation
from qrecon.sync.settings import SyncSettings

pytestmark = pytest.mark.integration

REVOCATION = ConsentRevocation(
    event_id="ev-1",
    organization_id="org-uuid",
    client_id="client-1",
    revoked_at=datetime(2025, 5, 2, 7, 48, 12, tzinfo=UTC),
    connection_id="beta",
)


async def test_a_revocation_is_recorded_once_and_reinstated(
    pool: asyncpg.Pool, database_url: str
) -> None:
    assert "0004_connection_revocations" in " ".join(await migrate(pool))
    store = RevocationStore(pool)
    assert await store.revoked() == {}
    assert await store.revoke("beta", REVOCATION)
    again = ConsentRevocation("ev-2", "org-uuid", "client-1", REVOCATION.revoked_at, "beta")
    assert not await store.revoke("beta", again)  # a redelivery changes nothing
    assert await store.revoked() == {"beta": REVOCATION}

    settings = SyncSettings(_env_file=None, database_url=database_url)
    assert await reinstate(settings, "beta") == 0
    assert await store.revoked() == {}
    assert await reinstate(settings, "beta") == 4  # not revoked (any more)
