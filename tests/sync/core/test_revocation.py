"""A consent revocation (Qonto's documented ``v1/consent-revocations``) names the connections
it stops: the one it came through, and every connection of its organisation, except an
OAuth connection of another app."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from qrecon.sync.core.revocation import (
    ConnectionIdentity,
    connection_state,
    is_catching_up,
    parse_consent_revocation,
    revoked_connections,
)

FIXTURE = Path(__file__).parents[2] / "fixtures" / "qonto" / "webhook_consent_revocations.json"
RECEIVED = datetime(2025, 5, 2, 8, 0, tzinfo=UTC)
ORG = "0190a4f2-7c1e-7b3a-9d4e-5f6a7b8c9d01"
CLIENT = "0196a3c1-8efd-7422-8a8a-75c9b45a6a69"


def documented() -> dict[str, object]:
    body: dict[str, object] = json.loads(FIXTURE.read_text())
    return body


def test_the_documented_example_parses() -> None:
    revocation = parse_consent_revocation(documented(), connection_id="acme", received_at=RECEIVED)
    assert revocation is not None
    assert revocation.event_id == "0196a3c2-96ca-702f-8d57-63c23479dd5b"
    assert revocation.organization_id == ORG
    assert revocation.client_id == CLIENT
    assert revocation.revoked_at == datetime(2025, 5, 2, 7, 48, 12, tzinfo=UTC)
    assert revocation.connection_id == "acme"


def test_other_events_and_unreadable_bodies_are_not_revocations() -> None:
    assert (
        parse_consent_revocation(
            {**documented(), "type": "v1/transactions"}, connection_id=None, received_at=RECEIVED
        )
        is None
    )
    assert (
        parse_consent_revocation("not an object", connection_id=None, received_at=RECEIVED) is None
    )
    assert (
        parse_consent_revocation(
            {**documented(), "id": None}, connection_id=None, received_at=RECEIVED
        )
        is None
    )


def test_an_unreadable_revoked_at_is_the_time_it_was_read() -> None:
    body = {**documented(), "data": {"client_id": CLIENT, "revoked_at": "yesterday"}}
    revocation = parse_consent_revocation(body, connection_id=None, received_at=RECEIVED)
    assert revocation is not None
    assert revocation.revoked_at == RECEIVED


def test_it_stops_the_named_connection_and_its_organisation_not_other_apps() -> None:
    revocation = parse_consent_revocation(documented(), connection_id="acme", received_at=RECEIVED)
    assert revocation is not None
    connections = [
        ConnectionIdentity("acme", frozenset({"acme-login"}), None),  # came through it
        ConnectionIdentity("acme-oauth", frozenset({ORG}), CLIENT),  # same org, same app
        ConnectionIdentity("acme-other-app", frozenset({ORG}), "another-client"),
        ConnectionIdentity("acme-api-key", frozenset({ORG}), None),  # same org
        ConnectionIdentity("beta", frozenset({"beta-org"}), CLIENT),  # another organisation
    ]
    assert revoked_connections(revocation, connections) == ["acme", "acme-api-key", "acme-oauth"]


def test_a_revocation_naming_nothing_known_stops_nothing() -> None:
    revocation = parse_consent_revocation(documented(), connection_id="zeta", received_at=RECEIVED)
    assert revocation is not None
    assert (
        revoked_connections(revocation, [ConnectionIdentity("beta", frozenset({"b"}), None)]) == []
    )


def test_the_state_of_a_connection() -> None:
    assert connection_state(revoked=True, failing=True, catching_up=True) == "revoked"
    assert connection_state(revoked=False, failing=True, catching_up=True) == "failing"
    assert connection_state(revoked=False, failing=False, catching_up=True) == "backfilling"
    assert connection_state(revoked=False, failing=False, catching_up=False) == "polling"


def test_catching_up_is_a_cursor_far_behind_now() -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert is_catching_up(datetime(2025, 6, 1, 10, 0, tzinfo=UTC), now, 3600.0)
    assert not is_catching_up(datetime(2025, 6, 1, 11, 50, tzinfo=UTC), now, 3600.0)
