"""Consent revocation: a user revokes the app's access to their organization in Qonto.

Qonto then refuses the app's tokens (401 on the API, ``invalid_grant`` on refresh) and
sends ``v1/consent-revocations`` to the organization's subscriptions to that type
(``data: {client_id, revoked_at}``, no ``data.id``; the documented example is
``tests/fixtures/qonto/webhook_consent_revocations.json``). The webhook goes through the
dispatcher like any other: signed, with the faults in force (dropped, duplicated,
delayed...), logged in the delivery log.

``api_key=True`` also regenerates the organization's API key (the old one answers 401):
the emulator's stand-in for an integration removed from an API-key connection.
"""

from __future__ import annotations

import uuid
from typing import Any

from qrecon.sim.clock import format_ts
from qrecon.sim.errors import NotFound
from qrecon.sim.state import Simulator

CONSENT_REVOCATIONS = "v1/consent-revocations"


def revoke_consent(
    sim: Simulator,
    *,
    organization_id: str | None = None,
    client_id: str | None = None,
    api_key: bool = False,
) -> dict[str, Any]:
    """Revoke, then notify; returns what happened (tokens revoked, webhook event ids)."""
    with sim.lock:
        org_id = organization_id or sim.default_organization_id
        if org_id is None or org_id not in sim.accounts.organizations:
            raise NotFound("no such organization")
        client = client_id or sim.auth.client_of(org_id)[0] or None
        tokens = sim.auth.revoke_consent(org_id, client)
        if api_key:
            sim.regenerate_api_key(org_id)
        now = sim.clock.now()
        revoked_at = format_ts(now)
        events: list[str] = []
        for sub in sim.subscriptions.subscribed(org_id, CONSENT_REVOCATIONS):
            payload = {
                "id": str(uuid.uuid4()),
                "subscription_id": sub["id"],
                "organization_id": org_id,
                "membership_id": sub["membership_id"],
                "type": CONSENT_REVOCATIONS,
                "created_at": revoked_at,
                "data": {"client_id": client, "revoked_at": revoked_at},
            }
            record = sim.webhooks.submit(sub, payload, tx_updated_at=revoked_at)
            events.append(record["event_id"])
    return {
        "organization_id": org_id,
        "client_id": client,
        "revoked_at": revoked_at,
        "tokens_revoked": tokens,
        "api_key_revoked": api_key,
        "webhook_events": events,
    }
