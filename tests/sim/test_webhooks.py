"""Webhook delivery over real HTTP: payload shape, signatures, retries, timeouts, faults
(drop, duplicate, reorder, silent) recorded in the ground truth; API faults."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from qrecon.common.qonto.signature import compute_signature, signature_header
from qrecon.common.schemas import QontoTransaction, QontoWebhookEvent
from qrecon.sim.testing import EmulatorHandle

from .conftest import Received, Receiver

SECRET = "whsec_" + "0123456789abcdef" * 3


def _verify(request: Received, secret: str = SECRET) -> dict[str, Any]:
    """What a receiver does: check the signature over the raw bytes, then parse."""
    header = request.headers["X-Qonto-Signature"]
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    assert abs(time.time() - timestamp) < 300
    assert parts["v1"] == compute_signature(secret, timestamp, request.body)
    return dict(json.loads(request.body))


def _subscribe(qonto: EmulatorHandle, receiver: Receiver) -> dict[str, Any]:
    return qonto.sim.add_webhook_subscription(callback_url=receiver.url, secret=SECRET)


def _income(qonto: EmulatorHandle, cents: int = 5001, **fields: Any) -> dict[str, Any]:
    return qonto.sim.add_transaction(
        amount_cents=cents,
        side="credit",
        label="MAISON DUPONT",
        reference="FAC-2025-0001",
        counterparty={"name": "Maison Dupont", "iban": "FR7630004000031234567890143"},
        **fields,
    )


def test_qonto_test_vector() -> None:
    header = signature_header("test-secret", b'{"test":"data"}', 1704110400)
    assert header == (
        "t=1704110400,v1=56aff06dc227db80d6568a5070f912c601c31f20451745d257cbc0b5dfa93805"
    )


def test_created_and_updated_events_signed_and_shaped(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    subscription = _subscribe(qonto, receiver)
    tx = _income(qonto)
    qonto.sim.update_transaction(tx["id"], note="vu")
    # Up to `concurrency` first attempts run at once: arrival order is not guaranteed.
    requests = sorted(receiver.wait_for(2), key=lambda r: json.loads(r.body)["data"]["updated_at"])
    assert len(requests) == 2
    created, updated = (_verify(r) for r in requests)
    assert requests[0].headers["Content-Type"] == "application/json"
    for event in (created, updated):
        assert event["type"] == "v1/transactions"
        assert event["subscription_id"] == subscription["id"]
        assert event["organization_id"] == qonto.organization_id
        assert event["membership_id"]
        assert event["id"]
        assert event["created_at"]
        QontoWebhookEvent.model_validate(event)
    assert created["data"]["event"] == "created"
    assert updated["data"]["event"] == "updated"
    data = created["data"]
    assert data["id"] == tx["id"]
    assert data["amount"] == 50.01
    assert not any(key.endswith("_cents") for key in data)
    assert data["subject_type"] == "Income"
    assert data["bank_account"] == {
        "id": qonto.bank_account_id,
        "iban": qonto.iban,
        "bic": "QNTOFRP1XXX",
        "name": "Compte principal",
    }
    assert "bank_account_id" not in data
    assert data["income"]["counterparty_account_number"] == "FR7630004000031234567890143"
    parsed = QontoTransaction.model_validate(data)
    assert parsed.amount_cents == 5001
    assert parsed.bank_account_id == qonto.bank_account_id
    assert parsed.subject_type == "income"
    assert updated["data"]["note"] == "vu"
    assert updated["data"]["updated_at"] > data["updated_at"]
    # A wrong secret does not verify.
    header = requests[0].headers["X-Qonto-Signature"]
    timestamp = int(header.split(",")[0][2:])
    assert compute_signature("other", timestamp, requests[0].body) not in header
    assert qonto.sim.webhooks.flush(5)
    log = qonto.sim.ground_truth(["webhooks"])["webhooks"]
    assert [r["outcome"] for r in log] == ["delivered", "delivered"]
    assert [r["event_id"] for r in log] == [created["id"], updated["id"]]  # change order


def test_amounts_as_strings_when_configured(qonto: EmulatorHandle, receiver: Receiver) -> None:
    qonto.sim.webhook_settings.amount_format = "string"
    qonto.sim.webhook_settings.bank_account_style = "both"
    _subscribe(qonto, receiver)
    _income(qonto, 5000)
    data = _verify(receiver.wait_for(1)[0])["data"]
    assert data["amount"] == "50.00"
    assert data["bank_account_id"] == qonto.bank_account_id
    assert QontoTransaction.model_validate(data).amount_cents == 5000


def test_subscription_api_with_oauth(qonto: EmulatorHandle, receiver: Receiver) -> None:
    code = qonto.mint_authorization_code()
    tokens = httpx.post(
        qonto.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": qonto.client_id,
            "client_secret": qonto.client_secret,
        },
    ).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    url = f"{qonto.base_url}/v2/webhook_subscriptions"
    created = httpx.post(
        url, headers=bearer, json={"callback_url": receiver.url, "types": ["v1/transactions"]}
    )
    assert created.status_code == 201
    subscription = created.json()
    assert 32 <= len(subscription["secret"]) <= 128
    listed = httpx.get(url, headers=bearer).json()
    assert listed["meta"]["total_count"] == 1
    assert "secret" not in listed["subscriptions"][0]
    short = httpx.post(
        url,
        headers=bearer,
        json={"callback_url": receiver.url, "types": ["v1/transactions"], "secret": "x"},
    )
    assert short.status_code == 422
    plain_http = httpx.post(
        url,
        headers=bearer,
        json={"callback_url": "http://example.com/h", "types": ["v1/transactions"]},
    )
    assert plain_http.status_code == 422
    # X-Qonto-Idempotency-Key replays the first answer, even for another body.
    key = {"X-Qonto-Idempotency-Key": "5b0f3f3e-2d0c-4d5c-9a3e-2b7f9c1d0e11", **bearer}
    once = httpx.post(
        url, headers=key, json={"callback_url": receiver.url + "?a", "types": ["v1/transactions"]}
    )
    twice = httpx.post(
        url, headers=key, json={"callback_url": receiver.url + "?b", "types": ["v1/transactions"]}
    )
    assert once.json() == twice.json()
    replayed = once.json()
    assert httpx.delete(f"{url}/{replayed['id']}", headers=bearer).status_code == 204
    _income(qonto)
    _verify(receiver.wait_for(1)[0], subscription["secret"])
    deleted = httpx.delete(f"{url}/{subscription['id']}", headers=bearer)
    assert deleted.status_code == 204
    assert httpx.get(url, headers=bearer).json()["subscriptions"] == []


def test_retries_with_backoff_until_delivered(qonto: EmulatorHandle, receiver: Receiver) -> None:
    receiver.respond = lambda index: 500 if index < 2 else 200
    _subscribe(qonto, receiver)
    _income(qonto)
    requests = receiver.wait_for(3)
    assert qonto.sim.webhooks.flush(5)
    assert len(requests) == 3
    assert len({json.loads(r.body)["id"] for r in requests}) == 1  # the same event
    for request in requests:
        _verify(request)
    record = qonto.sim.webhooks.log()[0]
    assert record["outcome"] == "delivered"
    assert record["statuses"] == ["500", "500", "200"]
    assert record["attempts"] == 3


def test_gives_up_after_max_attempts(qonto: EmulatorHandle, receiver: Receiver) -> None:
    receiver.respond = lambda index: 503
    _subscribe(qonto, receiver)
    _income(qonto)
    assert qonto.sim.webhooks.flush(5)
    record = qonto.sim.webhooks.log()[0]
    assert record["outcome"] == "failed"
    assert record["attempts"] == 3
    assert len(receiver.requests) == 3


def test_slow_receiver_counts_as_a_timeout(qonto: EmulatorHandle, receiver: Receiver) -> None:
    qonto.sim.webhook_settings.timeout = 0.1
    qonto.sim.webhook_settings.max_attempts = 1
    receiver.delay = 0.4
    _subscribe(qonto, receiver)
    _income(qonto)
    assert qonto.sim.webhooks.flush(5)
    record = qonto.sim.webhooks.log()[0]
    assert record["statuses"] == ["timeout"]
    assert record["outcome"] == "failed"


def test_delivery_does_not_block_the_api(
    qonto: EmulatorHandle, receiver: Receiver, api: httpx.Client
) -> None:
    gate = threading.Event()

    def blocked(index: int) -> int:
        gate.wait(5)
        return 200

    receiver.respond = blocked
    _subscribe(qonto, receiver)
    for _ in range(3):
        _income(qonto)  # returns although the receiver hangs
    assert receiver.wait_for(1)
    response = api.get("/v2/transactions", params={"bank_account_id": qonto.bank_account_id})
    assert response.status_code == 200
    assert response.json()["meta"]["total_count"] == 3
    assert qonto.sim.webhooks.inflight >= 1
    gate.set()
    assert qonto.sim.webhooks.flush(5)
    assert [r["outcome"] for r in qonto.sim.webhooks.log()] == ["delivered"] * 3


def test_drop_fault_recorded_in_ground_truth(qonto: EmulatorHandle, receiver: Receiver) -> None:
    qonto.sim.set_faults(drop=0.5, seed=7)
    _subscribe(qonto, receiver)
    for index in range(20):
        _income(qonto, 100 + index)
    assert qonto.sim.webhooks.flush(5)
    log = qonto.sim.ground_truth()["webhooks"]
    dropped = [r for r in log if r["outcome"] == "dropped"]
    delivered = [r for r in log if r["outcome"] == "delivered"]
    assert 0 < len(dropped) < 20
    assert len(dropped) + len(delivered) == 20
    received = {json.loads(r.body)["id"] for r in receiver.requests}
    assert received == {r["event_id"] for r in delivered}
    assert all(r["attempts"] == 0 for r in dropped)


def test_duplicate_fault_sends_the_same_event_twice(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    qonto.sim.set_faults(duplicate=1.0)
    _subscribe(qonto, receiver)
    _income(qonto)
    assert qonto.sim.webhooks.flush(5)
    requests = receiver.wait_for(2)
    assert len(requests) == 2
    assert requests[0].body == requests[1].body
    for request in requests:
        _verify(request)
    record = qonto.sim.webhooks.log()[0]
    assert record["duplicated"]
    assert record["deliveries"] == 2


def test_reorder_fault_swaps_events(qonto: EmulatorHandle, receiver: Receiver) -> None:
    qonto.sim.webhooks.concurrency = 1
    qonto.sim.set_faults(reorder=1.0)
    _subscribe(qonto, receiver)
    tx = _income(qonto)
    for note in ("a", "b", "c"):
        qonto.sim.update_transaction(tx["id"], note=note)
    assert qonto.sim.webhooks.flush(5)
    requests = receiver.wait_for(4)
    versions = [json.loads(r.body)["data"]["updated_at"] for r in requests]
    assert len(versions) == 4
    assert versions != sorted(versions)
    assert sorted(versions) == [v["updated_at"] for v in qonto.sim.transaction_versions(tx["id"])]
    assert all(r["reordered"] for r in qonto.sim.webhooks.log())


def test_no_reorder_without_the_fault(qonto: EmulatorHandle, receiver: Receiver) -> None:
    qonto.sim.webhooks.concurrency = 1
    _subscribe(qonto, receiver)
    tx = _income(qonto)
    for note in ("a", "b", "c"):
        qonto.sim.update_transaction(tx["id"], note=note)
    assert qonto.sim.webhooks.flush(5)
    versions = [json.loads(r.body)["data"]["updated_at"] for r in receiver.wait_for(4)]
    assert versions == sorted(versions)
    assert len(versions) == 4


def test_silent_changes_and_notify_false(qonto: EmulatorHandle, receiver: Receiver) -> None:
    _subscribe(qonto, receiver)
    tx = _income(qonto, notify=False)
    qonto.sim.set_faults(silent=1.0)
    qonto.sim.update_transaction(tx["id"], note="x")
    assert qonto.sim.webhooks.flush(5)
    assert receiver.requests == []
    assert [r["outcome"] for r in qonto.sim.webhooks.log()] == ["not_sent", "silent"]


def test_events_before_subscribing_are_never_sent(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    _income(qonto)
    _subscribe(qonto, receiver)
    tx = _income(qonto)
    assert qonto.sim.webhooks.flush(5)
    requests = receiver.wait_for(1)
    assert [json.loads(r.body)["data"]["id"] for r in requests] == [tx["id"]]


def test_api_faults(qonto: EmulatorHandle, api: httpx.Client) -> None:
    qonto.sim.set_faults(error_rate=1.0)
    response = api.get("/v2/transactions", params={"bank_account_id": qonto.bank_account_id})
    assert response.status_code in (500, 502, 503)
    assert response.json()["errors"][0]["code"] == "internal_server_error"
    qonto.sim.set_faults(error_rate=0.0, rate_limit_rate=1.0)
    assert (
        api.get("/v2/transactions", params={"bank_account_id": qonto.bank_account_id}).status_code
        == 429
    )
    qonto.sim.set_faults(rate_limit_rate=0.0, storm_seconds=30)
    assert api.get("/v2/organization").status_code == 429
    qonto.sim.set_faults(storm_seconds=0)
    qonto.sim.set_faults(slow_ms=50)
    assert (
        api.get("/v2/transactions", params={"bank_account_id": qonto.bank_account_id}).status_code
        == 200
    )
    # Through the admin API too.
    admin = httpx.put(f"{qonto.base_url}/_sim/faults", json={"clear": True, "drop": 0.25})
    assert admin.json()["drop"] == 0.25
    assert admin.json()["slow_ms"] == 0
    bad = httpx.put(f"{qonto.base_url}/_sim/faults", json={"drop": 2})
    assert bad.status_code == 422


def test_delay_fault_is_recorded(qonto: EmulatorHandle, receiver: Receiver) -> None:
    qonto.sim.set_faults(delay_ms=200, seed=3)
    _subscribe(qonto, receiver)
    _income(qonto)
    assert qonto.sim.webhooks.flush(5)
    record = qonto.sim.webhooks.log()[0]
    assert 0 < record["delay_ms"] <= 200
    assert record["outcome"] == "delivered"
    assert len(receiver.requests) == 1
