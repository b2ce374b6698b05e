"""The HTTP adapter through the ASGI app (httpx.ASGITransport), with an in-memory inbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qrecon.common.qonto.signature import signature_header
from qrecon.ingest.adapters.http import create_http_app
from qrecon.ingest.app.ports import InboxUnavailable
from qrecon.ingest.settings import Connection

from ..conftest import (
    ACME_SECRET,
    OLD_SECRET,
    SECRET,
    FakeRuntime,
    encode,
    signed_headers,
    transaction_data,
    webhook,
)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["detail"], str)


async def test_qontos_test_vector_passes_verification_through_the_app() -> None:
    runtime = FakeRuntime(
        connections={"default": Connection(id="default", secrets=(b"test-secret",))},
        clock=1704110400 + 30,
    )
    app = create_http_app(runtime)
    header = "t=1704110400,v1=56aff06dc227db80d6568a5070f912c601c31f20451745d257cbc0b5dfa93805"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        ok = await c.post(
            "/webhooks/qonto", content=b'{"test":"data"}', headers={"X-Qonto-Signature": header}
        )
        tampered = await c.post(
            "/webhooks/qonto", content=b'{"test":"date"}', headers={"X-Qonto-Signature": header}
        )
    # Authentic, but {"test":"data"} is not a Qonto event: 400, not 401.
    assert_error(ok, 400, "not_a_qonto_event")
    assert_error(tampered, 401, "invalid_signature")
    assert runtime.inbox.rows == {}


async def test_a_signed_transaction_is_stored_once_and_acknowledged_twice(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime
) -> None:
    body = encode(webhook(event_id="ev-1", data=transaction_data("tx-1")))
    first = await client.post("/webhooks/qonto", content=body, headers=signed_headers(body))
    again = await client.post("/webhooks/qonto", content=body, headers=signed_headers(body))
    assert first.status_code == 200
    assert first.json() == {"status": "accepted", "event_id": "ev-1", "duplicate": False}
    assert again.json() == {"status": "accepted", "event_id": "ev-1", "duplicate": True}
    [(topic, routed)] = fake_runtime.inbox.rows.values()
    assert topic == "fake.qonto.transactions.v1"
    assert routed.key == "tx-1"


async def test_other_types_rotation_and_named_connections(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime
) -> None:
    card = encode(webhook("v1/cards", event_id="ev-c", data={"id": "card-1"}))
    r1 = await client.post(
        "/webhooks/qonto", content=card, headers=signed_headers(card, OLD_SECRET)
    )
    tx = encode(webhook(event_id="ev-t", organization_id=None))
    r2 = await client.post(
        "/webhooks/qonto/acme", content=tx, headers=signed_headers(tx, ACME_SECRET)
    )
    r3 = await client.post("/webhooks/qonto/acme", content=tx, headers=signed_headers(tx, SECRET))
    assert (r1.status_code, r2.status_code) == (200, 200)
    assert_error(r3, 401, "invalid_signature")  # another connection's secret
    rows = fake_runtime.inbox.rows
    assert rows["default", "ev-c"][0] == "fake.qonto.events.v1"
    assert rows["default", "ev-c"][1].value == card
    acme = json.loads(rows["acme", "ev-t"][1].value)
    assert (acme["connection_id"], acme["organization_id"]) == ("acme", "o2")


async def test_a_consent_revocation_is_stored_for_the_events_topic_and_counted(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime
) -> None:
    revocation = encode(
        webhook(
            "v1/consent-revocations",
            event_id="ev-revoked",
            data={"client_id": "client-1", "revoked_at": "2025-05-02T07:48:12Z"},
        )
    )
    for _ in range(2):  # a redelivery is acknowledged, counted once
        response = await client.post(
            "/webhooks/qonto/acme",
            content=revocation,
            headers=signed_headers(revocation, ACME_SECRET),
        )
        assert response.status_code == 200
    topic, record = fake_runtime.inbox.rows["acme", "ev-revoked"][:2]
    assert topic == "fake.qonto.events.v1"
    assert record.value == revocation
    assert record.key == "org-1"  # the organization it revokes
    metrics = (await client.get("/metrics")).text
    assert 'ingest_consent_revocations_total{connection="acme"} 1.0' in metrics


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_signature"),
        ({"X-Qonto-Signature": "v1=abc"}, "malformed_signature"),
        ({"X-Qonto-Signature": "t=now,v1=" + "a" * 64}, "malformed_signature"),
        ({"X-Qonto-Signature": "t=1704110400,v1=" + "a" * 64}, "stale_timestamp"),
    ],
)
async def test_bad_signature_headers_are_401(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime, headers: dict[str, str], code: str
) -> None:
    body = encode(webhook())
    assert_error(await client.post("/webhooks/qonto", content=body, headers=headers), 401, code)
    assert fake_runtime.inbox.rows == {}


@pytest.mark.parametrize("skew", [-301, 301, 86400 * 365])
async def test_stale_and_future_timestamps_are_401(client: httpx.AsyncClient, skew: int) -> None:
    body = encode(webhook())
    now = int(fake_now())
    headers = signed_headers(body, timestamp=now + skew)
    assert_error(
        await client.post("/webhooks/qonto", content=body, headers=headers), 401, "stale_timestamp"
    )


def fake_now() -> float:
    return FakeRuntime().now()


async def test_wrong_signature_is_401(client: httpx.AsyncClient) -> None:
    body = encode(webhook())
    headers = signed_headers(body, "not-the-secret")
    assert_error(
        await client.post("/webhooks/qonto", content=body, headers=headers),
        401,
        "invalid_signature",
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b'{"hello": "world"}', "not_a_qonto_event"),
        (encode(webhook(data={"id": "tx", "event": "created"})), "invalid_transaction"),
    ],
)
async def test_signed_bad_bodies_are_400(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime, body: bytes, code: str
) -> None:
    response = await client.post("/webhooks/qonto", content=body, headers=signed_headers(body))
    assert_error(response, 400, code)
    assert fake_runtime.inbox.rows == {}


async def test_unknown_connection_is_404(client: httpx.AsyncClient) -> None:
    body = encode(webhook())
    response = await client.post(
        "/webhooks/qonto/nobody", content=body, headers=signed_headers(body)
    )
    assert_error(response, 404, "unknown_connection")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_non_json_content_types_are_415(client: httpx.AsyncClient, content_type: str) -> None:
    body = encode(webhook())
    headers = {**signed_headers(body), "Content-Type": content_type}
    assert_error(
        await client.post("/webhooks/qonto", content=body, headers=headers),
        415,
        "unsupported_media_type",
    )


@pytest.mark.parametrize(
    "content_type", [None, "application/json; charset=utf-8", "application/vnd.qonto+json"]
)
async def test_json_or_absent_content_types_pass(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    body = encode(webhook())
    headers = signed_headers(body)
    del headers["Content-Type"]
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post("/webhooks/qonto", content=body, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_wrong_methods_are_405(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/webhooks/qonto/acme")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


async def test_unknown_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/nothing"), 404, "not_found")


async def _call_raw(
    app: FastAPI, headers: list[tuple[bytes, bytes]], chunks: int
) -> tuple[int, int]:
    """Drive the ASGI app directly; returns (status, how many body chunks it pulled)."""
    pulled = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/qonto",
        "raw_path": b"/webhooks/qonto",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return status, pulled


async def test_413_on_content_length_without_reading_the_body(fake_app: FastAPI) -> None:
    headers = [
        (b"content-length", b"104857600"),
        (b"content-type", b"application/json"),
        (b"x-qonto-signature", signed_headers(b"")["X-Qonto-Signature"].encode()),
    ]
    status, pulled = await _call_raw(fake_app, headers, chunks=1600)
    assert (status, pulled) == (413, 0)


async def test_413_on_a_chunked_body_stops_reading_at_the_limit(fake_app: FastAPI) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"x-qonto-signature", signed_headers(b"")["X-Qonto-Signature"].encode()),
    ]
    status, pulled = await _call_raw(fake_app, headers, chunks=1600)  # 100 MiB offered
    assert status == 413
    assert pulled == 17  # 16 chunks of 64 KiB fill 1 MiB; the 17th crosses the limit


async def test_the_limit_is_configurable(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime
) -> None:
    fake_runtime.max_body_bytes = 100
    body = encode(webhook())
    assert_error(
        await client.post("/webhooks/qonto", content=body, headers=signed_headers(body)),
        413,
        "payload_too_large",
    )


async def test_an_event_too_large_for_kafka_is_413_not_acknowledged(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime
) -> None:
    fake_runtime.max_record_bytes = 2000
    body = encode(webhook("v1/cards", data={"id": "c", "blob": "x" * 2000}))
    response = await client.post("/webhooks/qonto", content=body, headers=signed_headers(body))
    assert_error(response, 413, "payload_too_large")
    assert fake_runtime.inbox.rows == {}


async def test_inbox_unavailable_is_503(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime
) -> None:
    body = encode(webhook())
    fake_runtime.inbox.fail = InboxUnavailable("down")
    assert_error(await client.post("/webhooks/qonto", content=body, headers=signed_headers(body)),
                 503, "unavailable")  # fmt: skip
    assert fake_runtime.inbox.rows == {}


async def test_health_readiness_metrics_and_openapi(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.json() == {"status": "ready", "checks": {"postgres": True, "kafka": True}}
    fake_runtime.ready["kafka"] = False
    assert_error(await client.get("/readyz"), 503, "not_ready")
    await client.post("/webhooks/qonto", content=b"{}", headers={"X-Qonto-Signature": "t=1"})
    metrics = (await client.get("/metrics")).text
    assert 'ingest_webhooks_rejected_total{reason="malformed_signature"}' in metrics
    assert "ingest_ack_latency_seconds_bucket" in metrics
    spec = (await client.get("/openapi.json")).json()
    assert {"/webhooks/qonto", "/webhooks/qonto/{connection_id}", "/readyz"} <= set(spec["paths"])


# -- property: nothing a client sends produces a 5xx or an escaping exception ------------

_paths = st.sampled_from(["/webhooks/qonto", "/webhooks/qonto/acme", "/webhooks/qonto/zz"])
_signatures = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120),
    st.just("valid"),
)
_bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda e, d: encode(webhook(e, data=d)),
        st.sampled_from(["v1/transactions", "v1/cards", ""]),
        st.dictionaries(
            st.sampled_from(["id", "amount", "side", "updated_at", "event"]),
            st.one_of(st.none(), st.text(max_size=12), st.integers(), st.floats()),
            max_size=5,
        ),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=_paths,
    signature=_signatures,
    body=_bodies,
    content_type=st.sampled_from([None, "application/json", "text/html", "\x7f"]),
)
def test_property_no_input_gives_a_5xx(
    path: str, signature: str | None, body: bytes, content_type: str | None
) -> None:
    runtime = FakeRuntime()
    app = create_http_app(runtime)
    headers: dict[str, str] = {}
    if signature == "valid":
        secret = ACME_SECRET if path.endswith("acme") else SECRET
        headers["X-Qonto-Signature"] = signature_header(secret, body, int(runtime.now()))
    elif signature is not None:
        headers["X-Qonto-Signature"] = signature
    if content_type is not None:
        headers["Content-Type"] = content_type

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            return await c.post(path, content=body, headers=headers)

    response = asyncio.run(go())
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    "raw",
    [
        b'"amount_cents":1000000000000000000000000000000',
        b'"amount":1e999999',
        b'"custom":1e999999',
        b'"id":"tx\\u0000"',
    ],
)
async def test_signed_poison_transactions_are_400_and_never_stored(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime, raw: bytes
) -> None:
    # out-of-range amounts, numbers JSON parses as infinity, a NUL in the id
    key = raw.split(b":", 1)[0][1:-1].decode()
    data = {k: v for k, v in transaction_data().items() if k != key}
    body = encode(webhook(data=data)).replace(b'"data":{', b'"data":{' + raw + b",", 1)
    response = await client.post("/webhooks/qonto", content=body, headers=signed_headers(body))
    assert_error(response, 400, "invalid_transaction")
    assert fake_runtime.inbox.rows == {}


async def test_a_nul_in_a_label_is_removed_and_the_transaction_kept(
    client: httpx.AsyncClient, fake_runtime: FakeRuntime
) -> None:
    body = encode(webhook(data=transaction_data("tx-nul", label="Fournisseur\x00 SARL")))
    response = await client.post("/webhooks/qonto", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    [(_, routed)] = fake_runtime.inbox.rows.values()
    assert json.loads(routed.value)["transaction"]["label"] == "Fournisseur SARL"
    assert b"\\u0000" not in routed.value
