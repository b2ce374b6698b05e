"""Consent revocation in the emulator: after ``POST /_sim/consent-revocations`` the app's
tokens answer 401 (and refresh ``invalid_grant``), and the organization's subscriptions get
a signed ``v1/consent-revocations`` webhook shaped as Qonto documents it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from qrecon.common.qonto.signature import compute_signature
from qrecon.common.schemas import QontoWebhookEvent
from qrecon.sim.testing import EmulatorHandle

from .conftest import Receiver

SECRET = "whsec_" + "0123456789abcdef" * 3
DOCUMENTED = Path(__file__).parents[1] / "fixtures" / "qonto" / "webhook_consent_revocations.json"


def _tokens(qonto: EmulatorHandle) -> dict[str, Any]:
    code = qonto.mint_authorization_code()
    answer = httpx.post(
        qonto.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": qonto.redirect_uri,
            "client_id": qonto.client_id,
            "client_secret": qonto.client_secret,
        },
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_revoking_consent_kills_the_tokens_and_sends_the_documented_webhook(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    qonto.sim.add_webhook_subscription(
        callback_url=receiver.url, secret=SECRET, types=["v1/consent-revocations"]
    )
    tokens = _tokens(qonto)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{qonto.base_url}/v2/organization", headers=bearer).status_code == 200

    answer = httpx.post(f"{qonto.base_url}/_sim/consent-revocations", json={})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["organization_id"] == qonto.organization_id
    assert result["client_id"] == qonto.client_id
    assert result["tokens_revoked"] == 2  # the access and the refresh token

    assert httpx.get(f"{qonto.base_url}/v2/organization", headers=bearer).status_code == 401
    refresh = httpx.post(
        qonto.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": qonto.client_id,
            "client_secret": qonto.client_secret,
        },
    )
    assert refresh.status_code == 400
    assert refresh.json()["error"] == "invalid_grant"
    # The API key is another credential: untouched unless asked.
    api_key = httpx.get(f"{qonto.base_url}/v2/organization", headers=qonto.headers())
    assert api_key.status_code == 200

    (request,) = receiver.wait_for(1)
    parts = dict(item.split("=", 1) for item in request.headers["X-Qonto-Signature"].split(","))
    assert parts["v1"] == compute_signature(SECRET, int(parts["t"]), request.body)
    body = json.loads(request.body)
    documented = json.loads(DOCUMENTED.read_text())
    assert body.keys() == documented.keys()
    assert body["data"].keys() == documented["data"].keys()
    assert body["type"] == "v1/consent-revocations"
    assert body["id"] in result["webhook_events"]
    assert body["data"] == {"client_id": qonto.client_id, "revoked_at": result["revoked_at"]}
    event = QontoWebhookEvent.model_validate(body)
    assert event.resource_id == qonto.organization_id


def test_revoking_with_the_api_key_and_for_an_unknown_organization(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    # A subscription to transactions only gets no revocation.
    qonto.sim.add_webhook_subscription(callback_url=receiver.url, secret=SECRET)
    old_key = qonto.headers()
    answer = httpx.post(f"{qonto.base_url}/_sim/consent-revocations", json={"api_key": True})
    assert answer.status_code == 200
    assert answer.json()["webhook_events"] == []
    assert httpx.get(f"{qonto.base_url}/v2/organization", headers=old_key).status_code == 401
    unknown = httpx.post(
        f"{qonto.base_url}/_sim/consent-revocations", json={"organization_id": "nobody"}
    )
    assert unknown.status_code == 404
