"""qonto-ingest keeps its OpenAPI contract: for every operation, schemathesis's cases (from
the schema, negative ones and wrong methods included) get no 5xx, only documented statuses,
and bodies and headers as documented. The real app, on real PostgreSQL and Kafka.

Twice: as generated (no or wrong signatures: the 401 paths), and with every webhook signed
with the connection's secret on its way in (a generator cannot sign), so bodies reach the
parsing and the inbox: 200 for a Qonto event, 400 for the rest.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import schemathesis
from schemathesis import checks
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qrecon.common import testing
from qrecon.common.qonto.signature import SIGNATURE_HEADER, signature_header
from qrecon.ingest.adapters.http import serve_app
from qrecon.ingest.bootstrap import create_app
from qrecon.ingest.settings import IngestSettings

from .conftest import CONTRACT_SETTINGS, running, until_ready

SECRET = "contract-secret-0123456789abcdef"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.unsupported_method,
    checks.allow_header_conformance,
]

# The contract is the app's own OpenAPI (building it touches no server).
schema = schemathesis.openapi.from_dict(create_app(IngestSettings(webhook_secret="x")).openapi())


class Signing:
    """Signs every POST body with ``secret`` (now), as Qonto would, replacing any signature."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        signature = signature_header(self.secret, body, int(time.time()))
        name = SIGNATURE_HEADER.lower().encode()
        headers = [(k, v) for k, v in scope["headers"] if k != name]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        signed = {**scope, "headers": [*headers, (name, signature.encode())]}
        await self.app(signed, replay, send)


def ingest(postgres_admin_dsn: str, kafka_bootstrap: str, *, signed: bool) -> Iterator[ASGIApp]:
    @contextlib.asynccontextmanager
    async def build() -> AsyncIterator[ASGIApp]:
        async with testing.fresh_database(postgres_admin_dsn) as database_url:
            topics = await testing.provision_topics(kafka_bootstrap, testing.unique_prefix())
            settings = IngestSettings(
                database_url=database_url,
                kafka_bootstrap_servers=kafka_bootstrap,
                kafka_topic_prefix=topics.prefix,
                webhook_secret=SECRET,
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                await until_ready(serve_app(app))
                yield Signing(serve_app(app), SECRET) if signed else serve_app(app)

    with running(build) as app:
        yield app


@pytest.fixture(scope="module")
def ingest_app(postgres_admin_dsn: str, kafka_bootstrap: str) -> Iterator[ASGIApp]:
    yield from ingest(postgres_admin_dsn, kafka_bootstrap, signed=False)


@pytest.fixture(scope="module")
def signing_ingest_app(postgres_admin_dsn: str, kafka_bootstrap: str) -> Iterator[ASGIApp]:
    yield from ingest(postgres_admin_dsn, kafka_bootstrap, signed=True)


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, ingest_app: ASGIApp
) -> None:
    case.call_and_validate(app=ingest_app, checks=CHECKS)


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_answers_signed_webhooks_as_documented(
    case: schemathesis.Case, signing_ingest_app: ASGIApp
) -> None:
    case.call_and_validate(app=signing_ingest_app, checks=CHECKS)
