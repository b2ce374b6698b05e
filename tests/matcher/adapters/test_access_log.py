"""The review API logs every request (method, path, status, latency, actor) and counts
refused credentials by route and reason — never a token, a header value or a body."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr
from structlog.testing import capture_logs

from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.app.service import MatcherService

TOKEN = "access-log-token-0123456789"
WRONG = "not-the-token-9876543210"
BODY_SECRET = "body-text-that-must-not-be-logged"


async def _ready() -> dict[str, bool]:
    return {"postgres": True, "kafka": True}


@pytest.fixture
async def client(service: MatcherService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, api_token=SecretStr(TOKEN), readiness=_ready)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://matcher") as http:
        yield http


def _auth_failures(route: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "matcher_api_auth_failures_total", {"route": route, "reason": reason}
    )
    return value or 0.0


async def test_each_request_is_one_line_with_its_actor_and_no_secret(
    client: httpx.AsyncClient,
) -> None:
    with capture_logs() as lines:
        ok = await client.get(
            "/v1/suggestions?limit=5", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        missing = await client.post("/v1/transactions/tx-1/undo", json={"actor": BODY_SECRET})
    assert (ok.status_code, missing.status_code) == (200, 401)
    requests = [line for line in lines if line["event"] == "http_request"]
    assert [(r["method"], r["path"], r["status"], r["actor"]) for r in requests] == [
        ("GET", "/v1/suggestions", 200, "api_token"),
        ("POST", "/v1/transactions/tx-1/undo", 401, "anonymous"),
    ]
    assert all(r["latency_ms"] >= 0 for r in requests)
    assert requests[1]["auth_failure"] == "missing"
    logged = repr(lines)
    for secret in (TOKEN, BODY_SECRET, "limit=5"):
        assert secret not in logged


async def test_auth_failures_are_counted_by_route_and_reason(client: httpx.AsyncClient) -> None:
    route = "/v1/transactions/{transaction_id}/confirm"
    before = (_auth_failures(route, "missing"), _auth_failures(route, "invalid"))
    await client.post("/v1/transactions/a/confirm")
    await client.post("/v1/transactions/b/confirm", headers={"Authorization": "Basic x"})
    await client.post("/v1/transactions/c/confirm", headers={"Authorization": f"Bearer {WRONG}"})
    after = (_auth_failures(route, "missing"), _auth_failures(route, "invalid"))
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)
    exposition = (await client.get("/metrics")).text
    assert "matcher_api_auth_failures_total" in exposition
    assert WRONG not in exposition
    assert TOKEN not in exposition
