"""Recording a consent revocation (on a fake store): the connections it names are revoked
once; a redelivery or a revocation naming nobody changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from qrecon.sync.app.revocations import record_revocation
from qrecon.sync.core.revocation import ConnectionIdentity, ConsentRevocation


class FakeRevocations:
    def __init__(self) -> None:
        self.rows: dict[str, ConsentRevocation] = {}

    async def revoke(self, connection_id: str, revocation: ConsentRevocation) -> bool:
        if connection_id in self.rows:
            return False
        self.rows[connection_id] = revocation
        return True

    async def revoked(self) -> dict[str, ConsentRevocation]:
        return dict(self.rows)

    async def reinstate(self, connection_id: str) -> bool:
        return self.rows.pop(connection_id, None) is not None


REVOCATION = ConsentRevocation(
    event_id="ev-1",
    organization_id="org-a",
    client_id="app",
    revoked_at=datetime(2025, 5, 2, 7, 48, 12, tzinfo=UTC),
    connection_id="acme",
)
CONNECTIONS = [
    ConnectionIdentity("acme", frozenset({"org-a"}), None),
    ConnectionIdentity("acme-oauth", frozenset({"org-a"}), "app"),
    ConnectionIdentity("beta", frozenset({"org-b"}), "app"),
]


async def test_the_named_connections_are_revoked_once() -> None:
    store = FakeRevocations()
    assert await record_revocation(REVOCATION, connections=CONNECTIONS, store=store) == [
        "acme",
        "acme-oauth",
    ]
    assert set(store.rows) == {"acme", "acme-oauth"}
    # Kafka delivers it again: nothing new.
    assert await record_revocation(REVOCATION, connections=CONNECTIONS, store=store) == []


async def test_a_revocation_for_nobody_here_records_nothing() -> None:
    store = FakeRevocations()
    other = ConsentRevocation("ev-2", "org-z", "app", REVOCATION.revoked_at, "zeta")
    assert await record_revocation(other, connections=CONNECTIONS, store=store) == []
    assert store.rows == {}
