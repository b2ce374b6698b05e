"""Qonto's documented shapes where the code used to differ (found by transcribing the
documented examples, tests/fixtures/qonto/SOURCES.md): the client, the emulator and the
matcher read them as Qonto sends them. The comment above each test says what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from qrecon.common.qonto.auth import ApiKeyAuth
from qrecon.common.qonto.client import QontoClient, RetryPolicy
from qrecon.common.qonto.errors import QontoDecodeError, QontoServerError, error_from_response
from qrecon.common.qonto.ratelimit import RateLimiter
from qrecon.common.schemas import QontoTransaction, QontoWebhookEvent
from qrecon.ingest.core.payload import route_webhook
from qrecon.matcher.app.lifecycle import observed_counterparty
from qrecon.sim.shapes import supplier_invoice_contract
from qrecon.sim.state import API_KEY_SCOPES, Simulator
from qrecon.sim.testing import run_emulator

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qonto"
BASE_URL = "https://thirdparty.qonto.test"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def client_answering(body: Any) -> QontoClient:
    return QontoClient(
        base_url=BASE_URL,
        auth=ApiKeyAuth("atelier-lumiere-sas-4821", SecretStr("sk_test_fixture_only")),
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body)),
        limiter=RateLimiter(margin=0.0),
        retry=RetryPolicy(max_attempts=1),
    )


# 1. libs/common/src/qrecon/common/qonto/client.py:610 lists under the key
#    "webhook_subscriptions"; Qonto documents "subscriptions" (+ meta). Symptom: the
#    documented answer yields [] silently (get_page treats a missing key as an empty page),
#    so a subscription check concludes "none registered" and may subscribe again.
async def test_list_webhook_subscriptions_reads_documented_key() -> None:
    client = client_answering(load("webhook_subscriptions_list.json"))
    try:
        subscriptions = await client.list_webhook_subscriptions()
    finally:
        await client.aclose()
    assert [s["id"] for s in subscriptions] == ["0193b0e2-1c3d-7e4f-8a5b-6c7d8e9f0a12"]
    assert subscriptions[0]["callback_url"].startswith("https://")


# 2. libs/common/src/qrecon/common/qonto/errors.py:163 falls back to the header
#    "x-qonto-trace-id"; Qonto documents the trace id header as X-Tyk-Trace-Id (the body's
#    trace_id "matches the X-Tyk-Trace-Id response header"). Symptom: an error whose body
#    has no trace_id (a gateway 502 in plain text, a 429 body without it) gets
#    trace_id=None although the header carries it.
@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(502, text="Bad Gateway", headers={"X-Tyk-Trace-Id": "6f1a2b3c4d5e"}),
        httpx.Response(
            429,
            json={"errors": [{"code": "too_many_requests", "detail": "slow down"}]},
            headers={"X-Tyk-Trace-Id": "6f1a2b3c4d5e"},
        ),
    ],
)
def test_trace_id_from_x_tyk_trace_id_header(response: httpx.Response) -> None:
    response.request = httpx.Request("GET", f"{BASE_URL}/v2/transactions")
    error = error_from_response(response)
    assert error.trace_id == "6f1a2b3c4d5e"
    if response.status_code == 502:
        assert isinstance(error, QontoServerError)


# 6. counterparty_account_number_format: REST documents "IBAN", the webhook documents
#    "account_number" (with a non-IBAN number) and "iban". The matcher engine checks the
#    format (services/matcher/src/qrecon/matcher/core/engine.py:422-428) but
#    services/matcher/src/qrecon/matcher/service/lifecycle.py:139-144 (observed_counterparty,
#    used to teach aliases, matching.py:665) takes counterparty_account_number as an IBAN
#    whatever its format. Symptom: ("Figma", "483920175621") - an account number learnt as
#    the payer's IBAN.
def test_observed_counterparty_only_takes_an_iban_as_iban() -> None:
    data = load("webhook_transactions_created_amount_number.json")["data"]
    tx = QontoTransaction.model_validate({k: v for k, v in data.items() if k != "event"})
    assert observed_counterparty(tx) == ("Figma", "")
    income = load("webhook_transactions_income_iban_lowercase.json")["data"]
    tx = QontoTransaction.model_validate({k: v for k, v in income.items() if k != "event"})
    assert observed_counterparty(tx) == ("Boulangerie Martin", "FR7630004008190001234560119")


# 7. The emulator answers the webhook-subscription endpoints in the client's shapes, not
#    Qonto's, which is why the client's key mismatch (1) never shows in emulator tests:
#    - POST answers {"webhook_subscription": {...}} (tools/qonto-sim/src/qrecon/sim/app.py:419),
#      Qonto answers the bare object;
#    - GET /{id} answers {"webhook_subscription": {...}} (app.py:438), Qonto the bare object;
#    - GET lists under "webhook_subscriptions" (app.py:427), Qonto under "subscriptions";
#    - an absent description is stored and answered as null (state.py:1572), Qonto's
#      schema lists description as optional (omitted in fixture
#      webhook_subscription_create_no_description.json);
#    - errors carry trace_id in the body but no X-Tyk-Trace-Id header (app.py:72).
@pytest.fixture
def api() -> Iterator[httpx.Client]:
    sim = Simulator()
    sim.api_key_scopes = frozenset({*API_KEY_SCOPES, "webhook"})  # as tests/sim/test_idempotency
    with run_emulator(sim) as handle, handle.client(timeout=10.0) as client:
        yield client


def test_emulator_webhook_subscription_shapes(api: httpx.Client) -> None:
    created = api.post(
        "/v2/webhook_subscriptions",
        json={"callback_url": "https://rapprochement.example/hook", "types": ["v1/transactions"]},
    )
    assert created.status_code == 201
    body = created.json()
    assert set(load("webhook_subscription_create_no_description.json")) == set(body)
    got = api.get(f"/v2/webhook_subscriptions/{body['id']}").json()
    assert got["id"] == body["id"]
    listed = api.get("/v2/webhook_subscriptions").json()
    assert [s["id"] for s in listed["subscriptions"]] == [body["id"]]
    assert listed["meta"]["total_count"] == 1


def test_emulator_error_has_x_tyk_trace_id(api: httpx.Client) -> None:
    response = api.get("/v2/transactions", params={"status[]": "invalid"})
    assert response.status_code in (400, 422)
    assert response.headers["X-Tyk-Trace-Id"] == response.json()["trace_id"]


async def test_a_list_under_an_unexpected_key_is_an_error_not_an_empty_page() -> None:
    """Reading a renamed key as "no items" is how the subscriptions list silently emptied."""
    client = client_answering({"renamed_items": [{"id": "x"}], "meta": {"next_page": None}})
    try:
        with pytest.raises(QontoDecodeError, match="renamed_items"):
            await client.get_page("/v2/client_invoices", "client_invoices")
    finally:
        await client.aclose()


async def test_get_one_webhook_subscription_reads_the_bare_object() -> None:
    client = client_answering(load("webhook_subscription_get.json"))
    try:
        subscription = await client.get_webhook_subscription("0193b0e2-1c3d-7e4f-8a5b-6c7d8e9f0a12")
    finally:
        await client.aclose()
    assert subscription["callback_url"].startswith("https://")


# 5. tools/qonto-sim/src/qrecon/sim/shapes.py:153 (supplier_invoice_contract) reads
#    inv["total_amount_cents"]; Qonto's documented supplier invoices have only
#    total_amount {value, currency}. Symptom: KeyError 'total_amount_cents'. (The emulator
#    hides it by emitting an undocumented total_amount_cents, state.py:1212; the sync
#    service's map_supplier_invoice reads the documented shape correctly.)
def test_emulator_contract_of_a_documented_supplier_invoice() -> None:
    documented = load("supplier_invoices_list.json")["supplier_invoices"][0]
    contract = supplier_invoice_contract(documented)
    assert contract["amount_cents"] == 125040
    assert contract["currency"] == "EUR"
    assert contract["counterparty_iban"] == "FR7630003036200002045781282"


# 3. v1/payment-links has no data.id: the link is data.payment_link_id and the invoice it
#    was made for is data.resource_id / data.resource_metadata.invoice_number.
#    libs/common/src/qrecon/common/schemas/events.py:83-85 (resource_id) and
#    services/ingest/src/qrecon/ingest/core/payload.py:148-149 (the Kafka key) fall back to
#    the *event* id. Symptom: resource_id == key == the event id, so two events of the same
#    link land on different keys (no per-link ordering/compaction) and nothing names the link.
def test_payment_links_event_is_keyed_by_the_link() -> None:
    body = load("webhook_payment_links.json")
    event = QontoWebhookEvent.model_validate(body)
    assert event.resource_id == body["data"]["payment_link_id"]
    routed = route_webhook(
        raw("webhook_payment_links.json"),
        connection_id="atelier-lumiere",
        observed_at=datetime(2025, 4, 10, tzinfo=UTC),
    )
    assert routed.key == body["data"]["payment_link_id"]


# 4. v1/consent-revocations has no data.id either (data = {client_id, revoked_at}); it
#    means "the user revoked this app for this organization: stop using the connection".
#    Same fallback as 3 (events.py:83-85, payload.py:148-149): keyed by the event id; and no
#    code consumes it (grep -ri consent services libs: nothing). Intended here (a proposal):
#    keyed by the organization, the connection it revokes.
def test_consent_revocation_is_keyed_by_the_organization() -> None:
    body = load("webhook_consent_revocations.json")
    routed = route_webhook(
        raw("webhook_consent_revocations.json"),
        connection_id="atelier-lumiere",
        observed_at=datetime(2025, 5, 2, tzinfo=UTC),
    )
    assert routed.key == body["organization_id"]
