"""Fixtures of the review desk's route tests: the matcher's app in process (its review API
and the desk), on a migrated database, with two people and a few bank lines."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from qrecon.common import testing
from qrecon.common.db import create_pool
from qrecon.common.schemas import Invoice
from qrecon.common.timeutil import utcnow
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.adapters.postgres_desk import PgDeskStore
from qrecon.matcher.adapters.web.security import Argon2Hasher
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.desk_people import People
from qrecon.matcher.app.desk_ports import Membership
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.bootstrap import build_desk, build_service, migrate
from qrecon.matcher.core import EngineConfig, MatchingEngine

from .world import invoice, invoice_event, transaction, tx_event

PASSWORD = "correct horse battery"
TILLEULS = invoice("FAC-2025-1101", 80000, counterparty="Tilleuls Immobilier")
MARTIN = invoice("FAC-2025-1200", 33300, counterparty="Boulangerie Martin")
GARAGE = invoice("FAC-2025-1201", 150000, counterparty="Garage Petit")
INVOICES: tuple[Invoice, ...] = (TILLEULS, MARTIN, GARAGE)


@dataclass
class World:
    suggested: str  # a suggestion for TILLEULS
    unmatched: str  # 1 500 € from nobody known (GARAGE is open at that amount)
    hostile: str  # an unmatched line whose label and reference carry markup


async def _ready() -> dict[str, bool]:
    return {"postgres": True, "kafka": True}


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=8)
    await migrate(pool)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def topics() -> Topics:
    """Topic names only: these tests read the outbox, nothing is relayed to Kafka."""
    return Topics(testing.unique_prefix())


@pytest.fixture
async def service(pool: asyncpg.Pool, topics: Topics) -> MatcherService:
    state = MatcherState()
    service = build_service(
        pool,
        MatchingEngine(EngineConfig()),
        state,
        topics,
        conflict_retries=3,
        default_organization="acme",  # the world's events name no organisation
    )
    await state.load(service.db)
    return service


@pytest.fixture
async def world(service: MatcherService) -> World:
    for inv in INVOICES:
        await service.handle_invoice_event(invoice_event(inv))
    suggested = transaction(80000, counterparty="SCI TILLEULS IMMOBILIER GESTION")
    unmatched = transaction(150000, counterparty="INCONNU SARL", reference="VIR 7781")
    hostile = transaction(
        4242,
        counterparty="<b>Evil</b>",
        label="<script>window.pwned=1</script>",
        reference='"><img src=x onerror=alert(1)>',
    )
    for tx in (suggested, unmatched, hostile):
        await service.handle_transaction_event(tx_event(tx))
    return World(suggested=suggested.id, unmatched=unmatched.id, hostile=hostile.id)


@pytest.fixture
async def people(pool: asyncpg.Pool) -> People:
    people = People(PgDeskStore(pool), Argon2Hasher(), clock=utcnow)
    await people.create("ana@example.fr", "Ana Martin", PASSWORD, [Membership("acme", "reviewer")])
    await people.create("vic@example.fr", "Vic Viewer", PASSWORD, [Membership("acme", "viewer")])
    await people.create(
        "multi@example.fr",
        "Max Multi",
        PASSWORD,
        [Membership("acme", "reviewer"), Membership("globex", "viewer")],
    )
    return people


@pytest.fixture
async def app_client(
    pool: asyncpg.Pool, service: MatcherService, world: World, people: People
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        service,
        api_token=SecretStr("test-token-0123456789"),
        readiness=_ready,
        desk=build_desk(pool, service),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries a CSRF token"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/desk/login")
    return await http.post(
        "/desk/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )
