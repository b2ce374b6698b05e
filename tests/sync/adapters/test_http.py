"""Sync's HTTP surface: the open probes say ready or not and nothing more; the details
(accounts, replicas, errors) need the admin token; every error has the common body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from qrecon.sync.adapters.http import create_app
from qrecon.sync.bootstrap import SyncService
from qrecon.sync.settings import SyncSettings

TOKEN = "admin-token-0123456789"
DETAILS: dict[str, Any] = {
    "postgres": "ok",
    "kafka": "error: KafkaConnectionError",
    "replica": {"id": "host-1-abc", "live_replicas": 2},
    "connections": {
        "acme": {
            "ready": True,
            "accounts": {"acc-secret-1": {"owner": "host-2-def", "last_error": "HTTP 500"}},
            "last_error": None,
        }
    },
    "ready": False,
}


class StubService(SyncService):
    """The real app over a service whose readiness is given (no server needed)."""

    def __init__(self, details: dict[str, Any], token: str | None) -> None:
        super().__init__(SyncSettings(_env_file=None, admin_token=token))
        self.details = details

    async def readiness(self) -> dict[str, Any]:
        return self.details


async def client_for(details: dict[str, Any], token: str | None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(StubService(details, token)))
    return httpx.AsyncClient(transport=transport, base_url="http://sync")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(DETAILS, TOKEN) as http:
        yield http


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["detail"], str)
    return body


async def test_readyz_says_which_dependency_is_down_and_names_nothing_else(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")
    body = assert_error(response, 503, "not_ready")
    assert body["checks"] == {"postgres": True, "kafka": False}
    for secret in ("acc-secret-1", "host-1-abc", "host-2-def", "HTTP 500", "KafkaConnection"):
        assert secret not in response.text


async def test_readyz_when_ready() -> None:
    async with await client_for({**DETAILS, "kafka": "ok", "ready": True}, TOKEN) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"postgres": True, "kafka": True},
        "connections": {},
    }


async def test_readyz_gives_each_connections_state_and_stays_ready_when_one_is_revoked() -> None:
    connections = {
        "acme": {"state": "polling", "last_error": None},
        "beta": {"state": "revoked", "revoked_at": "2025-05-02T07:48:12+00:00"},
        "gamma": {"state": "backfilling"},
        "delta": {"state": "failing", "last_error": "QontoAuthError: secret detail"},
    }
    details = {**DETAILS, "kafka": "ok", "ready": True, "connections": connections}
    async with await client_for(details, TOKEN) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["connections"] == {
        "acme": "polling",
        "beta": "revoked",
        "gamma": "backfilling",
        "delta": "failing",
    }
    assert "secret detail" not in response.text  # the state, never the error


async def test_status_gives_the_details_to_the_administrator_only(
    client: httpx.AsyncClient,
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = await client.get("/v1/status", headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        assert "acc-secret-1" not in response.text
    response = await client.get("/v1/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.json() == DETAILS
    metrics = (await client.get("/metrics")).text
    assert "qonto_sync_http_unauthorized_total 3.0" in metrics


@pytest.mark.parametrize("token", [None, ""])
async def test_without_an_admin_token_the_status_route_does_not_exist(token: str | None) -> None:
    async with await client_for(DETAILS, token) as http:
        response = await http.get("/v1/status", headers={"Authorization": "Bearer "})
    assert_error(response, 404, "not_found")


async def test_unknown_paths_and_wrong_methods_get_the_common_error_body(
    client: httpx.AsyncClient,
) -> None:
    assert_error(await client.get("/nowhere"), 404, "not_found")
    response = await client.post("/readyz")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


async def test_health_metrics_and_a_documented_contract(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    metrics = await client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    spec = (await client.get("/openapi.json")).json()
    status = spec["paths"]["/v1/status"]["get"]
    assert {"200", "401", "404", "500"} <= set(status["responses"])
    assert status["security"] == [{"HTTPBearer": []}]
    ready = spec["paths"]["/readyz"]["get"]["responses"]
    assert ready["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
