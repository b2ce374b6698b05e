"""qonto-ingest keeps its OpenAPI contract: for every operation, schemathesis's cases (from
the schema, negative ones and wrong methods included) get no 5xx, only documented statuses,
and bodies and headers as documented. The real app, on real PostgreSQL and Kafka.

Unsigned and wrongly signed webhooks are what a generator can make: the 401 paths of the
webhook routes are checked here; the signed paths are tests/ingest's business.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis import checks
from starlette.types import ASGIApp

from qrecon.common.topics import Topics
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


@pytest.fixture
def ingest_app(database_url: str, kafka_bootstrap: str, topics: Topics) -> Iterator[ASGIApp]:
    settings = IngestSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topics.prefix,
        webhook_secret="contract-secret-0123456789abcdef",
    )
    with running(serve_app(create_app(settings))) as app:
        yield app


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, ingest_app: ASGIApp
) -> None:
    case.call_and_validate(app=ingest_app, checks=CHECKS)
