"""OAuth (``/oauth2/auth`` auto-approves, ``/oauth2/token``) and the sandbox's login page.

The token endpoint answers at ``/oauth2/token`` (Qonto's guides, on ``oauth.qonto.com``)
and at ``/v2/oauth2/token`` (the newer API reference: docs.qonto.com/api-reference/
business-api/authentication/oauth2/create_tokens); the client's path is
``QONTO_OAUTH_TOKEN_PATH``.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from qrecon.sim.errors import OAuthError
from qrecon.sim.routes.common import SimDep, json_response, parse_form
from qrecon.sim.routes.edge import LOGIN_PAGE
from qrecon.sim.state import SCOPES

router = APIRouter()


@router.get("/oauth2/auth")
async def authorize(request: Request, sim: SimDep) -> Response:
    """Consent, auto-approved: redirects to ``redirect_uri?code=...&state=...``."""
    params = request.query_params
    client_id = params.get("client_id") or ""
    scopes = (params.get("scope") or " ".join(SCOPES)).split()
    code = sim.auth.mint_authorization_code(
        client_id, scopes=scopes, redirect_uri=params.get("redirect_uri") or None
    )
    redirect = params.get("redirect_uri") or sim.credentials().redirect_uri
    query = {"code": code, "scope": " ".join(scopes)}
    if params.get("state"):
        query["state"] = params["state"]
    return RedirectResponse(f"{redirect}?{urlencode(query)}", status_code=302)


@router.post("/oauth2/token")
@router.post("/v2/oauth2/token")
async def token(request: Request, sim: SimDep) -> Response:
    content_type = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" not in content_type:
        raise OAuthError(
            "invalid_request", "The request must be application/x-www-form-urlencoded."
        )
    form = parse_form(await request.body())
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(basic[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        except ValueError as exc:
            raise OAuthError("invalid_client", "Malformed Basic credentials.", 401) from exc
    grant = form.get("grant_type")
    if grant == "authorization_code":
        result = sim.auth.token_authorization_code(
            client_id=client_id,
            client_secret=client_secret,
            code=form.get("code"),
            redirect_uri=form.get("redirect_uri"),
        )
    elif grant == "refresh_token":
        result = sim.auth.token_refresh(
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=form.get("refresh_token"),
        )
    else:
        raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant!r}.")
    return json_response(result, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.get("/login")
async def login_page() -> Response:
    return HTMLResponse(LOGIN_PAGE)
