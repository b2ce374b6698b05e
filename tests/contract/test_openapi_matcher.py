"""The matcher's review API keeps its OpenAPI contract: for every operation, schemathesis's
cases (from the schema, negative ones and wrong methods included) get no 5xx, only
documented statuses, and bodies and headers as documented; once with the generated
credentials (mostly refused) and once with the right bearer token, so the handlers behind
authentication are reached. The real service and engine on real PostgreSQL, with a few
invoices and bank lines decided, so listings have items."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from pydantic import SecretStr
from schemathesis import checks
from starlette.types import ASGIApp

from qrecon.common import testing
from qrecon.common.db import create_pool
from qrecon.common.schemas import Invoice, InvoiceEvent, QontoTransaction, TransactionEvent
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.bootstrap import build_service, migrate
from qrecon.matcher.core import EngineConfig, MatchingEngine

from .conftest import CONTRACT_SETTINGS, running

TOKEN = "contract-review-token-0123456789"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.unsupported_method,
    checks.allow_header_conformance,
]
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Placeholder:
    """Stands for the service while only the OpenAPI is built (no route runs)."""

    default_organization = None


async def _always_ready() -> dict[str, bool]:
    return {"postgres": True}


# The contract is the app's own OpenAPI (building it touches no server).
schema = schemathesis.openapi.from_dict(
    create_app(
        Placeholder(),  # type: ignore[arg-type]
        api_token=SecretStr(TOKEN),
        readiness=_always_ready,
    ).openapi()
)


def _invoice(number: str, amount_cents: int, counterparty: str) -> InvoiceEvent:
    issued = date(2026, 2, 16)
    invoice = Invoice.model_validate(
        {
            "id": f"inv-{number}",
            "number": number,
            "kind": "receivable",
            "counterparty_name": counterparty,
            "amount_cents": amount_cents,
            "currency": "EUR",
            "issue_date": issued,
            "due_date": issued + timedelta(days=30),
            "status": "open",
        }
    )
    return InvoiceEvent(event_type="invoice.upsert", invoice=invoice, observed_at=BASE)


def _credit(amount_cents: int, counterparty: str, reference: str | None = None) -> TransactionEvent:
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "transaction_id": f"tx-{uuid.uuid4().hex[:8]}",
        "amount_cents": amount_cents,
        "currency": "EUR",
        "side": "credit",
        "operation_type": "transfer",
        "status": "completed",
        "label": counterparty,
        "clean_counterparty_name": counterparty,
        "reference": reference,
        "settled_at": BASE,
        "emitted_at": BASE,
        "updated_at": BASE,
        "subject_type": "transfer",
    }
    return TransactionEvent(
        event_id=str(uuid.uuid4()),
        source="webhook",
        transaction=QontoTransaction.model_validate(data),
        observed_at=BASE,
    )


async def _seed(service: MatcherService) -> None:
    for event in (
        _invoice("FAC-2026-0100", 150000, "Tilleuls Immobilier"),
        _invoice("FAC-2026-0101", 80000, "Tilleuls Immobilier"),
        _invoice("FAC-2026-0200", 33300, "Boulangerie Martin"),
    ):
        await service.handle_invoice_event(event)
    for event in (
        _credit(80000, "SCI TILLEULS IMMOBILIER GESTION"),  # a suggestion
        _credit(33300, "B MARTIN"),
        _credit(12345, "Inconnu"),  # unmatched
    ):
        await service.handle_transaction_event(event)


@pytest.fixture(scope="module")
def matcher_app(postgres_admin_dsn: str) -> Iterator[ASGIApp]:
    @contextlib.asynccontextmanager
    async def build() -> AsyncIterator[ASGIApp]:
        async with testing.fresh_database(postgres_admin_dsn) as database_url:
            pool = await create_pool(database_url, min_size=1, max_size=4)
            try:
                await migrate(pool)
                state = MatcherState()
                topics = Topics(testing.unique_prefix())  # no broker here: the outbox only
                service = build_service(
                    pool, MatchingEngine(EngineConfig()), state, topics, default_organization="org"
                )
                await state.load(service.db)
                await _seed(service)

                async def readiness() -> dict[str, bool]:
                    try:
                        await pool.fetchval("SELECT 1")
                    except Exception:
                        return {"postgres": False}
                    return {"postgres": True}

                yield create_app(service, api_token=SecretStr(TOKEN), readiness=readiness)
            finally:
                await pool.close()

    with running(build) as app:
        yield app


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, matcher_app: ASGIApp
) -> None:
    case.call_and_validate(app=matcher_app, checks=CHECKS)


@schema.parametrize()
@CONTRACT_SETTINGS
def test_every_operation_answers_a_reviewer_as_documented(
    case: schemathesis.Case, matcher_app: ASGIApp
) -> None:
    case.call_and_validate(
        app=matcher_app, checks=CHECKS, headers={"Authorization": f"Bearer {TOKEN}"}
    )
