"""In-process fakes for unit tests: a fake clock and a small fake Qonto behind
``httpx.MockTransport`` (the real-HTTP tests use the emulator instead)."""

from __future__ import annotations

import json
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx

LOGIN = "acme-sas-1234"
SECRET_KEY = "sk_live_not_a_real_key_0123456789"
CLIENT_ID = "client-id-1"
CLIENT_SECRET = "client-secret-1"
STAGING = "staging-token-xyz"


class FakeClock:
    """Monotonic seconds and a wall clock that move only when someone sleeps."""

    def __init__(self, start: datetime | None = None) -> None:
        self.t = 1000.0
        self.wall0 = start or datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return self.wall0 + timedelta(seconds=self.t - 1000.0)

    def advance(self, seconds: float) -> None:
        self.t += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


def tx(n: int, **over: Any) -> dict[str, Any]:
    base = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    stamp = base.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    data: dict[str, Any] = {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "transaction_id": f"acme-transaction-{n}",
        "amount": n + 0.5,
        "amount_cents": n * 100 + 50,
        "currency": "EUR",
        "side": "credit" if n % 2 else "debit",
        "operation_type": "transfer",
        "status": "completed",
        "label": f"Client {n}",
        "settled_at": stamp,
        "emitted_at": stamp,
        "updated_at": stamp,
        "bank_account_id": "ba-1",
        "subject_type": "Transfer",
        "some_undeclared_field": {"kept": True},
    }
    data.update(over)
    return data


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def qonto_error(
    status: int, code: str = "error", detail: str = "boom", **headers: str
) -> httpx.Response:
    return json_response(
        status,
        {"errors": [{"code": code, "detail": detail}], "trace_id": f"trace-{status}"},
        headers=headers or None,
    )


@dataclass
class Issued:
    refresh_token: str
    used_at: float | None = None


@dataclass
class FakeQonto:
    """Enough of Qonto for the client's unit tests."""

    clock: FakeClock = field(default_factory=FakeClock)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    require_staging: bool = False
    grace: float = 60.0
    access_ttl: int = 3600
    script: deque[httpx.Response | Callable[[httpx.Request], httpx.Response]] = field(
        default_factory=deque
    )
    requests: list[httpx.Request] = field(default_factory=list)
    access: dict[str, float] = field(default_factory=dict)  # token -> expires (clock.t)
    refresh: dict[str, Issued] = field(default_factory=dict)
    token_calls: int = 0
    on_token: Callable[[], None] | None = None

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # ------------------------------------------------------------------ oauth
    def issue(self) -> dict[str, Any]:
        access = "at-" + secrets.token_hex(8)
        refresh = "rt-" + secrets.token_hex(8)
        self.access[access] = self.clock.t + self.access_ttl
        self.refresh[refresh] = Issued(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.access_ttl,
            "token_type": "bearer",
            "scope": "organization.read offline_access",
        }

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_calls += 1
        if self.on_token is not None:
            self.on_token()
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return json_response(401, {"error": "invalid_client"})
        if form.get("grant_type") == "authorization_code":
            return json_response(200, self.issue())
        if form.get("grant_type") != "refresh_token":
            return json_response(400, {"error": "unsupported_grant_type"})
        issued = self.refresh.get(form.get("refresh_token", ""))
        if issued is None:
            return json_response(400, {"error": "invalid_grant", "error_description": "unknown"})
        if issued.used_at is None:
            issued.used_at = self.clock.t
        elif self.clock.t - issued.used_at > self.grace:
            return json_response(400, {"error": "invalid_grant", "error_description": "rotated"})
        return json_response(200, self.issue())

    # ------------------------------------------------------------------ api
    def _authorised(self, request: httpx.Request) -> bool:
        value = request.headers.get("authorization", "")
        if value == f"{LOGIN}:{SECRET_KEY}":
            return True
        if value.startswith("Bearer "):
            expires = self.access.get(value.removeprefix("Bearer "))
            return expires is not None and self.clock.t < expires
        return False

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.require_staging and request.headers.get("x-qonto-staging-token") != STAGING:
            return httpx.Response(
                200, text="<html><body>Log in</body></html>", headers={"content-type": "text/html"}
            )
        if self.script:
            step = self.script.popleft()
            return step(request) if callable(step) else step
        path = request.url.path
        if path == "/oauth2/token":
            return self._token(request)
        if not self._authorised(request):
            return qonto_error(401, "unauthorized", "invalid credentials")
        if path == "/v2/organization":
            return json_response(200, {"organization": {"id": "org-1", "slug": LOGIN}})
        if path == "/v2/transactions":
            return self._list(request)
        if path.startswith("/v2/transactions/"):
            ident = path.rsplit("/", 1)[1]
            for t in self.transactions:
                if t["id"] == ident:
                    return json_response(200, {"transaction": t})
            return qonto_error(404, "not_found", "Transaction not found")
        if path == "/v2/webhook_subscriptions" and request.method == "POST":
            body = json.loads(request.content)
            return json_response(201, {"webhook_subscription": {"id": "sub-1", **body}})
        return qonto_error(404, "not_found", path)

    def _list(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        page = int(q.get("page", "1"))
        per_page = int(q.get("per_page", "100"))
        statuses = q.get_list("status[]") or ["completed"]
        items = [t for t in self.transactions if t["status"] in statuses]
        total = len(items)
        pages = max(1, -(-total // per_page))
        if page > pages:
            return qonto_error(422, "invalid_page", "page out of range")
        chunk = items[(page - 1) * per_page : page * per_page]
        return json_response(
            200,
            {
                "transactions": chunk,
                "meta": {
                    "current_page": page,
                    "next_page": page + 1 if page < pages else None,
                    "prev_page": page - 1 if page > 1 else None,
                    "total_pages": pages,
                    "total_count": total,
                    "per_page": per_page,
                },
            },
        )
