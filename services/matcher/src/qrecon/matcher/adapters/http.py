"""The review API of ``qonto-matcher run`` (FastAPI, JSON, OpenAPI at ``/openapi.json``).

Every ``/v1`` endpoint, reads included, needs ``Authorization: Bearer <MATCHER_API_TOKEN>``
(compared in constant time); without a configured token the review API answers 503 and
nothing can be written. ``/healthz``, ``/readyz`` and ``/metrics`` are open, for probes
and Prometheus. Errors: ``{"error": {"code": "...", "detail": "...", ...}}``.

Each decision publishes a new ``MatchResult`` (through the outbox) and answers it.
``expected_result_seq`` (optional, from a listing) refuses with 409 a decision taken on a
result that changed meanwhile.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from qrecon.common.schemas import MatchResult
from qrecon.matcher.adapters import openapi
from qrecon.matcher.adapters.postgres import PgRepository
from qrecon.matcher.service.matching import MatcherService, ServiceError

_bearer = HTTPBearer(auto_error=False, description="MATCHER_API_TOKEN")

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


# ---------------------------------------------------------------------- models
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


class Page(BaseModel):
    items: list[ReviewItem]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page")


class DecisionBody(BaseModel):
    expected_result_seq: int | None = Field(
        None, description="Refuse (409) if the transaction's result changed since read"
    )
    actor: str | None = Field(None, max_length=200, description="Who decides (audit)")


class RejectBody(DecisionBody):
    invoice_ids: list[str] | None = Field(
        None, description="Pairs to reject; default: the invoices of the current result"
    )


class AllocationIn(BaseModel):
    invoice_id: str
    amount_cents: int = Field(description="In the invoice's sign (negative for a credit note)")


class ManualMatchBody(DecisionBody):
    allocations: list[AllocationIn] = Field(min_length=1)


class TransactionDetail(BaseModel):
    transaction_id: str
    version: datetime
    transaction: dict[str, Any]
    result_seq: int
    result: MatchResult
    decided_by: str
    allocations: dict[str, int]
    history: list[dict[str, Any]]
    decisions: list[dict[str, Any]]


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
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, transaction_id = json.loads(raw)
        return datetime.fromisoformat(stamp), str(transaction_id)
    except Exception as exc:
        raise ApiError(422, "invalid_cursor", "the cursor is not one this API gave") from exc


def create_app(
    service: MatcherService,
    *,
    api_token: SecretStr | None,
    readiness: ReadinessCheck,
) -> FastAPI:
    # Swagger UI's assets are served by the app itself, never from a CDN.
    app = FastAPIOffline(
        title="qonto-matcher review API",
        version="1",
        description=__doc__,
    )

    def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if api_token is None or not api_token.get_secret_value():
            raise ApiError(
                503, "api_token_not_configured", "set MATCHER_API_TOKEN to use the review API"
            )
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(401, "unauthorized", "a bearer token is required")
        if not hmac.compare_digest(
            credentials.credentials.encode(), api_token.get_secret_value().encode()
        ):
            raise ApiError(401, "unauthorized", "wrong token")

    Auth = Depends(authorised)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            {"error": {"code": exc.code, "detail": exc.detail, **exc.extra}},
            status_code=exc.status,
            headers=headers,
        )

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": exc.code, "detail": exc.detail, **exc.extra}},
            status_code=exc.status,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {
                "error": {
                    "code": "invalid_request",
                    "detail": "the request is not valid",
                    "errors": json.loads(json.dumps(exc.errors(), default=str)),
                }
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": "http_error", "detail": str(exc.detail)}},
            status_code=exc.status_code,
            headers=exc.headers,  # a 405's Allow
        )

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
    async def _page(status: str, limit: int, cursor: str | None) -> Page:
        after = _decode_cursor(cursor) if cursor else None
        async with service.pool.acquire() as conn:
            rows = await PgRepository(conn).list_for_review(status, limit + 1, after)
        more = len(rows) > limit
        rows = rows[:limit]
        items = []
        for row in rows:
            tx = row.transaction
            items.append(
                ReviewItem(
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
                    result=MatchResult.model_validate(row.result),
                )
            )
        next_cursor = _encode_cursor(rows[-1].tx_date, rows[-1].transaction_id) if more else None
        return Page(items=items, next_cursor=next_cursor)

    @app.get("/v1/suggestions", dependencies=[Auth], tags=["review"], responses=openapi.LISTING)
    async def suggestions(limit: Limit = 50, cursor: str | None = None) -> Page:
        """Transactions whose result is ``suggested``, newest first."""
        return await _page("suggested", limit, cursor)

    @app.get("/v1/unmatched", dependencies=[Auth], tags=["review"], responses=openapi.LISTING)
    async def unmatched(limit: Limit = 50, cursor: str | None = None) -> Page:
        """Transactions whose result is ``unmatched``, newest first."""
        return await _page("unmatched", limit, cursor)

    @app.get(
        "/v1/transactions/{transaction_id}",
        dependencies=[Auth],
        tags=["review"],
        responses=openapi.ITEM,
    )
    async def transaction(transaction_id: str) -> TransactionDetail:
        async with service.pool.acquire() as conn:
            repo = PgRepository(conn)
            row = await repo.get_transaction(transaction_id)
            if row is None:
                raise ApiError(404, "not_found", f"transaction {transaction_id} is unknown")
            allocations = await repo.allocations_of(transaction_id)
            history = await repo.results_of(transaction_id)
            decisions = await repo.decisions_of(transaction_id)
        return TransactionDetail(
            transaction_id=row.transaction_id,
            version=row.version,
            transaction=row.transaction,
            result_seq=row.result_seq,
            result=MatchResult.model_validate(row.result),
            decided_by=row.decided_by,
            allocations=allocations,
            history=history,
            decisions=[
                {
                    "id": d.id,
                    "action": d.action,
                    "payload": d.payload,
                    "actor": d.actor,
                    "created_at": d.created_at,
                    "undone_at": d.undone_at,
                }
                for d in decisions
            ],
        )

    @app.get(
        "/v1/invoices/{invoice_id}", dependencies=[Auth], tags=["review"], responses=openapi.ITEM
    )
    async def invoice(invoice_id: str) -> InvoiceDetail:
        async with service.pool.acquire() as conn:
            repo = PgRepository(conn)
            row = await repo.get_invoice(invoice_id)
            if row is None:
                raise ApiError(404, "not_found", f"invoice {invoice_id} is unknown")
            allocated_to = await repo.transactions_allocated_to(invoice_id)
        return InvoiceDetail(
            invoice_id=row.invoice_id,
            invoice=row.invoice,
            status=row.status,
            amount_cents=row.amount_cents,
            allocated_cents=row.allocated_cents,
            residual_cents=row.residual_cents,
            allocations=allocated_to,
        )

    # ------------------------------------------------------------------ decisions
    @app.post(
        "/v1/transactions/{transaction_id}/confirm",
        dependencies=[Auth],
        tags=["review"],
        responses=openapi.DECISION,
    )
    async def confirm(transaction_id: str, body: DecisionBody | None = None) -> MatchResult:
        """Accept the suggestion: allocate it and learn the counterparty alias."""
        body = body or DecisionBody()
        return await service.confirm(
            transaction_id, expected_seq=body.expected_result_seq, actor=body.actor
        )

    @app.post(
        "/v1/transactions/{transaction_id}/reject",
        dependencies=[Auth],
        tags=["review"],
        responses=openapi.DECISION,
    )
    async def reject(transaction_id: str, body: RejectBody | None = None) -> MatchResult:
        """Reject pairs (never suggested again) and decide the transaction again."""
        body = body or RejectBody()
        return await service.reject(
            transaction_id,
            body.invoice_ids,
            expected_seq=body.expected_result_seq,
            actor=body.actor,
        )

    @app.post(
        "/v1/transactions/{transaction_id}/match",
        dependencies=[Auth],
        tags=["review"],
        responses=openapi.DECISION,
    )
    async def match(transaction_id: str, body: ManualMatchBody) -> MatchResult:
        """Allocate explicitly; validated against the invoices' residuals."""
        allocations: dict[str, int] = {}
        for item in body.allocations:
            if item.invoice_id in allocations:
                raise ApiError(422, "invalid_request", f"invoice {item.invoice_id} given twice")
            allocations[item.invoice_id] = item.amount_cents
        return await service.match_manually(
            transaction_id, allocations, expected_seq=body.expected_result_seq, actor=body.actor
        )

    @app.post(
        "/v1/transactions/{transaction_id}/undo",
        dependencies=[Auth],
        tags=["review"],
        responses=openapi.DECISION,
    )
    async def undo(transaction_id: str, body: DecisionBody | None = None) -> MatchResult:
        """Undo the last review decision of this transaction and decide it again."""
        body = body or DecisionBody()
        return await service.undo(
            transaction_id, expected_seq=body.expected_result_seq, actor=body.actor
        )

    return app
