"""Browser tests of the review desk: a real matcher (Kafka, PostgreSQL, its HTTP server on a
free port) driven by Debian's headless Chromium through Playwright for Python.

Playwright's own browser download is never used: ``executable_path`` is Debian's
``chromium`` (``scripts/ensure-chromium.sh`` installs it; ``CHROMIUM_PATH`` overrides).
Without it these tests fail, never skip.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from qrecon.common.timeutil import utcnow
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.postgres_desk import PgDeskStore
from qrecon.matcher.adapters.web.security import Argon2Hasher
from qrecon.matcher.app.desk_people import People
from qrecon.matcher.app.desk_ports import Membership
from qrecon.matcher.bootstrap import MatcherRuntime
from qrecon.matcher.settings import MatcherSettings
from tests.matcher.web.world import invoice, invoice_event, transaction, tx_event

PASSWORD = "correct horse battery"
# Where screenshots go when asked (DESK_SCREENSHOTS=services/matcher/docs).
SCREENSHOTS = os.environ.get("DESK_SCREENSHOTS")


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "Debian's chromium is not installed: run scripts/ensure-chromium.sh (make test does)",
            pytrace=False,
        )
    return found


TILLEULS = invoice("FAC-2025-1101", 80000, "Tilleuls Immobilier")
MARTIN = invoice("FAC-2025-1200", 33300, "Boulangerie Martin")
GARAGE = invoice("FAC-2025-1201", 150000, "Garage Petit")


@dataclass
class Desk:
    url: str
    runtime: MatcherRuntime
    topics: Topics
    bootstrap: str
    suggested: str
    martin: str
    unmatched: str
    hostile: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def desk(kafka_bootstrap: str, database_url: str, topics: Topics) -> AsyncIterator[Desk]:
    port = _free_port()
    settings = MatcherSettings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        DATABASE_URL=database_url,
        KAFKA_TOPIC_PREFIX=topics.prefix,
        MATCHER_GROUP_ID=f"{topics.prefix}matcher",
        MATCHER_HOST="127.0.0.1",
        MATCHER_PORT=port,
        MATCHER_API_TOKEN="browser-test-token-0123456789",
        MATCHER_DEFAULT_ORGANIZATION="acme",  # the lines below name no organisation
        MATCHER_OUTBOX_POLL_SECONDS=0.1,
        MATCHER_HEARTBEAT_INTERVAL_MS=300,
        LOG_LEVEL="WARNING",
    )
    runtime = MatcherRuntime(settings)
    await runtime.start()
    try:
        service = runtime.service
        assert service is not None
        assert runtime.api_pool is not None
        for inv in (TILLEULS, MARTIN, GARAGE):
            await service.handle_invoice_event(invoice_event(inv))
        lines = {
            "suggested": transaction(80000, "SCI TILLEULS IMMOBILIER GESTION"),
            "martin": transaction(33300, "B MARTIN"),
            "unmatched": transaction(150000, "INCONNU SARL", reference="VIR 7781"),
            "hostile": transaction(
                4242, "<b>Evil</b>", label="<script>window.pwned=1</script>", reference="<i>x"
            ),
        }
        for tx in lines.values():
            await service.handle_transaction_event(tx_event(tx))
        people = People(PgDeskStore(runtime.api_pool), Argon2Hasher(), clock=utcnow)
        await people.create(
            "ana@example.fr", "Ana Martin", PASSWORD, [Membership("acme", "reviewer")]
        )
        yield Desk(
            url=f"http://127.0.0.1:{port}",
            runtime=runtime,
            topics=topics,
            bootstrap=kafka_bootstrap,
            **{name: tx.id for name, tx in lines.items()},
        )
    finally:
        await runtime.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    context.set_default_timeout(15_000)
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()


async def sign_in(page: Page, desk: Desk, email: str = "ana@example.fr") -> None:
    await page.goto(f"{desk.url}/desk/queue")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url("**/desk/queue")
