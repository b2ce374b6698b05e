"""The review desk in a real browser (Debian's headless Chromium): what a back-office
person does, with the mouse and with the keyboard only, and what must never happen."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, expect

from qrecon.common import testing
from qrecon.common.schemas import MatchResult, TransactionEvent
from qrecon.common.timeutil import utcnow
from qrecon.matcher.adapters.postgres_desk import PgDeskStore
from qrecon.matcher.adapters.web.security import Argon2Hasher
from qrecon.matcher.app.desk_people import People
from qrecon.matcher.app.desk_ports import Membership
from tests.matcher.web.world import BASE, transaction

from .conftest import (
    GARAGE,
    PASSWORD,
    SCREENSHOTS,
    TILLEULS,
    Desk,
    sign_in,
)

pytestmark = pytest.mark.browser


async def _published(desk: Desk, transaction_id: str, decided_by: str) -> MatchResult | None:
    """The result ``decided_by`` for ``transaction_id`` on reconciliation.matches.v1
    (polled until it is there, within a generous deadline)."""
    for _ in range(30):
        records = await testing.consume_until(
            desk.bootstrap, desk.topics.matches, count=100, timeout=2.0
        )
        for record in records:
            result = MatchResult.model_validate_json(record.value)
            if result.transaction_id == transaction_id and result.decided_by == decided_by:
                return result
    return None


async def test_sign_in_filter_confirm_and_see_the_result_on_the_topic(
    page: Page, desk: Desk
) -> None:
    await sign_in(page, desk)
    await expect(page.locator('[data-count="total"]')).to_have_text("4")

    await page.get_by_label("Recherche").fill("tilleuls")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.locator('[data-count="total"]')).to_have_text("1")
    await page.get_by_role("link", name="SCI TILLEULS IMMOBILIER GESTION").click()

    await expect(page.locator("#proposal-title")).to_be_visible()
    await expect(page.get_by_text(TILLEULS.number)).to_be_visible()
    if SCREENSHOTS:
        await page.screenshot(path=str(Path(SCREENSHOTS) / "desk-line.png"), full_page=True)
    await page.get_by_role("button", name="Confirmer").click()
    await expect(page.locator("main > p.notice")).to_contain_text("Confirmé.")
    await expect(page.locator("#decisions")).to_contain_text("Ana Martin")

    result = await _published(desk, desk.suggested, "review")
    assert result is not None, "the confirmation reached reconciliation.matches.v1"
    assert result.status == "auto_matched"
    assert [a.invoice_id for a in result.allocations] == [TILLEULS.id]


async def test_match_by_hand_with_a_partial_allocation_then_undo(page: Page, desk: Desk) -> None:
    await sign_in(page, desk)
    await page.goto(f"{desk.url}/desk/lines/{desk.unmatched}")

    await page.get_by_label("Chercher une facture ouverte par numéro, client ou montant").fill(
        "garage"
    )
    await page.get_by_role("button", name="Chercher", exact=True).click()
    await page.get_by_label(f"Choisir la facture {GARAGE.number}").check()
    amount = page.get_by_label(f"Montant à affecter à {GARAGE.number}")
    await amount.fill("1000,00")
    await expect(page.locator("#residual")).to_contain_text("500,00")
    await page.get_by_role("button", name="Rapprocher les factures choisies").click()

    await expect(page.locator("main > p.notice")).to_contain_text("Rapproché à la main.")
    await expect(page.locator("#decisions")).to_contain_text("rapprochement à la main")
    await page.get_by_role("button", name="Annuler").click()
    await expect(page.locator("main > p.notice")).to_contain_text("Annulé.")
    await expect(page.locator("#decisions")).to_contain_text("annulation")


async def test_bulk_confirm_with_a_preview_and_a_single_undo(page: Page, desk: Desk) -> None:
    await sign_in(page, desk)
    await page.get_by_role("link", name="Confirmation groupée").click()
    await page.get_by_label("Confirmer les suggestions d'une confiance d'au moins (%)").fill("1")
    await page.get_by_role("button", name="Aperçu").click()
    preview = page.locator("#bulk-preview tbody tr")
    await expect(preview).to_have_count(2)
    await page.get_by_role("button", name="Confirmer ces suggestions").click()
    await expect(page.locator("#bulk-outcome")).to_contain_text("2")

    await page.get_by_role("button", name="Annuler cette confirmation groupée").click()
    await expect(page.locator("main > p.notice")).to_contain_text("Annulé.")
    await page.goto(f"{desk.url}/desk/queue")
    await expect(page.locator('[data-count="suggested"]')).to_have_text("2")


async def test_keyboard_only_flow(page: Page, desk: Desk) -> None:
    await page.goto(f"{desk.url}/desk/login")
    await page.keyboard.type("ana@example.fr")  # the email field has the focus
    await page.keyboard.press("Tab")
    await page.keyboard.type("correct horse battery")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/desk/queue")

    await page.keyboard.press("/")
    await expect(page.locator("#search")).to_be_focused()
    await page.keyboard.type("martin")
    await page.keyboard.press("Enter")
    await expect(page.locator('[data-count="total"]')).to_have_text("1")
    await page.keyboard.press("Escape")
    await page.keyboard.press("j")
    focused = page.locator("[data-nav]").first
    await expect(focused).to_be_focused()
    outline = await focused.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "the focus is visible"
    await page.keyboard.press("Enter")
    await expect(page.locator("#proposal-title")).to_be_visible()
    await page.keyboard.press("c")
    await expect(page.locator("main > p.notice")).to_contain_text("Confirmé.")
    await page.keyboard.press("u")
    await expect(page.locator("main > p.notice")).to_contain_text("Annulé.")
    await page.keyboard.press("q")
    await page.wait_for_url("**/desk/queue")


async def test_a_forged_post_is_refused(page: Page, desk: Desk) -> None:
    await sign_in(page, desk)
    await page.goto(f"{desk.url}/desk/lines/{desk.suggested}")
    # A form whose CSRF token was tampered with (as a forged or replayed post would carry).
    await page.locator('form[action$="/confirm"] input[name="csrf_token"]').evaluate(
        "el => el.value = 'forged'"
    )
    await page.get_by_role("button", name="Confirmer").click()
    await expect(page.locator("h1")).to_have_text("Refusé")
    await page.goto(f"{desk.url}/desk/lines/{desk.suggested}")
    await expect(page.locator("#decisions")).to_contain_text("Aucune décision")


async def test_a_label_carrying_a_script_is_rendered_inert(page: Page, desk: Desk) -> None:
    await sign_in(page, desk)
    await page.goto(f"{desk.url}/desk/lines/{desk.hostile}")
    await expect(page.locator("#line-label")).to_have_text("<script>window.pwned=1</script>")
    assert await page.evaluate("() => window.pwned === undefined")
    await page.goto(f"{desk.url}/desk/queue")
    await expect(page.get_by_text("<script>window.pwned=1</script>")).to_be_visible()
    assert await page.evaluate("() => window.pwned === undefined")


async def test_no_serious_accessibility_violation(page: Page, desk: Desk) -> None:
    axe = Axe()
    await page.goto(f"{desk.url}/desk/login")
    pages = [("login", None)]
    await sign_in(page, desk)
    pages += [("queue", "/desk/queue"), ("line", f"/desk/lines/{desk.suggested}"),
              ("bulk", "/desk/bulk?min_confidence=1")]  # fmt: skip
    serious: list[str] = []
    for name, path in pages:
        if path is not None:
            await page.goto(f"{desk.url}{path}")
        if name == "queue" and SCREENSHOTS:
            await page.screenshot(path=str(Path(SCREENSHOTS) / "desk-queue.png"), full_page=True)
        results = await axe.run(page)
        serious += [
            f"{name}: {v['id']} ({v['impact']}) {v['help']}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if name == "login":
            await page.goto(f"{desk.url}/desk/login")
    assert serious == []


async def test_new_results_and_colleagues_decisions_appear_without_reloading(
    page: Page, desk: Desk
) -> None:
    service = desk.runtime.service
    assert service is not None
    await sign_in(page, desk)
    await expect(page.locator('[data-count="total"]')).to_have_text("4")
    tx = transaction(12345, "NOUVEAU CLIENT")
    await service.handle_transaction_event(
        TransactionEvent(event_id=str(uuid.uuid4()), source="webhook", transaction=tx,
                         observed_at=BASE)
    )  # fmt: skip
    # The queue refreshes itself every few seconds: a generous deadline, no reload.
    await expect(page.locator('[data-count="total"]')).to_have_text("5", timeout=30_000)
    await expect(page.get_by_role("link", name="NOUVEAU CLIENT")).to_be_visible()

    await page.goto(f"{desk.url}/desk/lines/{desk.suggested}")
    await service.confirm(desk.suggested, actor="Colleague")  # someone else, meanwhile
    await expect(page.locator("#pulse")).to_contain_text(
        "Cette ligne a changé entre-temps.", timeout=30_000
    )
    await page.get_by_role("button", name="Confirmer").click()
    await expect(page.locator("main > p.error")).to_contain_text("a changé entre-temps")
    await expect(page.locator("#decisions")).to_contain_text("Colleague")


async def test_the_organisation_switcher_changes_what_one_may_do(page: Page, desk: Desk) -> None:
    assert desk.runtime.api_pool is not None
    people = People(PgDeskStore(desk.runtime.api_pool), Argon2Hasher(), clock=utcnow)
    await people.create(
        "max@example.fr",
        "Max Multi",
        PASSWORD,
        [Membership("acme", "reviewer"), Membership("globex", "viewer")],
    )
    await sign_in(page, desk, "max@example.fr")
    await expect(page.locator("#who")).to_contain_text("réviseur")
    await page.get_by_label("Organisation").select_option("globex")
    await page.get_by_role("button", name="Changer").click()
    await expect(page.locator("#who")).to_contain_text("lecteur")
    await page.goto(f"{desk.url}/desk/lines/{desk.suggested}")
    await expect(page.get_by_role("button", name="Confirmer")).to_have_count(0)
    # An organisation one is not a member of is unknown.
    status = await page.evaluate(
        """async () => {
            const token = document.querySelector('input[name="csrf_token"]').value;
            const body = new URLSearchParams({csrf_token: token, organization_id: "initech"});
            return (await fetch("/desk/organisation", {method: "POST", body})).status;
        }"""
    )
    assert status == 404


async def test_the_pages_fit_a_tablet(browser: Browser, desk: Desk) -> None:
    context = await browser.new_context(viewport={"width": 820, "height": 1180}, locale="fr-FR")
    page = await context.new_page()
    try:
        await sign_in(page, desk)
        for path in ("/desk/queue", f"/desk/lines/{desk.suggested}"):
            await page.goto(f"{desk.url}{path}")
            overflow = await page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
        await expect(page.get_by_role("button", name="Confirmer")).to_be_visible()
    finally:
        await context.close()
