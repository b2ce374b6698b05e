"""The desk's pages: sign-in, the queue, a bank line's page, bulk confirmation.

Every page needs a live session (else the sign-in page); every post carries the session's
CSRF token (else 403); a decision needs the reviewer role (else 403) and the result
sequence it was taken on (a line changed meanwhile: 409 with its new state). Ids of
another organisation, or unknown ones, are 404.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import date
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData, QueryParams

from qrecon.common.money import to_cents
from qrecon.common.schemas.text import Id
from qrecon.matcher.adapters.web import Desk, Refused
from qrecon.matcher.adapters.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    same_token,
    set_cookie,
)
from qrecon.matcher.app.desk_people import SignInRefused
from qrecon.matcher.app.desk_ports import QueueFilter, SessionRecord
from qrecon.matcher.app.errors import Conflict, NotFound, ServiceError

_ID = TypeAdapter(Id)
MAX_PICKED = 100
FILTER_KEYS = (
    "q", "status", "side", "sort", "date_from", "date_to",
    "amount_min", "amount_max", "counterparty", "confidence_min", "offset",
)  # fmt: skip
PAGE_SIZE = 50


def parse_cents(text: str) -> int:
    """``1 234,56`` or ``1234.56`` (euros) as cents; ValueError otherwise."""
    clean = "".join(text.split()).replace("\u202f", "").replace(",", ".")
    try:
        return to_cents(clean)
    except Exception as exc:
        raise ValueError(text) from exc


def safe_next(path: str | None) -> str:
    if path and path.startswith("/desk/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/desk/queue"


def parse_filter(params: QueryParams, t: Any) -> tuple[QueueFilter, list[str], dict[str, str]]:
    """The queue's filters from the query string; what is wrong is named, and left out."""
    echo = {k: params.get(k, "").strip()[:200] for k in FILTER_KEYS}
    errors: list[str] = []
    values: dict[str, Any] = {"limit": PAGE_SIZE}
    if echo["status"] in ("suggested", "unmatched", "all"):
        values["status"] = echo["status"]
    if echo["side"] in ("credit", "debit"):
        values["side"] = echo["side"]
    if echo["sort"] in ("amount", "age", "confidence"):
        values["sort"] = echo["sort"]
    for key in ("date_from", "date_to"):
        if echo[key]:
            try:
                values[key] = date.fromisoformat(echo[key])
            except ValueError:
                errors.append(t("Not a date: %(value)s", value=echo[key]))
    for key, field in (("amount_min", "amount_min_cents"), ("amount_max", "amount_max_cents")):
        if echo[key]:
            try:
                values[field] = abs(parse_cents(echo[key]))
            except ValueError:
                errors.append(t("Not an amount: %(value)s", value=echo[key]))
    if echo["confidence_min"]:
        try:
            values["confidence_min"] = min(100.0, max(0.0, float(echo["confidence_min"]))) / 100
        except ValueError:
            errors.append(t("Not a percentage: %(value)s", value=echo["confidence_min"]))
    if echo["offset"].isdigit():
        values["offset"] = min(int(echo["offset"]), 100_000)
    if echo["counterparty"]:
        values["counterparty"] = echo["counterparty"]
    if echo["q"]:
        values["text"] = echo["q"]
    return QueueFilter(**values), errors, echo


def router(desk: Desk) -> APIRouter:
    r = APIRouter(prefix="/desk", include_in_schema=False)

    t = desk.t

    async def checked_form(request: Request, session: SessionRecord) -> FormData:
        form = await request.form()
        token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        if not isinstance(token, str) or not same_token(session.csrf_token, token):
            _ = t(request)
            raise Refused(
                403,
                _("Refused"),
                _(
                    "This form was not sent by your desk session (or it expired): reload the "
                    "page and try again."
                ),
            )
        return form

    def reviewer(request: Request, session: SessionRecord) -> None:
        if not session.can_act:
            _ = t(request)
            raise Refused(403, _("Refused"), _("Only a reviewer can decide."))

    def line_id(request: Request, transaction_id: str) -> str:
        try:
            return _ID.validate_python(transaction_id)
        except ValidationError:
            _ = t(request)
            raise Refused(404, _("Not found"), _("This line does not exist.")) from None

    # ------------------------------------------------------------------ sign-in
    @r.get("")
    @r.get("/")
    async def home() -> Response:
        return RedirectResponse("/desk/queue", status_code=303)

    def login_page(
        request: Request, next_path: str, email: str = "", error: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:  # fmt: skip
        token = secrets.token_urlsafe(32)
        response = desk.render(
            request,
            "login.html",
            {"session": None, "login_csrf": token, "next": safe_next(next_path),
             "email": email, "error": error},
            status=status,
        )  # fmt: skip
        set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
        return response

    @r.get("/login")
    async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
        return login_page(request, next or "/desk/queue")

    @r.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        _ = t(request)
        email, password = str(form.get("email") or "")[:254], str(form.get("password") or "")
        next_path = str(form.get("next") or "")
        if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get(CSRF_FIELD))):
            return login_page(
                request, next_path, email, _("The sign-in form expired: try again."), 403
            )
        try:
            token, _session = await desk.people.sign_in(email, password[:1024])
        except SignInRefused:
            return login_page(
                request,
                next_path,
                email,
                _("Wrong email or password, or the account is locked for a while."),
                401,
            )
        response = RedirectResponse(safe_next(next_path), status_code=303)
        max_age = int(desk.people.policy.absolute_timeout.total_seconds())
        set_cookie(request, response, SESSION_COOKIE, token, max_age=max_age)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/desk")
        return response

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        session = await desk.session(request)
        await checked_form(request, session)
        await desk.people.sign_out(session)
        response = RedirectResponse("/desk/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/desk")
        return response

    @r.post("/organisation")
    async def switch(request: Request) -> Response:
        session = await desk.session(request)
        form = await checked_form(request, session)
        try:
            await desk.people.switch(session, str(form.get("organization_id") or ""))
        except NotFound:
            _ = t(request)
            raise Refused(404, _("Not found"), _("No such organisation.")) from None
        return RedirectResponse("/desk/queue", status_code=303)

    @r.get("/language")
    async def language(request: Request, to: str = "fr") -> Response:
        back = urlsplit(request.headers.get("referer", "")).path
        response = RedirectResponse(safe_next(back), status_code=303)
        if to in desk.envs:
            set_cookie(request, response, LANG_COOKIE, to, max_age=365 * 86400)
        return response

    # ------------------------------------------------------------------ queue
    async def queue_context(request: Request, session: SessionRecord) -> dict[str, Any]:
        flt, errors, echo = parse_filter(request.query_params, t(request))
        page = await desk.queries.queue(session.organization_id, flt)

        def query(**change: Any) -> str:
            return urlencode({k: v for k, v in {**echo, **change}.items() if v not in ("", 0)})

        return {
            "session": session,
            "page": page,
            "f": {**echo, "advanced": any(echo[k] for k in FILTER_KEYS[4:10])},
            "errors": " ".join(errors) or None,
            "offset": flt.offset,
            "query": query(),
            "next_query": query(offset=flt.offset + flt.limit),
            "prev_query": query(offset=max(0, flt.offset - flt.limit)),
            "status_code": 422 if errors else 200,
        }

    @r.get("/queue")
    async def queue(request: Request) -> HTMLResponse:
        session = await desk.session(request)
        ctx = await queue_context(request, session)
        return desk.render(request, "queue.html", ctx, status=ctx["status_code"])

    @r.get("/queue/rows")
    async def queue_rows(request: Request) -> HTMLResponse:
        session = await desk.session(request)
        ctx = await queue_context(request, session)
        return desk.render(request, "_rows.html", ctx)

    # ------------------------------------------------------------------ a line
    async def line_page(
        request: Request,
        session: SessionRecord,
        transaction_id: str,
        *,
        status: int = 200,
        notice: str | None = None,
        error: str | None = None,
    ) -> HTMLResponse:
        try:
            line = await desk.queries.line(session.organization_id, transaction_id)
        except NotFound:
            _ = t(request)
            raise Refused(404, _("Not found"), _("This line does not exist.")) from None
        undoable = any(d.action != "undo" and d.undone_at is None for d in line.view.decisions)
        return desk.render(
            request,
            "line.html",
            {"session": session, "line": line, "undoable": undoable, "hits": None,
             "notice": notice, "error": error},
            status=status,
        )  # fmt: skip

    @r.get("/lines/{transaction_id}")
    async def line(request: Request, transaction_id: str, done: str | None = None) -> HTMLResponse:
        session = await desk.session(request)
        _ = t(request)
        notices = {
            "confirm": _("Confirmed."),
            "reject": _("Rejected."),
            "match": _("Matched by hand."),
            "undo": _("Undone."),
        }
        return await line_page(
            request, session, line_id(request, transaction_id), notice=notices.get(done or "")
        )

    @r.get("/lines/{transaction_id}/pulse")
    async def pulse(request: Request, transaction_id: str, seq: int = 0) -> HTMLResponse:
        session = await desk.session(request)
        tx = line_id(request, transaction_id)
        try:
            current = await desk.queries.current_seq(session.organization_id, tx)
        except NotFound:
            current = -1
        return desk.render(
            request, "_pulse.html", {"changed": current != seq, "transaction_id": tx}
        )

    @r.get("/lines/{transaction_id}/invoices")
    async def invoices(request: Request, transaction_id: str, invoice_q: str = "") -> HTMLResponse:
        session = await desk.session(request)
        tx = line_id(request, transaction_id)
        await desk.queries.current_seq(session.organization_id, tx)
        text: str | None = invoice_q.strip()[:200] or None
        amount: int | None = None
        if text:
            with contextlib.suppress(ValueError):
                amount, text = abs(parse_cents(text)), None
        hits = await desk.queries.search_invoices(session.organization_id, text, amount)
        return desk.render(request, "_invoices.html", {"hits": hits})

    async def decide(request: Request, transaction_id: str, action: str) -> Response:
        session = await desk.session(request)
        form = await checked_form(request, session)
        reviewer(request, session)
        tx = line_id(request, transaction_id)
        _ = t(request)
        try:
            await desk.queries.current_seq(session.organization_id, tx)
        except NotFound:
            raise Refused(404, _("Not found"), _("This line does not exist.")) from None
        seq_text = str(form.get("expected_result_seq") or "")
        if not seq_text.isdigit() or len(seq_text) > 12:
            return await line_page(
                request, session, tx, status=422, error=_("The form is incomplete: reload.")
            )
        seq, actor = int(seq_text), session.person_name
        org = session.organization_id
        try:
            if action == "confirm":
                await desk.decider.confirm(tx, expected_seq=seq, actor=actor, organization=org)
            elif action == "reject":
                await desk.decider.reject(tx, expected_seq=seq, actor=actor, organization=org)
            elif action == "undo":
                await desk.decider.undo(tx, expected_seq=seq, actor=actor, organization=org)
            else:
                picked = [str(v) for v in form.getlist("invoice_id")][:MAX_PICKED]
                if not picked:
                    return await line_page(
                        request, session, tx, status=422, error=_("Pick at least one invoice.")
                    )
                allocations: dict[str, int] = {}
                for invoice_id in picked:
                    try:
                        allocations[invoice_id] = parse_cents(
                            str(form.get(f"amount_{invoice_id}") or "")
                        )
                    except ValueError:
                        return await line_page(
                            request,
                            session,
                            tx,
                            status=422,
                            error=_("Not an amount for invoice %(id)s.", id=invoice_id),
                        )
                await desk.decider.match_manually(
                    tx, allocations, expected_seq=seq, actor=actor, organization=org
                )
        except Conflict as exc:
            return await line_page(
                request,
                session,
                tx,
                status=409,
                error=_("This line changed meanwhile (%(detail)s): here is its new state.",
                        detail=exc.detail),
            )  # fmt: skip
        except ServiceError as exc:
            return await line_page(request, session, tx, status=exc.status, error=exc.detail)
        return RedirectResponse(f"/desk/lines/{tx}?done={action}", status_code=303)

    @r.post("/lines/{transaction_id}/confirm")
    async def confirm(request: Request, transaction_id: str) -> Response:
        return await decide(request, transaction_id, "confirm")

    @r.post("/lines/{transaction_id}/reject")
    async def reject(request: Request, transaction_id: str) -> Response:
        return await decide(request, transaction_id, "reject")

    @r.post("/lines/{transaction_id}/undo")
    async def undo(request: Request, transaction_id: str) -> Response:
        return await decide(request, transaction_id, "undo")

    @r.post("/lines/{transaction_id}/match")
    async def match(request: Request, transaction_id: str) -> Response:
        return await decide(request, transaction_id, "match")

    # ------------------------------------------------------------------ bulk
    @r.get("/bulk")
    async def bulk_preview(request: Request, min_confidence: str = "") -> HTMLResponse:
        session = await desk.session(request)
        reviewer(request, session)
        pct = _pct(min_confidence)
        preview = await desk.bulk.preview(session.organization_id, pct / 100)
        return desk.render(
            request,
            "bulk.html",
            {"session": session, "preview": preview, "min_confidence_pct": pct, "outcome": None},
        )

    @r.post("/bulk")
    async def bulk_confirm(request: Request) -> HTMLResponse:
        session = await desk.session(request)
        form = await checked_form(request, session)
        reviewer(request, session)
        pct = _pct(str(form.get("min_confidence") or ""))
        expected: dict[str, int] = {}
        for item in form.getlist("tx")[:500]:
            tx, _sep, seq = str(item).rpartition(":")
            if tx and seq.isdigit() and len(seq) < 12:
                expected[tx] = int(seq)
        outcome = await desk.bulk.confirm(
            session.organization_id, pct / 100, expected, session.person_name
        )
        return desk.render(
            request,
            "bulk.html",
            {"session": session, "preview": None, "min_confidence_pct": pct, "outcome": outcome},
        )

    @r.post("/bulk/{bulk_id}/undo")
    async def bulk_undo(request: Request, bulk_id: int) -> HTMLResponse:
        session = await desk.session(request)
        await checked_form(request, session)
        reviewer(request, session)
        _ = t(request)
        try:
            outcome = await desk.bulk.undo(session.organization_id, bulk_id, session.person_name)
        except NotFound:
            raise Refused(404, _("Not found"), _("No such bulk confirmation.")) from None
        except Conflict:
            raise Refused(
                409, _("Already undone"), _("This bulk confirmation was already undone.")
            ) from None
        return desk.render(
            request,
            "bulk.html",
            {"session": session, "preview": None, "min_confidence_pct": 95, "outcome": outcome,
             "undone": True, "notice": _("Undone.")},
        )  # fmt: skip

    return r


def _pct(text: str) -> int:
    try:
        return min(100, max(0, int(float(text or "95"))))
    except ValueError:
        return 95
