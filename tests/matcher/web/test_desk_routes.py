"""The review desk's pages, in process (no browser): sign-in, the queue, a line's page,
decisions and their safety (CSRF, roles, conflicts, organisations, hostile text)."""

from __future__ import annotations

import asyncpg
import httpx

from qrecon.matcher.app.service import MatcherService

from .conftest import GARAGE, PASSWORD, TILLEULS, World, csrf_of, sign_in
from .world import invoice_state, outbox_results, transaction, tx_event


async def test_every_page_needs_a_session(app_client: httpx.AsyncClient, world: World) -> None:
    for path in ("/desk/queue", f"/desk/lines/{world.suggested}", "/desk/bulk"):
        response = await app_client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/desk/login?next={path}"
    htmx = await app_client.get("/desk/queue/rows", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/desk/login")


async def test_sign_in_sets_a_hardened_session_cookie(app_client: httpx.AsyncClient) -> None:
    response = await sign_in(app_client, "ana@example.fr")

    assert response.status_code == 303
    assert response.headers["location"] == "/desk/queue"
    cookie = response.headers["set-cookie"].lower()
    assert "desk_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/desk" in cookie
    assert "secure" not in cookie  # loopback: plain HTTP is allowed
    queue = await app_client.get("/desk/queue")
    assert queue.status_code == 200
    assert "Ana Martin" in queue.text
    assert "default-src 'self'" in queue.headers["content-security-policy"]


async def test_outside_loopback_the_cookie_is_secure(
    app_client: httpx.AsyncClient,
) -> None:
    app_client.base_url = httpx.URL("http://desk.example.fr")
    response = await sign_in(app_client, "ana@example.fr")
    assert "secure" in response.headers["set-cookie"].lower()


async def test_a_storm_of_wrong_passwords_locks_the_account(
    app_client: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        wrong = await sign_in(app_client, "ana@example.fr", "not the password")
        assert wrong.status_code == 401
        assert "desk_session" not in wrong.headers.get("set-cookie", "")
    # Locked: even the right password is refused, with the same message.
    locked = await sign_in(app_client, "ana@example.fr", PASSWORD)
    assert locked.status_code == 401
    assert "bloqué" in locked.text
    assert (await sign_in(app_client, "nobody@example.fr")).status_code == 401


async def test_a_forged_sign_in_post_is_refused(app_client: httpx.AsyncClient) -> None:
    response = await app_client.post(
        "/desk/login", data={"email": "ana@example.fr", "password": PASSWORD, "csrf_token": "x"}
    )
    assert response.status_code == 403
    assert "desk_session" not in response.headers.get("set-cookie", "")


async def test_the_queue_counts_filters_sorts_and_searches(
    app_client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(app_client, "ana@example.fr")

    page = await app_client.get("/desk/queue")
    assert 'data-count="total">3<' in page.text
    assert 'data-count="suggested">1<' in page.text
    assert 'data-count="unmatched">2<' in page.text
    # Sorted by amount, largest first (what saves most time).
    rows = page.text.index(world.unmatched), page.text.index(world.suggested)
    assert rows[0] < rows[1] < page.text.index(world.hostile)

    only = await app_client.get("/desk/queue/rows", params={"status": "suggested"})
    assert world.suggested in only.text
    assert world.unmatched not in only.text
    found = await app_client.get("/desk/queue/rows", params={"q": "vir 778"})
    assert world.unmatched in found.text
    assert world.suggested not in found.text
    by_name = await app_client.get("/desk/queue/rows", params={"counterparty": "tilleuls"})
    assert world.suggested in by_name.text
    assert world.unmatched not in by_name.text
    ranged = await app_client.get(
        "/desk/queue/rows", params={"amount_min": "500", "amount_max": "1 000,00"}
    )
    assert world.suggested in ranged.text
    assert world.unmatched not in ranged.text
    dated = await app_client.get("/desk/queue/rows", params={"date_from": "2026-03-03"})
    assert 'data-count="total">0<' in dated.text
    sure = await app_client.get("/desk/queue/rows", params={"confidence_min": "50"})
    assert world.suggested in sure.text
    assert world.unmatched not in sure.text

    bad = await app_client.get("/desk/queue", params={"date_from": "31/02", "amount_min": "abc"})
    assert bad.status_code == 422
    assert "Date invalide : 31/02" in bad.text
    assert "Montant invalide : abc" in bad.text


async def test_a_line_page_shows_the_proposal_and_its_reasons_in_french(
    app_client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(app_client, "ana@example.fr")
    page = await app_client.get(f"/desk/lines/{world.suggested}")
    assert page.status_code == 200
    assert TILLEULS.number in page.text
    assert "Affectation proposée" in page.text
    assert "800,00" in page.text
    assert 'data-key="c"' in page.text
    assert 'data-key="r"' in page.text

    await app_client.get("/desk/language", params={"to": "en"})
    english = await app_client.get(f"/desk/lines/{world.suggested}")
    assert "Proposed allocation" in english.text
    assert '<html lang="en"' in english.text


async def test_confirm_records_who_decided_and_publishes(
    app_client: httpx.AsyncClient, world: World, pool: asyncpg.Pool
) -> None:
    await sign_in(app_client, "ana@example.fr")
    page = await app_client.get(f"/desk/lines/{world.suggested}")

    response = await app_client.post(
        f"/desk/lines/{world.suggested}/confirm",
        data={"csrf_token": csrf_of(page.text), "expected_result_seq": "1"},
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/desk/lines/{world.suggested}?done=confirm"
    after = await app_client.get(response.headers["location"])
    assert "Confirmé." in after.text
    assert "Ana Martin" in after.text
    published = await outbox_results(pool, world.suggested)
    assert [(r.status, r.decided_by) for r in published] == [
        ("suggested", "engine"),
        ("auto_matched", "review"),
    ]
    assert await invoice_state(pool, TILLEULS.id) == (80000, 80000, "open")


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    app_client: httpx.AsyncClient, world: World, pool: asyncpg.Pool
) -> None:
    await sign_in(app_client, "ana@example.fr")
    for data in ({"expected_result_seq": "1"}, {"expected_result_seq": "1", "csrf_token": "x"}):
        response = await app_client.post(f"/desk/lines/{world.suggested}/confirm", data=data)
        assert response.status_code == 403
    assert len(await outbox_results(pool, world.suggested)) == 1


async def test_a_viewer_reads_but_cannot_decide(
    app_client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(app_client, "vic@example.fr")
    page = await app_client.get(f"/desk/lines/{world.suggested}")
    assert page.status_code == 200
    assert 'data-key="c"' not in page.text
    response = await app_client.post(
        f"/desk/lines/{world.suggested}/confirm",
        data={"csrf_token": csrf_of(page.text), "expected_result_seq": "1"},
    )
    assert response.status_code == 403


async def test_two_people_on_one_line_the_second_gets_a_conflict_with_the_new_state(
    app_client: httpx.AsyncClient, world: World, pool: asyncpg.Pool
) -> None:
    await sign_in(app_client, "ana@example.fr")
    page = await app_client.get(f"/desk/lines/{world.suggested}")
    token = csrf_of(page.text)
    first = await app_client.post(
        f"/desk/lines/{world.suggested}/confirm",
        data={"csrf_token": token, "expected_result_seq": "1"},
    )
    assert first.status_code == 303
    # A colleague's page still shows result 1: their reject is refused, nothing doubled.
    second = await app_client.post(
        f"/desk/lines/{world.suggested}/reject",
        data={"csrf_token": token, "expected_result_seq": "1"},
    )
    assert second.status_code == 409
    assert "a changé entre-temps" in second.text
    assert "badge-auto_matched" in second.text  # the new state is shown
    assert len(await outbox_results(pool, world.suggested)) == 2
    assert await invoice_state(pool, TILLEULS.id) == (80000, 80000, "open")


async def test_match_by_hand_with_a_partial_allocation_then_undo(
    app_client: httpx.AsyncClient, world: World, pool: asyncpg.Pool
) -> None:
    await sign_in(app_client, "ana@example.fr")
    page = await app_client.get(f"/desk/lines/{world.unmatched}")
    hits = await app_client.get(
        f"/desk/lines/{world.unmatched}/invoices", params={"invoice_q": "garage"}
    )
    assert GARAGE.number in hits.text
    assert TILLEULS.number not in hits.text
    by_amount = await app_client.get(
        f"/desk/lines/{world.unmatched}/invoices", params={"invoice_q": "1500,00"}
    )
    assert GARAGE.number in by_amount.text

    response = await app_client.post(
        f"/desk/lines/{world.unmatched}/match",
        data={
            "csrf_token": csrf_of(page.text),
            "expected_result_seq": "1",
            "invoice_id": GARAGE.id,
            f"amount_{GARAGE.id}": "1 000,00",
        },
    )
    assert response.status_code == 303, response.text
    assert await invoice_state(pool, GARAGE.id) == (150000, 100000, "open")
    matched = await app_client.get(response.headers["location"])
    assert "Rapproché à la main." in matched.text
    assert "500,00" in matched.text

    undone = await app_client.post(
        f"/desk/lines/{world.unmatched}/undo",
        data={"csrf_token": csrf_of(matched.text), "expected_result_seq": "2"},
    )
    assert undone.status_code == 303
    assert await invoice_state(pool, GARAGE.id) == (150000, 0, "open")
    history = await app_client.get(f"/desk/lines/{world.unmatched}")
    assert "rapprochement à la main" in history.text
    assert "annulation" in history.text


async def test_a_bad_manual_match_is_explained_and_changes_nothing(
    app_client: httpx.AsyncClient, world: World, pool: asyncpg.Pool
) -> None:
    await sign_in(app_client, "ana@example.fr")
    page = await app_client.get(f"/desk/lines/{world.unmatched}")
    base = {"csrf_token": csrf_of(page.text), "expected_result_seq": "1"}
    nothing = await app_client.post(f"/desk/lines/{world.unmatched}/match", data=base)
    assert nothing.status_code == 422
    assert "au moins une facture" in nothing.text
    too_much = await app_client.post(
        f"/desk/lines/{world.unmatched}/match",
        data={**base, "invoice_id": GARAGE.id, f"amount_{GARAGE.id}": "99999"},
    )
    assert too_much.status_code == 422
    garbage = await app_client.post(
        f"/desk/lines/{world.unmatched}/match",
        data={**base, "invoice_id": GARAGE.id, f"amount_{GARAGE.id}": "12,345"},
    )
    assert garbage.status_code == 422
    assert await invoice_state(pool, GARAGE.id) == (150000, 0, "open")


async def test_markup_in_a_bank_label_is_shown_as_text(
    app_client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(app_client, "ana@example.fr")
    for path in ("/desk/queue", f"/desk/lines/{world.hostile}"):
        html = (await app_client.get(path)).text
        assert "<script>window.pwned" not in html
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
        assert "<img src=x" not in html
        assert "<b>Evil</b>" not in html


async def test_unknown_ids_and_other_organisations_are_not_found(
    app_client: httpx.AsyncClient, world: World, service: MatcherService
) -> None:
    elsewhere = transaction(80000, counterparty="SCI TILLEULS IMMOBILIER GESTION")
    await service.handle_transaction_event(
        tx_event(elsewhere).model_copy(update={"organization_id": "globex"})
    )
    await sign_in(app_client, "multi@example.fr")
    assert (await app_client.get("/desk/lines/no-such-line")).status_code == 404
    # acme's desk does not know globex's line, in a URL or in the queue
    assert (await app_client.get(f"/desk/lines/{elsewhere.id}")).status_code == 404
    assert elsewhere.id not in (await app_client.get("/desk/queue")).text
    page = await app_client.get("/desk/queue")
    token = csrf_of(page.text)
    refused = await app_client.post(
        "/desk/organisation", data={"csrf_token": token, "organization_id": "initech"}
    )
    assert refused.status_code == 404
    switched = await app_client.post(
        "/desk/organisation", data={"csrf_token": token, "organization_id": "globex"}
    )
    assert switched.status_code == 303
    # In globex this person is a viewer, and acme's lines do not exist.
    line = await app_client.get(f"/desk/lines/{elsewhere.id}")
    assert "lecteur" in line.text
    assert 'data-key="c"' not in line.text
    assert (await app_client.get(f"/desk/lines/{world.suggested}")).status_code == 404


async def test_bulk_confirm_previews_then_confirms_and_undoes_as_one(
    app_client: httpx.AsyncClient, world: World, pool: asyncpg.Pool, service: MatcherService
) -> None:
    await sign_in(app_client, "ana@example.fr")
    preview = await app_client.get("/desk/bulk", params={"min_confidence": "10"})
    assert world.suggested in preview.text
    assert world.unmatched not in preview.text

    done = await app_client.post(
        "/desk/bulk",
        data={
            "csrf_token": csrf_of(preview.text),
            "min_confidence": "10",
            "tx": [f"{world.suggested}:1"],
        },
    )
    assert done.status_code == 200
    assert "Confirmées : <strong>1</strong>" in done.text or "<strong>1</strong>" in done.text
    assert await invoice_state(pool, TILLEULS.id) == (80000, 80000, "open")
    bulk_undo = done.text.split('action="/desk/bulk/')[1].split('"')[0]

    undone = await app_client.post(
        f"/desk/bulk/{bulk_undo}", data={"csrf_token": csrf_of(done.text)}
    )
    assert undone.status_code == 200
    assert await invoice_state(pool, TILLEULS.id) == (80000, 0, "open")
    again = await app_client.post(
        f"/desk/bulk/{bulk_undo}", data={"csrf_token": csrf_of(done.text)}
    )
    assert again.status_code == 409
    view = await service.queries.transaction(world.suggested)
    assert [d.actor for d in view.decisions] == ["Ana Martin", "Ana Martin"]


async def test_a_post_replayed_after_sign_out_changes_nothing(
    app_client: httpx.AsyncClient, world: World, pool: asyncpg.Pool
) -> None:
    await sign_in(app_client, "ana@example.fr")
    page = await app_client.get(f"/desk/lines/{world.suggested}")
    token, cookie = csrf_of(page.text), app_client.cookies["desk_session"]
    out = await app_client.post("/desk/logout", data={"csrf_token": token})
    assert out.status_code == 303

    app_client.cookies.set("desk_session", cookie, path="/desk")
    replayed = await app_client.post(
        f"/desk/lines/{world.suggested}/confirm",
        data={"csrf_token": token, "expected_result_seq": "1"},
    )
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/desk/login")
    assert len(await outbox_results(pool, world.suggested)) == 1
