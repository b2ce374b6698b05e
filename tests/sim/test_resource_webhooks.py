"""``v1/accounts`` and ``v1/clients`` webhooks from the emulator: a bank account created or
changed, a client first invoiced or changed, sent to the organization's subscribers of that
type in the documented shapes (fixtures ``webhook_accounts.json``, ``webhook_clients.json``),
signed like every webhook, subject to the faults, recorded in the ground truth; ingest
routes them to ``qonto.events.v1`` keyed by the resource."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from qrecon.common.money import to_cents
from qrecon.ingest.core.payload import route_webhook
from qrecon.sim.errors import NotFound, Unprocessable
from qrecon.sim.testing import EmulatorHandle

from .conftest import Receiver
from .test_webhooks import SECRET, _verify

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qonto"
T0 = datetime(2025, 4, 19, 9, 0, 1, tzinfo=UTC)
IBAN = "FR7616798000010000048217463"


def _documented(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _subscribe(qonto: EmulatorHandle, receiver: Receiver, *types: str) -> dict[str, Any]:
    return qonto.sim.add_webhook_subscription(callback_url=receiver.url, secret=SECRET, types=types)


def _invoice(qonto: EmulatorHandle, number: str, **client: Any) -> dict[str, Any]:
    return qonto.sim.add_client_invoice(
        number=number,
        client_name="Boulangerie Martin SARL",
        amount_cents=240_000,
        issue_date="2025-04-10",
        at=T0,
        **({"client": client} if client else {}),
    )


def test_an_account_created_then_closed_in_the_documented_shape(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    subscription = _subscribe(qonto, receiver, "v1/accounts")
    account = qonto.sim.add_bank_account(name="Compte TVA", iban=IBAN, balance_cents=100_000)
    qonto.sim.update_bank_account(account["id"], status="closed", at=T0 + timedelta(days=1))
    assert qonto.sim.webhooks.flush()
    created, closed = sorted(
        (_verify(r) for r in receiver.wait_for(2)), key=lambda e: e["data"]["event"]
    )
    documented = _documented("webhook_accounts.json")
    assert set(created) == set(documented)
    assert set(created["data"]) == set(documented["data"])
    assert created["type"] == "v1/accounts"
    assert created["subscription_id"] == subscription["id"]
    assert created["data"]["event"] == "created"
    assert created["data"]["id"] == account["id"]
    assert (created["data"]["iban"], created["data"]["name"]) == (IBAN, "Compte TVA")
    assert created["data"]["authorized_balance"] == {"amount": "1000.00", "currency": "EUR"}
    assert to_cents(created["data"]["authorized_balance"]["amount"]) == 100_000
    assert (closed["data"]["event"], closed["data"]["status"]) == ("updated", "closed")
    assert closed["data"]["updated_at"] == "2025-04-20T09:00:01Z"


def test_a_client_is_created_once_and_updated_when_its_details_change(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    _subscribe(qonto, receiver, "v1/clients")
    first = _invoice(qonto, "F-2025-0087")
    _invoice(qonto, "F-2025-0088")  # the same client again: nothing to say
    changed = dict(first["client"], email="compta@boulangerie-martin.fr")
    _invoice(qonto, "F-2025-0089", **changed)
    assert qonto.sim.webhooks.flush()
    created, updated = sorted(
        (_verify(r) for r in receiver.wait_for(2)), key=lambda e: e["data"]["event"]
    )
    assert len(receiver.requests) == 2
    documented = _documented("webhook_clients.json")
    assert set(created) == set(documented)
    assert set(created["data"]) == set(documented["data"])
    assert created["type"] == "v1/clients"
    assert created["data"]["id"] == first["client"]["id"]
    assert created["data"]["name"] == "Boulangerie Martin SARL"
    assert created["data"]["created_at"] == "2025-04-19T09:00:01Z"
    assert updated["data"]["event"] == "updated"
    assert updated["data"]["email"] == "compta@boulangerie-martin.fr"
    assert updated["data"]["created_at"] == created["data"]["created_at"]


def test_only_subscribers_of_the_type_receive_them(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    _subscribe(qonto, receiver, "v1/transactions", "v1/payment-links")
    qonto.sim.add_bank_account(name="Compte TVA", iban=IBAN)
    _invoice(qonto, "F-2025-0087")
    assert qonto.sim.webhooks.flush()
    assert receiver.requests == []
    assert qonto.sim.ground_truth(["webhooks"])["webhooks"] == []


def test_faults_and_ground_truth(qonto: EmulatorHandle, receiver: Receiver) -> None:
    _subscribe(qonto, receiver, "v1/accounts", "v1/clients")
    qonto.sim.set_faults(duplicate=1.0)
    account = qonto.sim.add_bank_account(name="Compte TVA", iban=IBAN)
    invoice = _invoice(qonto, "F-2025-0087")
    assert qonto.sim.webhooks.flush()
    deliveries = receiver.wait_for(4)
    assert len(deliveries) == 4  # each event twice: duplicates, same body
    records = qonto.sim.ground_truth(["webhooks"])["webhooks"]
    assert {(r["type"], r["resource_id"]) for r in records} == {
        ("v1/accounts", account["id"]),
        ("v1/clients", invoice["client"]["id"]),
    }
    assert all(r["duplicated"] and r["outcome"] == "delivered" for r in records)


def test_ingest_routes_them_to_the_events_topic_keyed_by_the_resource(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    _subscribe(qonto, receiver, "v1/accounts", "v1/clients")
    account = qonto.sim.add_bank_account(name="Compte TVA", iban=IBAN)
    invoice = _invoice(qonto, "F-2025-0087")
    assert qonto.sim.webhooks.flush()
    routed = {
        r.event_type: r
        for r in (
            route_webhook(d.body, connection_id="default", observed_at=T0)
            for d in receiver.wait_for(2)
        )
    }
    assert routed["v1/accounts"].topic_kind == "events"
    assert routed["v1/accounts"].key == account["id"]
    assert routed["v1/clients"].topic_kind == "events"
    assert routed["v1/clients"].key == invoice["client"]["id"]


def test_bad_input_is_refused(qonto: EmulatorHandle) -> None:
    account = qonto.sim.add_bank_account(name="Compte TVA", iban=IBAN)
    with pytest.raises(Unprocessable):
        qonto.sim.update_bank_account(account["id"], status="frozen")
    with pytest.raises(NotFound):
        qonto.sim.update_bank_account("no-such-account", status="closed")


def test_the_admin_api_adds_and_closes_an_account(
    qonto: EmulatorHandle, receiver: Receiver, api: httpx.Client
) -> None:
    _subscribe(qonto, receiver, "v1/accounts")
    created = api.post("/_sim/bank_accounts", json={"name": "Compte TVA", "iban": IBAN})
    assert created.status_code == 201, created.text
    account = created.json()["bank_account"]
    closed = api.patch(f"/_sim/bank_accounts/{account['id']}", json={"status": "closed"})
    assert closed.json()["bank_account"]["status"] == "closed"
    assert api.post("/_sim/bank_accounts", json={"nom": "x"}).status_code == 422
    assert api.patch(f"/_sim/bank_accounts/{account['id']}", json={}).status_code == 422
    assert api.patch("/_sim/bank_accounts/nope", json={"status": "closed"}).status_code == 404
    bad = api.patch(f"/_sim/bank_accounts/{account['id']}", json={"status": "frozen"})
    assert bad.status_code == 422
    assert qonto.sim.webhooks.flush()
    events = [json.loads(r.body)["data"]["event"] for r in receiver.wait_for(2)]
    assert sorted(events) == ["created", "updated"]
