"""qonto-ingest keeps its OpenAPI contract: for every operation, schemathesis's cases (from
the schema, negative ones and wrong methods included) get no 5xx, only documented statuses,
and bodies and headers as documented. The real app, on real PostgreSQL and Kafka.

Unsigned and wrongly signed webhooks are what a generator can make: the 401 paths of the
webhook routes are checked here; the signed paths are tests/ingest's business.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
import schemathesis
from schemathesis import checks
from starlette.types import ASGIApp

from qrecon.common import testing
from qrecon.ingest.adapters.http import serve_app
from qrecon.ingest.service import create_app
from qrecon.ingest.settings import IngestSettings

from .conftest import CONTRACT_SETTINGS, running

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


@pytest.fixture(scope="module")
def ingest_app(postgres_admin_dsn: str, kafka_bootstrap: str) -> Iterator[ASGIApp]:
    @contextlib.asynccontextmanager
    async def build() -> AsyncIterator[ASGIApp]:
        async with testing.fresh_database(postgres_admin_dsn) as database_url:
            settings = IngestSettings(
                database_url=database_url,
                kafka_bootstrap_servers=kafka_bootstrap,
                kafka_topic_prefix=testing.unique_prefix(),
                webhook_secret="contract-secret-0123456789abcdef",
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                yield serve_app(app)

    with running(build) as app:
        yield app


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, ingest_app: ASGIApp
) -> None:
    case.call_and_validate(app=ingest_app, checks=CHECKS)
