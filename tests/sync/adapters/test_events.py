"""The ``qonto.events.v1`` handler: only ``v1/consent-revocations`` reaches the supervisor
(skipped by header, no decoding, for every other type); an unreadable one is counted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from qrecon.sync.adapters.events import handle_event
from qrecon.sync.core.revocation import ConsentRevocation
from qrecon.sync.metrics import SyncMetrics

DOCUMENTED = Path(__file__).parents[2] / "fixtures" / "qonto" / "webhook_consent_revocations.json"


async def test_only_consent_revocations_are_handed_over() -> None:
    metrics = SyncMetrics()
    seen: list[ConsentRevocation] = []

    async def on_revocation(revocation: ConsentRevocation) -> list[str]:
        seen.append(revocation)
        return ["acme"]

    body = DOCUMENTED.read_bytes()
    headers = {"event-type": "v1/consent-revocations", "connection-id": "acme"}
    await handle_event(b"{not json", {"event-type": "v1/cards"}, on_revocation=on_revocation,
                       metrics=metrics)  # fmt: skip
    await handle_event(body, headers, on_revocation=on_revocation, metrics=metrics)
    await handle_event(b"[]", headers, on_revocation=on_revocation, metrics=metrics)
    assert [(r.event_id, r.connection_id) for r in seen] == [
        ("0196a3c2-96ca-702f-8d57-63c23479dd5b", "acme")
    ]
    assert metrics.revocations.labels("revoked")._value.get() == 1
    assert metrics.revocations.labels("invalid")._value.get() == 1


async def test_a_revocation_without_a_readable_date_is_dated_by_syncs_clock() -> None:
    arrived = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    seen: list[ConsentRevocation] = []

    async def on_revocation(revocation: ConsentRevocation) -> list[str]:
        seen.append(revocation)
        return ["acme"]

    envelope = json.loads(DOCUMENTED.read_bytes())
    envelope["data"]["revoked_at"] = "yesterday"
    await handle_event(
        json.dumps(envelope).encode(),
        {"event-type": "v1/consent-revocations"},
        on_revocation=on_revocation,
        metrics=SyncMetrics(),
        clock=lambda: arrived,
    )
    assert [r.revoked_at for r in seen] == [arrived]
