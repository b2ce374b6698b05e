"""The pure payload core: routing, the TransactionEvent, and hostile bodies."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qrecon.common.schemas import TransactionEvent
from qrecon.ingest.core.payload import PayloadError, route_webhook

from ..conftest import encode, transaction_data, webhook

NOW = datetime(2025, 1, 24, 10, 55, 30, tzinfo=UTC)


def route(body: bytes, **kw: Any) -> Any:
    return route_webhook(
        body, connection_id=kw.pop("connection_id", "default"), observed_at=NOW, **kw
    )


def test_a_transaction_webhook_becomes_a_transaction_event_keyed_by_the_transaction() -> None:
    payload = webhook(event_id="ev-1", data=transaction_data("tx-1", amount="1 234,56"))
    routed = route(encode(payload), connection_id="acme")
    assert (routed.topic_kind, routed.key, routed.event_id) == ("transactions", "tx-1", "ev-1")
    assert routed.topic("T", "E") == "T"
    event = TransactionEvent.model_validate_json(routed.value)
    assert event.source == "webhook"
    assert event.event_id == "ev-1"
    assert event.connection_id == "acme"
    assert event.organization_id == "org-1"
    assert event.observed_at == NOW
    tx = event.transaction
    assert (tx.amount_cents, tx.side, tx.subject_type, tx.bank_account_id) == (
        123456,
        "debit",
        "transfer",
        "ba-1",
    )
    assert tx.counterparty["counterparty_account_number"].startswith("FR76")
    assert "event" not in (tx.model_extra or {})
    extra = event.model_extra or {}
    assert extra["webhook"] == {
        "type": "v1/transactions",
        "event": "created",
        "subscription_id": "sub-1",
        "membership_id": "mem-1",
        "created_at": "2025-01-24T10:55:00Z",
    }
    assert routed.headers["event-id"] == "ev-1"
    assert routed.headers["event-type"] == "qonto.transaction"
    assert routed.headers["schema-version"] == "1"
    assert routed.headers["connection-id"] == "acme"


def test_the_connections_organization_is_used_when_the_envelope_has_none() -> None:
    payload = webhook(organization_id=None)
    routed = route(encode(payload), organization_id="org-conf")
    assert TransactionEvent.model_validate_json(routed.value).organization_id == "org-conf"


def test_qontos_organization_id_wins_over_the_configured_one() -> None:
    # The id sync reads from GET /v2/organization: both producers name the same organisation.
    routed = route(encode(webhook(organization_id="qonto-uuid")), organization_id="acme-login")
    assert TransactionEvent.model_validate_json(routed.value).organization_id == "qonto-uuid"


DOCUMENTED = Path(__file__).parents[2] / "fixtures" / "qonto" / "webhook_consent_revocations.json"


def test_a_consent_revocation_goes_to_the_events_topic_keyed_by_the_organization() -> None:
    body = DOCUMENTED.read_bytes()
    routed = route(body, connection_id="acme")
    assert routed.topic_kind == "events"
    assert routed.value == body  # byte for byte, as received
    assert routed.key == "0190a4f2-7c1e-7b3a-9d4e-5f6a7b8c9d01"  # no data.id: the organization
    assert routed.headers["event-type"] == "v1/consent-revocations"
    assert routed.headers["connection-id"] == "acme"


@pytest.mark.parametrize(
    ("fixture", "event_type", "key"),
    [
        ("webhook_accounts.json", "v1/accounts", "0193c4c1-0a9b-7c8d-9e0f-1a2b3c4d5e24"),
        ("webhook_clients.json", "v1/clients", "0195dc3e-68d6-7ab0-bfab-4a9403f7f316"),
        # no data.id: the link is payment_link_id
        ("webhook_payment_links.json", "v1/payment-links", "0196185a-4fa1-7324-9aed-0b0f6a65243e"),
    ],
)
def test_documented_accounts_clients_and_payment_links_go_to_the_events_topic(
    fixture: str, event_type: str, key: str
) -> None:
    body = (DOCUMENTED.parent / fixture).read_bytes()
    routed = route(body, connection_id="acme")
    assert (routed.topic_kind, routed.key, routed.value) == ("events", key, body)
    assert routed.headers["event-type"] == event_type
    assert routed.headers["connection-id"] == "acme"


def test_an_undocumented_status_is_kept_not_refused() -> None:
    routed = route(encode(webhook(data=transaction_data(status="reversed"))))
    assert TransactionEvent.model_validate_json(routed.value).transaction.status == "reversed"


@pytest.mark.parametrize("amount", [50.01, "50.01", "50,01", 5001 / 100])
def test_amount_variants_give_exact_cents(amount: Any) -> None:
    routed = route(encode(webhook(data=transaction_data(amount=amount))))
    assert TransactionEvent.model_validate_json(routed.value).transaction.amount_cents == 5001


def test_other_event_types_go_to_events_as_received_keyed_by_the_resource() -> None:
    body = b'{"id": "ev-9", "type": "v1/cards",  "data": {"id": "card-7", "x": 1.50}}'
    routed = route(body)
    assert (routed.topic_kind, routed.key, routed.value) == ("events", "card-7", body)
    assert routed.topic("T", "E") == "E"
    assert routed.headers["event-type"] == "v1/cards"
    assert route(b'{"id":"ev-8","type":"v1/organizations"}').key == "ev-8"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "invalid_json"),
        (b"not json", "invalid_json"),
        (b"\xff\xfe\x00", "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
        (b'{"id": 1' + b"0" * 5000 + b"}", "invalid_json"),
        (b"[]", "not_a_qonto_event"),
        (b'"x"', "not_a_qonto_event"),
        (b'{"type": "v1/cards"}', "not_a_qonto_event"),
        (b'{"id": "", "type": "v1/cards"}', "not_a_qonto_event"),
        (b'{"id": true, "type": "v1/cards"}', "not_a_qonto_event"),
        (b'{"id": "a\\u0000b", "type": "v1/cards"}', "not_a_qonto_event"),
        (b'{"id": "\\ud800", "type": "v1/cards"}', "invalid_json"),
        (b'{"id": "e", "type": 3}', "not_a_qonto_event"),
        (b'{"id": "e", "type": "v1/cards", "data": []}', "not_a_qonto_event"),
        (b'{"id": "e", "type": "v1/cards", "data": {"id": {"a": 1}}}', "not_a_qonto_event"),
        (b'{"id": "e", "type": "v1/transactions", "data": {}}', "invalid_transaction"),
    ],
)
def test_bad_bodies(body: bytes, code: str) -> None:
    with pytest.raises(PayloadError) as err:
        route(body)
    assert err.value.code == code


@pytest.mark.parametrize(
    "change",
    [
        {"id": None},
        {"side": "sideways"},
        {"amount": "cinquante"},
        {"amount": "50.001"},
        {"amount": None},
        {"amount": "NaN"},
        {"amount": "1e999999"},
        {"amount": True},
        {"updated_at": "yesterday"},
        {"updated_at": None},
        {"status": 7},
        {"amount_cents": "x"},
        {"amount_cents": float("inf")},
        {"amount": float("nan")},
        {"id": "tx\u0000"},
        {"label_ids": "x"},
    ],
)
def test_transactions_that_cannot_be_parsed(change: dict[str, Any]) -> None:
    data = transaction_data()
    data.update(change)
    with pytest.raises(PayloadError) as err:
        route(encode(webhook(data=data)))
    assert err.value.code in {"invalid_transaction", "not_a_qonto_event"}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_field_values = st.one_of(
    _json,
    st.sampled_from(
        [
            "50.01",
            "10,00",
            "-3",
            "1e5",
            "NaN",
            "inf",
            "",
            "credit",
            "DEBIT",
            "2025-01-24T10:55:00Z",
            "2025-01-24",
            "Transfer",
            "pending",
        ]
    ),
)
_transaction_like = st.fixed_dictionaries(
    {},
    optional={
        name: _field_values
        for name in (
            "id",
            "amount",
            "amount_cents",
            "local_amount",
            "side",
            "status",
            "updated_at",
            "settled_at",
            "subject_type",
            "bank_account",
            "currency",
            "vat_rate",
            "label_ids",
            "event",
        )
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_transaction_like, envelope=st.dictionaries(st.text(max_size=8), _json, max_size=3))
def test_property_transaction_payloads_raise_only_payload_errors(
    data: dict[str, Any], envelope: dict[str, Any]
) -> None:
    body = {**envelope, "id": "ev", "type": "v1/transactions", "data": data}
    try:
        routed = route(json.dumps(body).encode())
    except PayloadError:
        return
    # Whatever passes is a valid contract value.
    event = TransactionEvent.model_validate_json(routed.value)
    assert routed.key == event.transaction.id


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(st.binary(max_size=200), _json.map(lambda v: json.dumps(v).encode())))
def test_property_any_body_raises_only_payload_errors(body: bytes) -> None:
    with contextlib.suppress(PayloadError):
        route(body)
