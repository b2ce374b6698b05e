"""The review API of ``qonto-matcher run`` (FastAPI, JSON, OpenAPI at ``/openapi.json``).

Every ``/v1`` endpoint, reads included, needs ``Authorization: Bearer <token>``: a
per-person key of one organisation (``qonto-matcher keys create --organization ORG --name
NAME``; stored as a SHA-256 digest, compared in constant time), or the shared
``MATCHER_API_TOKEN``, which acts for ``MATCHER_DEFAULT_ORGANIZATION``. Every route works
on the caller's organisation only: another organisation's transactions and invoices answer
404. A key's decisions are recorded with its owner's name as ``actor`` (only the shared
token's callers name themselves in the body). ``GET /v1/organizations`` lists the
organisations, for admin keys and the shared token. Without a configured token the review
API answers 503 and nothing can be written. ``/healthz``, ``/readyz`` and ``/metrics`` are
open, for probes and Prometheus. Errors: ``{"error": {"code": "...", "detail": "...",
...}}``, for every status (422 lists each error's location and message, never the
input; 500 carries no traceback): see ``http_errors``.

Limits (``http_limits``): the token is checked before the body is read; a body over
``MATCHER_API_MAX_BODY_BYTES`` (1 MiB) is a 413; lists hold at most 100 items, ids at most
255 characters and no control character. A manual match obeys the engine's allocation
rules (``qrecon.matcher.core.rules``): a broken one is a 422 naming it in ``rule``.

Each decision publishes a new ``MatchResult`` (through the outbox) and answers it.
``expected_result_seq`` (optional, from a listing) refuses with 409 a decision taken on a
result that changed meanwhile.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, SecretStr, StringConstraints, TypeAdapter

from qrecon.common.money import MAX_ABS_CENTS
from qrecon.common.schemas import MatchResult
from qrecon.common.schemas.text import NO_CONTROL_CHARACTERS, Id
from qrecon.common.timeutil import ensure_aware
from qrecon.matcher.adapters import openapi
from qrecon.matcher.adapters.access_log import AccessLog
from qrecon.matcher.adapters.http_errors import ApiError, install_error_handlers
from qrecon.matcher.adapters.http_limits import (
    DEFAULT_MAX_BODY_BYTES,
    PRINCIPAL,
    RequestGuard,
    authenticator,
)
from qrecon.matcher.adapters.web import Desk
from qrecon.matcher.app.keys import ApiKeys, Principal
from qrecon.matcher.app.ports import ReviewRecord
from qrecon.matcher.app.service import MatcherService, OrgServices
from qrecon.matcher.core.explanations import explain

_bearer = HTTPBearer(
    auto_error=False,
    description="A per-person key (qonto-matcher keys create) or MATCHER_API_TOKEN",
)

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]
# Bounds of what a request may carry (a body is also capped as a whole: http_limits).
MAX_BODY_ITEMS = 100
Actor = Annotated[str, StringConstraints(max_length=200), NO_CONTROL_CHARACTERS]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=1024), NO_CONTROL_CHARACTERS]
ResultSeq = Annotated[int, Field(ge=0, le=2**63 - 1)]
Cents = Annotated[int, Field(ge=-MAX_ABS_CENTS, le=MAX_ABS_CENTS)]
_ID = TypeAdapter(Id)

__all__ = ["ApiError", "create_app"]


# ---------------------------------------------------------------------- models
class ReasonExplanation(BaseModel):
    code: str = Field(description="A reason code of the result")
    fr: str = Field(description="The reason in plain French")
    en: str = Field(description="The reason in plain English")


def _explanations(result: MatchResult) -> list[ReasonExplanation]:
    return [ReasonExplanation(code=t.code, fr=t.fr, en=t.en) for t in explain(result)]


class ReviewItem(BaseModel):
    transaction_id: str
    transaction_date: datetime
    side: str
    amount_cents: int
    currency: str
    status: str = Field(description="Qonto status of the transaction")
    label: str | None = None
    counterparty: str | None = None
    reference: str | None = None
    result_seq: int
    result: MatchResult
    explanations: list[ReasonExplanation] = Field(
        default=[], description="The result's reasons in plain language, in order"
    )


class Page(BaseModel):
    items: list[ReviewItem]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page")


class DecisionBody(BaseModel):
    expected_result_seq: ResultSeq | None = Field(
        None, description="Refuse (409) if the transaction's result changed since read"
    )
    actor: Actor | None = Field(
        None,
        description="Who decides (audit), with the shared MATCHER_API_TOKEN only: a"
        " per-person key's decisions are its owner's, whatever this says",
    )


class RejectBody(DecisionBody):
    invoice_ids: list[Id] | None = Field(
        None,
        max_length=MAX_BODY_ITEMS,
        description="Pairs to reject; default: the invoices of the current result",
    )


class AllocationIn(BaseModel):
    invoice_id: Id
    amount_cents: Cents = Field(description="In the invoice's sign (negative for a credit note)")


class ManualMatchBody(DecisionBody):
    allocations: list[AllocationIn] = Field(min_length=1, max_length=MAX_BODY_ITEMS)


class TransactionDetail(BaseModel):
    transaction_id: str
    version: datetime
    transaction: dict[str, Any]
    result_seq: int
    result: MatchResult
    explanations: list[ReasonExplanation] = Field(
        default=[], description="The result's reasons in plain language, in order"
    )
    decided_by: str
    allocations: dict[str, int]
    history: list[dict[str, Any]]
    decisions: list[dict[str, Any]]


class Organizations(BaseModel):
    items: list[str]


class InvoiceDetail(BaseModel):
    invoice_id: str
    invoice: dict[str, Any]
    status: str
    amount_cents: int
    allocated_cents: int
    residual_cents: int
    allocations: list[str]


# ---------------------------------------------------------------------- cursor
def _encode_cursor(tx_date: datetime, transaction_id: str) -> str:
    raw = json.dumps([tx_date.isoformat(), transaction_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Anything but a cursor this API gave is a 422 (never an error further down: a date
    at the edge of the calendar overflows when converted to UTC, a NUL breaks SQL)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, transaction_id = json.loads(raw)
        if not isinstance(stamp, str) or not isinstance(transaction_id, str):
            raise TypeError("cursor parts are strings")
        return ensure_aware(datetime.fromisoformat(stamp)).astimezone(UTC), _ID.validate_python(
            transaction_id
        )
    except Exception as exc:
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API gave") from exc


def _review_item(row: ReviewRecord) -> ReviewItem:
    tx = row.transaction
    result = MatchResult.model_validate(row.result)
    return ReviewItem(
        transaction_id=row.transaction_id,
        transaction_date=row.tx_date,
        side=str(tx.get("side")),
        amount_cents=int(tx.get("amount_cents") or 0),
        currency=str(tx.get("currency") or ""),
        status=str(tx.get("status") or ""),
        label=tx.get("label"),
        counterparty=tx.get("clean_counterparty_name"),
        reference=tx.get("reference"),
        result_seq=row.result_seq,
        result=result,
        explanations=_explanations(result),
    )


async def _caller(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who calls: what the guard found (``RequestGuard``), or found again here should a
    route ever sit outside ``/v1``."""
    held = (request.scope.get("state") or {}).get(PRINCIPAL)
    if isinstance(held, Principal):
        return held
    header = request.headers.get("authorization")
    principal: Principal = await request.app.state.authenticate(
        header.encode("latin-1") if header is not None else None
    )
    return principal


Caller = Annotated[Principal, Depends(_caller)]


def create_app(
    service: MatcherService,
    *,
    api_token: SecretStr | None,
    readiness: ReadinessCheck,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    keys: ApiKeys | None = None,
    desk: Desk | None = None,
) -> FastAPI:
    # Swagger UI's assets are served by the app itself, never from a CDN.
    app = FastAPIOffline(
        title="qonto-matcher review API",
        version="1",
        description=__doc__,
    )

    # RequestGuard checks the token before the body is read; the dependency declares the
    # scheme in OpenAPI and checks again, should a route ever sit outside /v1/.
    authenticate = authenticator(api_token, keys, service.default_organization)
    app.state.authenticate = authenticate

    def scoped(who: Principal) -> OrgServices:
        """The use cases of the caller's organisation: another organisation's ids are
        unknown to them (404)."""
        if who.organization is None:
            raise ApiError(
                503,
                "no_default_organization",
                "MATCHER_API_TOKEN acts for MATCHER_DEFAULT_ORGANIZATION, which is not set:"
                " use a key of an organisation (qonto-matcher keys create)",
            )
        return service.for_organization(who.organization)

    def actor(who: Principal, given: str | None) -> str | None:
        """A key's decisions are its owner's; only the shared token's callers name
        themselves."""
        return who.name if who.name is not None else given

    app.add_middleware(
        RequestGuard,
        api_token=api_token,
        max_body_bytes=max_body_bytes,
        authenticate=authenticate,
    )
    app.add_middleware(AccessLog)  # added last, so outermost: it sees the guard's 401s too
    install_error_handlers(app)
    if desk is not None:  # the review desk's pages, under /desk (adapters/web)
        desk.mount(app)

    # ------------------------------------------------------------------ operability
    @app.get("/healthz", tags=["operability"], responses=openapi.OPERABILITY)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operability"], responses=openapi.READINESS)
    async def readyz() -> JSONResponse:
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get(
        "/metrics",
        tags=["operability"],
        response_class=PlainTextResponse,
        responses=openapi.METRICS,
    )
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ reads
    async def _page(who: Principal, status: str, limit: int, cursor: str | None) -> Page:
        after = _decode_cursor(cursor) if cursor else None
        page = await scoped(who).queries.review_queue(status, limit, after)
        return Page(
            items=[_review_item(row) for row in page.items],
            next_cursor=_encode_cursor(*page.next_after) if page.next_after else None,
        )

    @app.get("/v1/suggestions", tags=["review"], responses=openapi.LISTING)
    async def suggestions(who: Caller, limit: Limit = 50, cursor: Cursor | None = None) -> Page:
        """Transactions whose result is ``suggested``, newest first."""
        return await _page(who, "suggested", limit, cursor)

    @app.get("/v1/unmatched", tags=["review"], responses=openapi.LISTING)
    async def unmatched(who: Caller, limit: Limit = 50, cursor: Cursor | None = None) -> Page:
        """Transactions whose result is ``unmatched``, newest first."""
        return await _page(who, "unmatched", limit, cursor)

    @app.get(
        "/v1/transactions/{transaction_id}",
        tags=["review"],
        responses=openapi.ITEM,
    )
    async def transaction(who: Caller, transaction_id: Id) -> TransactionDetail:
        view = await scoped(who).queries.transaction(transaction_id)
        row = view.transaction
        result = MatchResult.model_validate(row.result)
        return TransactionDetail(
            transaction_id=row.transaction_id,
            version=row.version,
            transaction=row.transaction,
            result_seq=row.result_seq,
            result=result,
            explanations=_explanations(result),
            decided_by=row.decided_by,
            allocations=view.allocations,
            history=[
                {
                    "seq": r.seq,
                    "cause": r.cause,
                    "event_id": r.event_id,
                    "recorded_at": r.recorded_at,
                    "result": r.result,
                }
                for r in view.history
            ],
            decisions=[
                {
                    "id": d.id,
                    "action": d.action,
                    "payload": d.payload,
                    "actor": d.actor,
                    "created_at": d.created_at,
                    "undone_at": d.undone_at,
                }
                for d in view.decisions
            ],
        )

    @app.get("/v1/invoices/{invoice_id}", tags=["review"], responses=openapi.ITEM)
    async def invoice(who: Caller, invoice_id: Id) -> InvoiceDetail:
        view = await scoped(who).queries.invoice(invoice_id)
        row = view.invoice
        return InvoiceDetail(
            invoice_id=row.invoice_id,
            invoice=row.invoice,
            status=row.status,
            amount_cents=row.amount_cents,
            allocated_cents=row.allocated_cents,
            residual_cents=row.residual_cents,
            allocations=view.allocated_to,
        )

    # ------------------------------------------------------------------ decisions
    @app.post(
        "/v1/transactions/{transaction_id}/confirm",
        tags=["review"],
        responses=openapi.DECISION,
    )
    async def confirm(
        who: Caller, transaction_id: Id, body: DecisionBody | None = None
    ) -> MatchResult:
        """Accept the suggestion: allocate it and learn the counterparty alias."""
        body = body or DecisionBody()
        return await scoped(who).reviews.confirm(
            transaction_id, expected_seq=body.expected_result_seq, actor=actor(who, body.actor)
        )

    @app.post(
        "/v1/transactions/{transaction_id}/reject",
        tags=["review"],
        responses=openapi.DECISION,
    )
    async def reject(
        who: Caller, transaction_id: Id, body: RejectBody | None = None
    ) -> MatchResult:
        """Reject pairs (never suggested again) and decide the transaction again."""
        body = body or RejectBody()
        return await scoped(who).reviews.reject(
            transaction_id,
            body.invoice_ids,
            expected_seq=body.expected_result_seq,
            actor=actor(who, body.actor),
        )

    @app.post(
        "/v1/transactions/{transaction_id}/match",
        tags=["review"],
        responses=openapi.DECISION,
    )
    async def match(who: Caller, transaction_id: Id, body: ManualMatchBody) -> MatchResult:
        """Allocate explicitly; validated against the invoices' residuals."""
        allocations: dict[str, int] = {}
        for item in body.allocations:
            if item.invoice_id in allocations:
                raise ApiError(422, "invalid_request", f"invoice {item.invoice_id} given twice")
            allocations[item.invoice_id] = item.amount_cents
        return await scoped(who).reviews.match_manually(
            transaction_id,
            allocations,
            expected_seq=body.expected_result_seq,
            actor=actor(who, body.actor),
        )

    @app.post(
        "/v1/transactions/{transaction_id}/undo",
        tags=["review"],
        responses=openapi.DECISION,
    )
    async def undo(
        who: Caller, transaction_id: Id, body: DecisionBody | None = None
    ) -> MatchResult:
        """Undo the last review decision of this transaction and decide it again."""
        body = body or DecisionBody()
        return await scoped(who).reviews.undo(
            transaction_id, expected_seq=body.expected_result_seq, actor=actor(who, body.actor)
        )

    # ------------------------------------------------------------------ organisations
    @app.get("/v1/organizations", tags=["admin"], responses=openapi.ADMIN)
    async def organizations(who: Caller) -> Organizations:
        """The organisations the matcher holds state of or has keys for (admin keys and
        the shared token only: 403 otherwise)."""
        if not who.admin:
            raise ApiError(403, "forbidden", "an admin key is required")
        if keys is None:
            return Organizations(items=[])
        return Organizations(items=await keys.store.organizations())

    return app
