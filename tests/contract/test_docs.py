"""What every service (and the emulator) publishes about its HTTP API, checked without
servers: the docs page works offline, documented header examples can be sent as headers,
errors are documented with the one error body, and a wrong method says what is allowed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from qrecon.ingest.adapters.http import serve_app
from qrecon.ingest.bootstrap import create_app as create_ingest
from qrecon.ingest.settings import IngestSettings
from qrecon.matcher.adapters.http import create_app as create_matcher
from qrecon.sim.app import create_app as create_sim
from qrecon.sim.state import Simulator
from qrecon.sync.adapters.http import create_app as create_sync
from qrecon.sync.bootstrap import SyncService
from qrecon.sync.settings import SyncSettings

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


async def _ready() -> dict[str, bool]:
    return {"postgres": True}


def ingest() -> FastAPI:
    return create_ingest(IngestSettings(webhook_secret="docs-secret"))


def sync() -> FastAPI:
    return create_sync(SyncService(SyncSettings(_env_file=None, admin_token="t")))


class _NoService:
    """Routes that would reach the service are not called here."""

    default_organization = None


def matcher() -> FastAPI:
    return create_matcher(_NoService(), api_token=SecretStr("t"), readiness=_ready)  # type: ignore[arg-type]


def sim() -> FastAPI:
    return create_sim(Simulator())


SERVICES: dict[str, Callable[[], FastAPI]] = {"ingest": ingest, "sync": sync, "matcher": matcher}
EVERY_APP: dict[str, Callable[[], FastAPI]] = {**SERVICES, "qonto-sim": sim}


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


@pytest.mark.parametrize("name", EVERY_APP)
async def test_the_docs_page_loads_nothing_from_another_host(name: str) -> None:
    app = EVERY_APP[name]()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc"
    ) as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
        assert assets, page.text
        for asset in assets:
            assert not re.match(r"^(https?:)?//", asset), asset
            assert (await http.get(asset)).status_code == 200, asset
        assert "cdn" not in page.text.lower()


@pytest.mark.parametrize("name", EVERY_APP)
def test_documented_header_examples_can_be_sent_as_headers(name: str) -> None:
    spec = EVERY_APP[name]().openapi()
    for path, method, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "header":
                continue
            schema = parameter.get("schema", {})
            for example in [parameter.get("example"), schema.get("example")]:
                if example is not None:
                    assert str(example).isascii(), (path, method, parameter["name"])


@pytest.mark.parametrize("name", SERVICES)
def test_every_operation_documents_its_errors_with_the_one_error_body(name: str) -> None:
    spec = SERVICES[name]().openapi()
    assert spec["components"]["schemas"]["ErrorBody"]["properties"]["error"] == {
        "$ref": "#/components/schemas/ErrorDetail"
    }
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        assert "500" in responses, (path, method)
        for status, response in responses.items():
            if int(status) < 400 or (path == "/readyz" and name == "matcher"):
                continue  # the matcher's /readyz answers its probe body, also when not ready
            schema = response["content"]["application/json"]["schema"]
            assert schema == ERROR_BODY, (path, method, status)
        if operation.get("security"):
            assert "401" in responses, (path, method)
            assert "WWW-Authenticate" in responses["401"]["headers"]


@pytest.mark.parametrize(
    ("name", "path", "allowed"),
    [
        ("ingest", "/webhooks/qonto", "POST"),
        ("ingest", "/webhooks/qonto/acme", "POST"),
        ("ingest", "/readyz", "GET"),
        ("sync", "/readyz", "GET"),
        ("sync", "/v1/status", "GET"),
        ("matcher", "/v1/transactions/x/confirm", "POST"),
        ("matcher", "/healthz", "GET"),
    ],
)
async def test_a_wrong_method_gets_405_saying_what_is_allowed(
    name: str, path: str, allowed: str
) -> None:
    app = SERVICES[name]()
    served = serve_app(app) if name == "ingest" else app  # ingest's webhook fast path first
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=served), base_url="http://svc"
    ) as http:
        # The review API checks its token before routing (an anonymous caller learns
        # nothing, not even which methods a route has): the 405 is for a signed-in caller.
        response = await http.request("PUT", path, headers={"Authorization": "Bearer t"})
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()["error"]) >= {"code", "detail"}
