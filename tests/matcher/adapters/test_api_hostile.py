"""The review API under hostile input: the token is checked before the body is read, bodies
are capped, validation errors never echo the input, and no bad input over any route gets a
5xx or a non-JSON answer. Real PostgreSQL, the app in-process."""

from __future__ import annotations

import base64
import json
import typing
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, SecretStr
from starlette.types import Message

from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.app.service import MatcherService

from .factories import invoice, invoice_event, transaction, tx_event

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CAP = 64 * 1024
DECISIONS = ("confirm", "reject", "match", "undo")
INVOICE = invoice("FAC-2025-1300", 150000, counterparty="Garage Petit")


async def _ready() -> dict[str, bool]:
    return {"postgres": True, "kafka": True}


@pytest.fixture
async def app(service: MatcherService) -> FastAPI:
    await service.handle_invoice_event(invoice_event(INVOICE))
    return create_app(service, api_token=SecretStr(TOKEN), readiness=_ready, max_body_bytes=CAP)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://matcher") as http:
        yield http


async def _decided(service: MatcherService) -> str:
    tx = transaction(12345, counterparty="Garage Petit")
    await service.handle_transaction_event(tx_event(tx))
    return tx.id


def _assert_json_error(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    if status is not None:
        assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body["error"]) >= {"code", "detail"}
    return body


# ---------------------------------------------------------------------- auth before body
async def test_an_anonymous_truncated_body_is_401_not_422(client: httpx.AsyncClient) -> None:
    for action in DECISIONS:
        response = await client.post(
            f"/v1/transactions/x/{action}",
            content=b'{"actor": "trunc',
            headers={"Content-Type": "application/json"},
        )
        assert _assert_json_error(response, 401)["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


class _EndlessBody:
    """An ASGI ``receive`` that streams 1 MiB chunks for ever, counting what was read."""

    def __init__(self, chunk: int = 1 << 20) -> None:
        self.chunk = b"x" * chunk
        self.read = 0

    async def __call__(self) -> Message:
        self.read += len(self.chunk)
        return {"type": "http.request", "body": self.chunk, "more_body": True}


async def _call(app: FastAPI, headers: dict[str, str], receive: Any) -> tuple[int, bytes]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/transactions/x/undo",
        "raw_path": b"/v1/transactions/x/undo",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("matcher", 80),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


async def test_an_endless_anonymous_body_is_refused_without_reading_it(app: FastAPI) -> None:
    receive = _EndlessBody()
    status, body = await _call(app, {"Content-Type": "application/json"}, receive)
    assert status == 401
    assert json.loads(body)["error"]["code"] == "unauthorized"
    assert receive.read == 0


async def test_an_endless_authorised_body_is_read_only_up_to_the_cap(app: FastAPI) -> None:
    receive = _EndlessBody()
    status, body = await _call(app, {**AUTH, "Content-Type": "application/json"}, receive)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    # the first chunk already passes the cap: nothing more is pulled from the client
    assert receive.read == len(receive.chunk)
    # a declared length over the cap (or not a length) is refused before reading a byte
    for length in (str(56 << 20), "9" * 5000, "-1", "0x10"):
        receive = _EndlessBody()
        status, _ = await _call(app, {**AUTH, "Content-Length": length}, receive)
        assert (status, receive.read) == (413, 0), length


async def test_a_body_at_the_cap_is_read(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    tx_id = await _decided(service)
    body = b'{"actor": "desk"}'.ljust(CAP)
    headers = {**AUTH, "Content-Type": "application/json"}
    url = f"/v1/transactions/{tx_id}/undo"
    at_cap = await client.post(url, content=body, headers=headers)
    assert at_cap.status_code == 409, at_cap.text  # read and decided: nothing to undo
    over = await client.post(url, content=body + b" ", headers=headers)
    assert _assert_json_error(over, 413)["error"]["code"] == "payload_too_large"


async def test_a_huge_actor_is_422_and_never_echoed(service: MatcherService) -> None:
    app = create_app(service, api_token=SecretStr(TOKEN), readiness=_ready)  # default cap
    actor = "A" * 1_000_000
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://matcher"
    ) as http:
        response = await http.post(
            "/v1/transactions/x/confirm", json={"actor": actor}, headers=AUTH
        )
    body = _assert_json_error(response, 422)
    assert len(response.content) < 2000
    assert "AAAA" not in response.text
    assert body["error"]["errors"][0]["loc"] == ["body", "actor"]


async def test_lists_in_bodies_are_bounded(
    client: httpx.AsyncClient, service: MatcherService
) -> None:
    tx_id = await _decided(service)
    ids = [f"inv-{i}" for i in range(101)]
    reject = await client.post(
        f"/v1/transactions/{tx_id}/reject", json={"invoice_ids": ids}, headers=AUTH
    )
    _assert_json_error(reject, 422)
    allocations = [{"invoice_id": i, "amount_cents": 1} for i in ids]
    match = await client.post(
        f"/v1/transactions/{tx_id}/match", json={"allocations": allocations}, headers=AUTH
    )
    _assert_json_error(match, 422)


async def test_an_unexpected_error_is_a_json_500_without_traceback(
    client: httpx.AsyncClient, service: MatcherService, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("internal detail: password=hunter2")

    monkeypatch.setattr(service.for_organization().reviews, "undo", broken)
    response = await client.post("/v1/transactions/x/undo", headers=AUTH)
    assert _assert_json_error(response, 500)["error"]["code"] == "internal_error"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


# ---------------------------------------------------------------------- the sweep
def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


EDGE_STAMPS = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00")
BAD_STRINGS = (
    "\x00",
    "inv\x00-1",
    "a\x01b",
    "tab\there",
    "\x7f",
    "\u0085",
    "x" * 100_000,
    *EDGE_STAMPS,
    "",
    " ",
    "../../etc/passwd",
    "%00",
    _cursor([EDGE_STAMPS[0], "t"]),
    _cursor([EDGE_STAMPS[1], "t"]),
    _cursor(["2025-01-01T00:00:00+00:00", "t\x00"]),
    _cursor(["2025-01-01T00:00:00+00:00", 5]),
    _cursor([1, 2, 3]),
    _cursor({"a": 1}),
    "!!!not base64!!!",
    "AAAA",
)
BAD_NUMBERS: tuple[Any, ...] = (10**30, -(10**30), 2**63, -1, 0, 1.5, 1e308, True)
BAD_VALUES: tuple[Any, ...] = (
    *BAD_STRINGS,
    *BAD_NUMBERS,
    None,
    [],
    {},
    ["\x00"],
    [{"invoice_id": "\x00", "amount_cents": 1}],
    ["x"] * 10_000,
)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _bad_objects(model: type[BaseModel], depth: int = 0) -> Iterator[Any]:
    """Objects of ``model``'s shape with one field bad at a time, nested models too."""
    for name, field in model.model_fields.items():
        for value in BAD_VALUES:
            yield {name: value}
        nested = _model_of(field.annotation)
        if nested is not None and depth < 2:
            for inner in _bad_objects(nested, depth + 1):
                yield {name: [inner]}
                yield {name: inner}


def _bad_bodies(route: APIRoute) -> Iterator[bytes]:
    yield b'{"truncated": '
    yield b"\xff\xfe not utf-8"
    yield b'"\\ud800"'
    yield b"[" * 10_000
    for value in (None, [], "x", 1, 1e999999, {"a": "\x00"}):
        yield json.dumps(value).encode()
    if route.body_field is not None:
        model = _model_of(route.body_field.field_info.annotation)
        if model is not None:
            for obj in _bad_objects(model):
                yield json.dumps(obj).encode()


def _path(route: APIRoute, good: str, bad: str | None = None) -> str:
    path = route.path_format
    for name in route.param_convertors:
        path = path.replace("{" + name + "}", quote(good if bad is None else bad, safe=""))
    return path


def _routes(app: FastAPI) -> list[APIRoute]:
    return [route for route in app.routes if isinstance(route, APIRoute)]


async def test_no_bad_input_over_any_route_is_a_5xx_or_not_json(
    app: FastAPI, client: httpx.AsyncClient, service: MatcherService
) -> None:
    tx_id = await _decided(service)
    routes = _routes(app)
    assert {r.path for r in routes} >= {"/v1/transactions/{transaction_id}/match", "/healthz"}
    requests = 0
    for route in routes:
        for method in route.methods:
            good = tx_id if "transaction" in route.path else INVOICE.id
            calls: list[tuple[str, dict[str, str], bytes | None]] = []
            if route.param_convertors:
                calls += [(_path(route, good, bad[:5000]), {}, None) for bad in BAD_STRINGS]
            for param in route.dependant.query_params:
                calls += [
                    (_path(route, good), {param.name: str(bad)[:5000]}, None) for bad in BAD_VALUES
                ]
            if method == "POST":
                calls += [(_path(route, good), {}, body) for body in _bad_bodies(route)]
            for path, params, content in calls:
                response = await client.request(
                    method,
                    path,
                    params=params,
                    content=content,
                    headers={**AUTH, "Content-Type": "application/json"},
                )
                requests += 1
                where = (method, route.path, params, (content or b"")[:80])
                assert response.status_code < 500 or route.path == "/readyz", where
                if response.status_code >= 400:
                    assert "error" in response.json(), where
    assert requests > 500  # the sweep really ran
