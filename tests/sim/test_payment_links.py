"""``v1/payment-links`` webhooks from the emulator: a payment link created for a client
invoice, then paid, sent to the organization's subscribers in the documented shape
(fixture ``webhook_payment_links.json``), signed like every webhook, subject to the
faults, recorded in the ground truth; ingest routes them to ``qonto.events.v1`` keyed
by the link."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from qrecon.common.money import to_cents
from qrecon.common.schemas import QontoWebhookEvent
from qrecon.ingest.core.payload import route_webhook
from qrecon.sim.errors import NotFound, Unprocessable
from qrecon.sim.player import load_scenario
from qrecon.sim.state import Simulator
from qrecon.sim.testing import EmulatorHandle

from .conftest import Receiver
from .test_webhooks import SECRET, _verify

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "qonto" / "webhook_payment_links.json"
T0 = datetime(2025, 4, 10, 8, 37, 47, tzinfo=UTC)


def _invoice(qonto: EmulatorHandle) -> dict[str, Any]:
    return qonto.sim.add_client_invoice(
        number="F-2025-0087",
        client_name="Boulangerie Martin SARL",
        amount_cents=240_000,
        issue_date="2025-04-10",
    )


def _subscribe(qonto: EmulatorHandle, receiver: Receiver, *types: str) -> dict[str, Any]:
    return qonto.sim.add_webhook_subscription(
        callback_url=receiver.url, secret=SECRET, types=types or ("v1/payment-links",)
    )


def test_created_then_paid_signed_in_the_documented_shape(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    subscription = _subscribe(qonto, receiver)
    invoice = _invoice(qonto)
    link = qonto.sim.create_payment_link(invoice["id"], at=T0)
    qonto.sim.update_payment_link(
        link["payment_link_id"], status="paid", at=T0 + timedelta(hours=2)
    )
    assert qonto.sim.webhooks.flush()
    created, paid = sorted(
        (_verify(r) for r in receiver.wait_for(2)), key=lambda e: e["data"]["updated_at"]
    )
    documented = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert set(created) == set(documented)
    assert set(created["data"]) == set(documented["data"])
    assert "id" not in created["data"]  # as documented: the link is payment_link_id
    assert created["type"] == "v1/payment-links"
    assert created["subscription_id"] == subscription["id"]
    assert created["data"]["event"] == "created"
    assert created["data"]["status"] == "open"
    assert created["data"]["resource_id"] == invoice["id"]
    assert created["data"]["resource_type"] == "Invoice"
    assert created["data"]["resource_metadata"] == {"invoice_number": "F-2025-0087"}
    assert created["data"]["amount"] == {"value": "2400.00", "currency": "EUR"}
    assert created["data"]["created_at"] == "2025-04-10T08:37:47Z"
    assert created["data"]["expired_at"] == "2026-04-10T08:37:47Z"
    assert (paid["data"]["event"], paid["data"]["status"]) == ("updated", "paid")
    assert paid["data"]["payment_link_id"] == link["payment_link_id"]
    event = QontoWebhookEvent.model_validate(created)
    assert event.resource_id == link["payment_link_id"]
    assert to_cents(event.data["amount"]["value"]) == 240_000


def test_only_subscribers_of_payment_links_receive_them(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    _subscribe(qonto, receiver, "v1/transactions")
    qonto.sim.create_payment_link(_invoice(qonto)["id"], at=T0)
    assert qonto.sim.webhooks.flush()
    assert receiver.requests == []
    assert qonto.sim.ground_truth(["webhooks"])["webhooks"] == []


def test_faults_and_ground_truth(qonto: EmulatorHandle, receiver: Receiver) -> None:
    _subscribe(qonto, receiver)
    qonto.sim.set_faults(duplicate=1.0)
    link = qonto.sim.create_payment_link(_invoice(qonto)["id"], at=T0)
    assert qonto.sim.webhooks.flush()
    deliveries = receiver.wait_for(2)
    assert len(deliveries) == 2
    assert deliveries[0].body == deliveries[1].body  # a duplicate: same event id
    truth = qonto.sim.ground_truth(["webhooks", "payment_links"])
    (record,) = truth["webhooks"]
    assert record["type"] == "v1/payment-links"
    assert record["resource_id"] == link["payment_link_id"]
    assert record["duplicated"] is True
    assert record["outcome"] == "delivered"
    (known,) = truth["payment_links"]
    assert known["resource_metadata"] == {"invoice_number": "F-2025-0087"}


def test_ingest_routes_the_emulated_event_to_the_events_topic(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    _subscribe(qonto, receiver)
    link = qonto.sim.create_payment_link(_invoice(qonto)["id"], at=T0)
    assert qonto.sim.webhooks.flush()
    (delivery,) = receiver.wait_for(1)
    routed = route_webhook(delivery.body, connection_id="default", observed_at=T0)
    assert routed.topic_kind == "events"
    assert routed.event_type == "v1/payment-links"
    assert routed.key == link["payment_link_id"]
    assert routed.value == delivery.body


def test_bad_input_is_refused(qonto: EmulatorHandle) -> None:
    invoice = _invoice(qonto)
    with pytest.raises(NotFound):
        qonto.sim.create_payment_link("no-such-invoice")
    with pytest.raises(Unprocessable):
        qonto.sim.create_payment_link(invoice["id"], methods=["cash"])
    link = qonto.sim.create_payment_link(invoice["id"])
    with pytest.raises(Unprocessable):
        qonto.sim.update_payment_link(link["payment_link_id"], status="refunded")
    with pytest.raises(NotFound):
        qonto.sim.update_payment_link("no-such-link", status="paid")


def test_the_admin_api_creates_and_pays_a_link(
    qonto: EmulatorHandle, receiver: Receiver, api: httpx.Client
) -> None:
    _subscribe(qonto, receiver)
    invoice = _invoice(qonto)
    created = api.post("/_sim/payment_links", json={"invoice_id": invoice["id"]})
    assert created.status_code == 201, created.text
    link = created.json()["payment_link"]
    assert link["resource_metadata"] == {"invoice_number": "F-2025-0087"}
    paid = api.patch(f"/_sim/payment_links/{link['payment_link_id']}", json={"status": "paid"})
    assert paid.json()["payment_link"]["status"] == "paid"
    assert api.post("/_sim/payment_links", json={}).status_code == 422
    assert api.post("/_sim/payment_links", json={"invoice_id": "nope"}).status_code == 404
    bad = api.patch(f"/_sim/payment_links/{link['payment_link_id']}", json={"status": "x"})
    assert bad.status_code == 422
    assert qonto.sim.webhooks.flush()
    events = [json.loads(r.body)["data"]["event"] for r in receiver.wait_for(2)]
    assert sorted(events) == ["created", "updated"]


def test_scenarios_put_payment_links_on_some_client_invoices() -> None:
    sim = Simulator(seed=42)
    load_scenario(sim, seed=42, months=3, size="small")
    truth = sim.ground_truth(["payment_links", "client_invoices"])
    invoices = {i["id"]: i for i in truth["client_invoices"]}
    links = truth["payment_links"]
    assert 0.15 < len(links) / len(invoices) < 0.45
    for link in links:
        invoice = invoices[link["resource_id"]]
        assert link["resource_metadata"] == {"invoice_number": invoice["number"]}
        assert link["amount"] == invoice["total_amount"]
        # A link is paid exactly when its invoice is.
        assert (link["status"] == "paid") == (invoice["status"] == "paid")
    assert {link["status"] for link in links} == {"open", "paid"}


def test_a_scenarios_linked_payments_settle_within_the_matchers_window_of_the_paid_link() -> None:
    """The matcher takes a credit settled from 1 day before to 5 days after a link was paid
    as its payment (``qrecon.matcher.core.payment_links``): the scenarios' links are paid
    (their invoice marked paid) within that window of the money, so the demo shows it."""
    from qrecon.matcher.core.payment_links import DEFAULT_AFTER, DEFAULT_BEFORE

    sim = Simulator(seed=7)
    load_scenario(sim, seed=7, months=2, size="small")
    truth = sim.ground_truth(["payment_links", "transactions", "allocations"])
    settled = {t["id"]: t["settled_at"] for t in truth["transactions"]}
    paying: dict[str, list[str]] = {}
    for row in truth["allocations"]:
        for allocation in row["allocations"]:
            paying.setdefault(allocation.get("invoice_id"), []).append(row["transaction_id"])
    checked = 0
    for link in truth["payment_links"]:
        if link["status"] != "paid":
            continue
        paid_at = datetime.fromisoformat(link["updated_at"].replace("Z", "+00:00"))
        for transaction_id in paying.get(link["resource_id"], []):
            at = datetime.fromisoformat(settled[transaction_id].replace("Z", "+00:00"))
            assert paid_at - DEFAULT_BEFORE <= at <= paid_at + DEFAULT_AFTER
            checked += 1
    assert checked >= 3
