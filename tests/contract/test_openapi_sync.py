"""qonto-sync keeps its OpenAPI contract: for every operation, schemathesis's cases (from
the schema, negative ones and wrong methods included) get no 5xx, only documented statuses,
and bodies and headers as documented. The real service on real PostgreSQL and Kafka (no
Qonto connection: the probes, the status and the metrics are what is served)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
import schemathesis
from schemathesis import checks
from starlette.types import ASGIApp

from qrecon.common import testing
from qrecon.sync.adapters.http import create_app
from qrecon.sync.bootstrap import SyncService
from qrecon.sync.settings import SyncSettings

from .conftest import CONTRACT_SETTINGS, running, until_ready

TOKEN = "contract-admin-token-0123456789"
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
schema = schemathesis.openapi.from_dict(
    create_app(SyncService(SyncSettings(_env_file=None, admin_token=TOKEN))).openapi()
)


@pytest.fixture(scope="module")
def sync_app(postgres_admin_dsn: str, kafka_bootstrap: str) -> Iterator[ASGIApp]:
    @contextlib.asynccontextmanager
    async def build() -> AsyncIterator[ASGIApp]:
        async with testing.fresh_database(postgres_admin_dsn) as database_url:
            prefix = (
                await testing.provision_topics(kafka_bootstrap, testing.unique_prefix())
            ).prefix
            settings = SyncSettings(
                _env_file=None,
                database_url=database_url,
                kafka_bootstrap_servers=kafka_bootstrap,
                kafka_topic_prefix=prefix,
                consumer_group=f"{prefix}sync-seen",
                admin_token=TOKEN,
            )
            async with SyncService(settings) as service:
                app = create_app(service)
                await until_ready(app)
                yield app

    with running(build) as app:
        yield app


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_answers_as_documented(case: schemathesis.Case, sync_app: ASGIApp) -> None:
    case.call_and_validate(app=sync_app, checks=CHECKS)


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_answers_an_administrator_as_documented(
    case: schemathesis.Case, sync_app: ASGIApp
) -> None:
    case.call_and_validate(
        app=sync_app, checks=CHECKS, headers={"Authorization": f"Bearer {TOKEN}"}
    )
