"""The emulator's HTTP face: Qonto's API (``/v2``), OAuth (``/oauth2``) and the admin API
(``/_sim``), as one ASGI app over a ``Simulator``."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from qrecon.sim.clock import format_ts, parse_ts
from qrecon.sim.errors import NotFound, OAuthError, SimError, Unauthorized, Unprocessable
from qrecon.sim.idempotency import (
    IDEMPOTENCY_HEADER,
    REPLAY_HEADER,
    WRITE_METHODS,
    LostAnswers,
    StoredAnswer,
    parse_key,
)
from qrecon.sim.state import MIN_FILTER_DATE, SCOPES, Principal, Simulator

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Qonto - Connexion</title></head>
<body><main><h1>Connexion à Qonto</h1>
<form method="post" action="/login"><label>E-mail <input name="email" type="email"></label>
<label>Mot de passe <input name="password" type="password"></label>
<button type="submit">Se connecter</button></form></main></body></html>
"""

STAGING_HEADER = "x-qonto-staging-token"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        media_type="application/json; charset=utf-8",
        headers=headers,
    )


def qonto_error(
    status: int,
    code: str,
    detail: str,
    *,
    parameter: str | None = None,
    pointer: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Qonto's error body: ``{"errors": [{"code", "detail", "source"}], "trace_id"}``."""
    source: dict[str, str] = {}
    if parameter:
        source["parameter"] = parameter
    if pointer:
        source["pointer"] = pointer
    error: dict[str, Any] = {"code": code, "detail": detail}
    if source:
        error["source"] = source
    return _json({"errors": [error], "trace_id": uuid.uuid4().hex}, status, headers)


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _list_param(request: Request, name: str) -> list[str]:
    """``status[]=a&status[]=b``, ``status=a,b`` or ``status=a&status=b``."""
    values = request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)
    out: list[str] = []
    for value in values:
        out.extend(v for v in value.split(",") if v)
    return out


def _timestamp_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = format_ts(parse_ts(raw))
    except ValueError as exc:
        raise Unprocessable(f"{name} is not an ISO 8601 date", parameter=name) from exc
    if value < MIN_FILTER_DATE:
        raise Unprocessable(f"{name} must be on or after 2017-01-01", parameter=name)
    return value


def _bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise Unprocessable(f"{name} must be true or false", parameter=name)


def _pagination(request: Request) -> tuple[int, int]:
    params = request.query_params
    raw_page = params.get("page") or params.get("current_page") or "1"
    raw_per_page = params.get("per_page") or "100"
    try:
        page = int(raw_page)
    except ValueError as exc:
        raise Unprocessable("page must be an integer", parameter="page") from exc
    try:
        per_page = int(raw_per_page)
    except ValueError as exc:
        raise Unprocessable("per_page must be an integer", parameter="per_page") from exc
    if page < 1:
        raise Unprocessable("page must be >= 1", parameter="page")
    if not 1 <= per_page <= 100:
        raise Unprocessable("per_page must be between 1 and 100", parameter="per_page")
    return page, per_page


def _meta(sim: Simulator, page: int, per_page: int, total: int) -> dict[str, Any]:
    total_pages = math.ceil(total / per_page) if total else 0
    if page > max(total_pages, 1) and sim.past_last_page == "422":
        raise Unprocessable(f"page {page} is past the last page ({total_pages})", parameter="page")
    return {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": total,
        "per_page": per_page,
    }


def _paged(sim: Simulator, request: Request, key: str, items: list[dict[str, Any]]) -> Response:
    page, per_page = _pagination(request)
    meta = _meta(sim, page, per_page, len(items))
    start = (page - 1) * per_page
    return _json({key: items[start : start + per_page], "meta": meta})


def _parse_form(body: bytes) -> dict[str, str]:
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise SimError("body is not JSON", status=400, code="bad_request") from exc
    if not isinstance(body, dict):
        raise SimError("body must be a JSON object", status=400, code="bad_request")
    return body


def create_app(sim: Simulator) -> FastAPI:
    """Qonto's API + OAuth + the admin API (``/_sim``) over ``sim``."""
    # Swagger UI's assets are served by the emulator itself, never from a CDN.
    app = FastAPIOffline(title="qonto-sim", docs_url="/docs", openapi_url="/_sim/openapi.json")
    app.state.sim = sim
    fault_rng = random.Random(sim.faults.seed)

    @app.exception_handler(SimError)
    async def _sim_error(request: Request, exc: SimError) -> Response:
        if isinstance(exc, Unauthorized):
            sim.rate_limiter.unauthorized(_client_address(request))
        return qonto_error(
            exc.status, exc.code, exc.detail, parameter=exc.parameter, pointer=exc.pointer
        )

    @app.exception_handler(OAuthError)
    async def _oauth_error(request: Request, exc: OAuthError) -> Response:
        return _json({"error": exc.error, "error_description": exc.description}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return qonto_error(422, "unprocessable_entity", str(exc.errors()))

    @app.exception_handler(ValueError)
    async def _value_error(request: Request, exc: ValueError) -> Response:
        return qonto_error(422, "unprocessable_entity", str(exc))

    @app.middleware("http")
    async def _qonto_edge(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        is_api = path.startswith("/v2/")
        is_oauth = path.startswith("/oauth2/")
        if not (is_api or is_oauth):
            return await call_next(request)
        staging = request.headers.get(STAGING_HEADER)
        if sim.sandbox:
            if not sim.check_staging_token(staging):
                if sim.sandbox_login_redirect:
                    return RedirectResponse("/login", status_code=302)
                return HTMLResponse(LOGIN_PAGE, status_code=200)
        elif staging is not None:
            return qonto_error(
                401, "unauthorized", "the staging token is not accepted in production"
            )
        address = _client_address(request)
        retry_after = sim.rate_limiter.limits.retry_after
        limit_headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        faults = sim.faults
        storm = time.monotonic() < sim.storm_until
        if (
            not sim.rate_limiter.hit(address)
            or storm
            or (faults.rate_limit_rate and fault_rng.random() < faults.rate_limit_rate)
        ):
            return qonto_error(
                429, "too_many_requests", "rate limit exceeded", headers=limit_headers
            )
        if is_api:
            if faults.slow_ms:
                await asyncio.sleep(faults.slow_ms / 1000.0)
            if faults.error_rate and fault_rng.random() < faults.error_rate:
                status = fault_rng.choice((500, 502, 503))
                return qonto_error(status, "internal_server_error", "simulated server error")
            raw_key = request.headers.get(IDEMPOTENCY_HEADER)
            if raw_key is not None and request.method in WRITE_METHODS:
                return await _idempotent(request, call_next, raw_key)
        return await call_next(request)

    async def _idempotent(
        request: Request, call_next: Callable[[Request], Awaitable[Response]], raw_key: str
    ) -> Response:
        """A write with ``X-Qonto-Idempotency-Key``: the first successful answer for this
        organization and key, replayed for 30 minutes (``qrecon.sim.idempotency``)."""
        try:
            who = sim.authenticate(request.headers.get("authorization"))
        except SimError:
            return await call_next(request)  # the endpoint answers 401 (and counts it)
        key = parse_key(raw_key)
        if key is None:
            return qonto_error(
                422,
                "unprocessable_entity",
                f"{IDEMPOTENCY_HEADER} must be a UUID (v4), got {raw_key[:64]!r}",
                parameter=IDEMPOTENCY_HEADER,
            )
        scope = (who.organization_id, key)
        store = sim.idempotency
        async with store.inflight(scope):  # the same key at once: one after the other
            stored = store.get(scope)
            if stored is not None:
                if (stored.method, stored.path) != (request.method, request.url.path):
                    return qonto_error(
                        422,
                        "idempotency_key_reused",
                        f"this {IDEMPOTENCY_HEADER} was used for another request "
                        f"({stored.method} {stored.path})",
                        parameter=IDEMPOTENCY_HEADER,
                    )
                return Response(
                    stored.body,
                    status_code=stored.status,
                    media_type=stored.content_type,
                    headers={REPLAY_HEADER: "true"},
                )
            response = await call_next(request)
            iterator = cast(StreamingResponse, response).body_iterator
            body = b"".join(
                [
                    chunk.encode() if isinstance(chunk, str) else bytes(chunk)
                    async for chunk in iterator
                ]
            )
            if 200 <= response.status_code < 300:
                store.put(
                    scope,
                    StoredAnswer(
                        method=request.method,
                        path=request.url.path,
                        status=response.status_code,
                        body=body,
                        content_type=response.headers.get("content-type"),
                        stored_at=sim.clock.now(),
                    ),
                )
            return Response(body, status_code=response.status_code, headers=response.headers)

    def principal(request: Request, scope: str) -> Principal:
        who = sim.authenticate(request.headers.get("authorization"))
        sim.require_scope(who, scope)
        return who

    # ------------------------------------------------------------------ Qonto API

    @app.get("/v2/organization")
    async def get_organization(request: Request) -> Response:
        who = principal(request, "organization.read")
        return _json({"organization": sim.organization(who.organization_id)})

    @app.get("/v2/bank_accounts")
    async def list_bank_accounts(request: Request) -> Response:
        who = principal(request, "organization.read")
        return _paged(sim, request, "bank_accounts", sim.bank_accounts(who.organization_id))

    @app.get("/v2/bank_accounts/{account_id}")
    async def get_bank_account(account_id: str, request: Request) -> Response:
        who = principal(request, "organization.read")
        return _json({"bank_account": sim.bank_account(account_id, who.organization_id)})

    @app.get("/v2/transactions")
    async def list_transactions(request: Request) -> Response:
        who = principal(request, "organization.read")
        params = request.query_params
        page, per_page = _pagination(request)
        statuses = _list_param(request, "status") or ["completed"]
        side = params.get("side") or None
        if side is not None and side not in ("credit", "debit"):
            raise Unprocessable("side must be credit or debit", parameter="side")
        includes = _list_param(request, "includes")
        items, total = sim.query_transactions(
            who.organization_id,
            bank_account_id=params.get("bank_account_id") or None,
            iban=params.get("iban") or None,
            statuses=statuses,
            sort_by=params.get("sort_by") or "settled_at:desc",
            updated_at_from=_timestamp_param(request, "updated_at_from"),
            updated_at_to=_timestamp_param(request, "updated_at_to"),
            settled_at_from=_timestamp_param(request, "settled_at_from"),
            settled_at_to=_timestamp_param(request, "settled_at_to"),
            emitted_at_from=_timestamp_param(request, "emitted_at_from"),
            emitted_at_to=_timestamp_param(request, "emitted_at_to"),
            side=side,
            operation_types=_list_param(request, "operation_type"),
            with_attachments=_bool_param(request, "with_attachments"),
            offset=(page - 1) * per_page,
            limit=per_page,
        )
        meta = _meta(sim, page, per_page, total)
        if includes:
            items = [sim.transaction_includes(tx, includes) for tx in items]
        return _json({"transactions": items, "meta": meta})

    @app.get("/v2/transactions/{transaction_id}")
    async def get_transaction(transaction_id: str, request: Request) -> Response:
        who = principal(request, "organization.read")
        tx = sim.transaction(transaction_id, who.organization_id)
        includes = _list_param(request, "includes")
        if includes:
            tx = sim.transaction_includes(tx, includes)
        return _json({"transaction": tx})

    @app.get("/v2/client_invoices")
    async def list_client_invoices(request: Request) -> Response:
        who = principal(request, "client_invoices.read")
        statuses = _list_param(request, "filter[status]") or _list_param(request, "status")
        return _paged(
            sim, request, "client_invoices", sim.client_invoices(who.organization_id, statuses)
        )

    @app.get("/v2/client_invoices/{invoice_id}")
    async def get_client_invoice(invoice_id: str, request: Request) -> Response:
        who = principal(request, "client_invoices.read")
        for invoice in sim.client_invoices(who.organization_id):
            if invoice["id"] == invoice_id:
                return _json({"client_invoice": invoice})
        raise NotFound("client invoice not found")

    @app.get("/v2/supplier_invoices")
    async def list_supplier_invoices(request: Request) -> Response:
        who = principal(request, "supplier_invoice.read")
        params = request.query_params
        statuses = _list_param(request, "filter[status]") or _list_param(request, "status")
        items = sim.supplier_invoices(
            who.organization_id,
            statuses,
            created_at_from=params.get("created_at_from") or None,
            created_at_to=params.get("created_at_to") or None,
            sort_by=params.get("sort_by") or "created_at:desc",
        )
        return _paged(sim, request, "supplier_invoices", items)

    @app.get("/v2/supplier_invoices/{invoice_id}")
    async def get_supplier_invoice(invoice_id: str, request: Request) -> Response:
        who = principal(request, "supplier_invoice.read")
        for invoice in sim.supplier_invoices(who.organization_id):
            if invoice["id"] == invoice_id:
                return _json({"supplier_invoice": invoice})
        raise NotFound("supplier invoice not found")

    @app.post("/v2/webhook_subscriptions")
    async def create_subscription(request: Request) -> Response:
        who = principal(request, "webhook")
        sim.require_scope(who, "organization.read")
        # X-Qonto-Idempotency-Key is handled for every write by _idempotent.
        body = await _json_body(request)
        data = body.get("webhook_subscription", body)
        callback_url = data.get("callback_url")
        if not isinstance(callback_url, str):
            raise Unprocessable("callback_url is required", parameter="callback_url")
        types = data.get("types") or ([data["type"]] if data.get("type") else [])
        subscription = sim.add_webhook_subscription(
            callback_url=callback_url,
            types=types,
            secret=data.get("secret"),
            description=data.get("description"),
            organization_id=who.organization_id,
            strict=True,
        )
        return _json({"webhook_subscription": subscription}, 201)

    @app.get("/v2/webhook_subscriptions")
    async def list_subscriptions(request: Request) -> Response:
        who = principal(request, "webhook")
        return _paged(
            sim,
            request,
            "webhook_subscriptions",
            sim.webhook_subscriptions(who.organization_id),
        )

    @app.get("/v2/webhook_subscriptions/{subscription_id}")
    async def get_subscription(subscription_id: str, request: Request) -> Response:
        who = principal(request, "webhook")
        sub = sim.webhook_subscription(subscription_id)
        if sub["organization_id"] != who.organization_id:
            raise NotFound("webhook subscription not found")
        sub.pop("secret", None)
        return _json({"webhook_subscription": sub})

    @app.delete("/v2/webhook_subscriptions/{subscription_id}")
    async def delete_subscription(subscription_id: str, request: Request) -> Response:
        who = principal(request, "webhook")
        sim.delete_webhook_subscription(subscription_id, who.organization_id)
        return Response(status_code=204)

    # ------------------------------------------------------------------ OAuth

    @app.get("/oauth2/auth")
    async def authorize(request: Request) -> Response:
        """Consent, auto-approved: redirects to ``redirect_uri?code=...&state=...``."""
        params = request.query_params
        client_id = params.get("client_id") or ""
        scopes = (params.get("scope") or " ".join(SCOPES)).split()
        code = sim.mint_authorization_code(
            client_id, scopes=scopes, redirect_uri=params.get("redirect_uri") or None
        )
        redirect = params.get("redirect_uri") or sim.credentials().redirect_uri
        query = {"code": code, "scope": " ".join(scopes)}
        if params.get("state"):
            query["state"] = params["state"]
        return RedirectResponse(f"{redirect}?{urlencode(query)}", status_code=302)

    @app.post("/oauth2/token")
    async def token(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" not in content_type:
            raise OAuthError(
                "invalid_request", "The request must be application/x-www-form-urlencoded."
            )
        form = _parse_form(await request.body())
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
            result = sim.token_authorization_code(
                client_id=client_id,
                client_secret=client_secret,
                code=form.get("code"),
                redirect_uri=form.get("redirect_uri"),
            )
        elif grant == "refresh_token":
            result = sim.token_refresh(
                client_id=client_id,
                client_secret=client_secret,
                refresh_token=form.get("refresh_token"),
            )
        else:
            raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant!r}.")
        return _json(result, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @app.get("/login")
    async def login_page() -> Response:
        return HTMLResponse(LOGIN_PAGE)

    # ------------------------------------------------------------------ admin API

    from qrecon.sim.admin import register_admin

    register_admin(app, sim)
    app.add_middleware(LostAnswers, sim=sim)  # outermost: answers are lost after processing
    return app
