"""The review desk: server-rendered pages (Jinja2 + htmx) served by the matcher's review API.

``Desk`` holds the use cases and the rendering; :mod:`.routes` declares the pages.
Mounted under ``/desk`` by :func:`qrecon.matcher.adapters.http.create_app`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from qrecon.matcher.adapters.web.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    Translator,
    environments,
    translators,
)
from qrecon.matcher.adapters.web.security import LANG_COOKIE
from qrecon.matcher.app.desk_people import People
from qrecon.matcher.app.desk_ports import SessionRecord
from qrecon.matcher.app.desk_queue import BulkConfirm, DeskQueries
from qrecon.matcher.app.ports import Decider

# What every page of the desk answers with: its own scripts and styles only, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SignInNeeded(Exception):
    """No live session: the sign-in page (or, for htmx, an ``HX-Redirect`` to it)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Refused(Exception):
    """A page that answers with a message and a status (403 CSRF, 404, 409...)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


class Desk:
    def __init__(
        self,
        *,
        people: People,
        queries: DeskQueries,
        bulk: BulkConfirm,
        decider: Any,
        poll_seconds: int = 5,
    ) -> None:
        self.people = people
        self.queries = queries
        self.bulk = bulk
        self.decider: Decider = decider
        self.poll_seconds = poll_seconds
        self.envs = environments()
        self.translators = translators()

    # ------------------------------------------------------------------ rendering
    def lang(self, request: Request) -> str:
        lang = request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
        return lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def t(self, request: Request) -> Translator:
        return self.translators[self.lang(request)]

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        env = self.envs[self.lang(request)]
        html = env.get_template(template).render(poll_seconds=self.poll_seconds, **context)
        response = HTMLResponse(html, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        if headers:
            response.headers.update(headers)
        return response

    async def session(self, request: Request) -> SessionRecord:
        from qrecon.matcher.adapters.web.security import SESSION_COOKIE

        session = await self.people.session(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise SignInNeeded(request.url.path)
        return session

    # ------------------------------------------------------------------ mounting
    def mount(self, app: FastAPI) -> None:
        from qrecon.matcher.adapters.web.routes import router

        app.include_router(router(self))
        app.mount(
            "/desk/static",
            StaticFiles(packages=[("qrecon.matcher.adapters.web", "static")]),
            name="desk-static",
        )

        async def sign_in_needed(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, SignInNeeded)
            target = "/desk/login"
            if exc.next_path.startswith("/desk/") and exc.next_path != "/desk/login":
                target += f"?next={exc.next_path}"
            if request.headers.get("hx-request"):
                return Response(status_code=200, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)

        async def refused(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, Refused)
            session = None
            with contextlib.suppress(SignInNeeded):
                session = await self.session(request)
            return self.render(
                request,
                "message.html",
                {"title": exc.title, "detail": exc.detail, "session": session},
                status=exc.status,
            )

        app.add_exception_handler(SignInNeeded, sign_in_needed)
        app.add_exception_handler(Refused, refused)
