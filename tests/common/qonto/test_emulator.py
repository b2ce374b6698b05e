"""The client over real HTTP against the Qonto emulator (``qrecon.sim``).

The emulator is lenient here (``LENIENT``): these tests pin the client's filters and
paging over the whole organization and several statuses at once, as Qonto documents them.
The strict emulator (one status per request, a bank account required: what Qonto really
answers) is pinned in ``tests/sim/test_strict_transactions.py`` and is what sync's tests
run against."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from qrecon.common.db import create_pool
from qrecon.common.qonto.auth import ApiKeyAuth, OAuthAuth
from qrecon.common.qonto.client import IDEMPOTENCY_HEADER, QontoClient, RetryPolicy
from qrecon.common.qonto.errors import (
    QontoAuthError,
    QontoNotFound,
    QontoOAuthError,
    QontoSandboxLoginPage,
    QontoScopeError,
    QontoValidationError,
)
from qrecon.common.qonto.ratelimit import RateLimiter
from qrecon.common.qonto.token_store import InMemoryTokenStore, OAuthTokens, PostgresTokenStore
from qrecon.common.settings import QontoSettings
from qrecon.sim.faults import RateLimits
from qrecon.sim.state import Simulator
from qrecon.sim.testing import EmulatorHandle, arun_emulator, run_emulator

N_TRANSACTIONS = 1234
T0 = datetime(2025, 1, 1, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.2, max_total_delay=10.0)

LENIENT = False  # the emulator answers every status listed, the whole organization


class RecordingTransport(httpx.AsyncHTTPTransport):
    """Real HTTP, remembering what was sent and answered."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[httpx.Request, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.log.append((request, response.status_code))
        return response

    def statuses(self, path_prefix: str = "/") -> list[int]:
        return [s for r, s in self.log if r.url.path.startswith(path_prefix)]


def populate(sim: Simulator, n: int = N_TRANSACTIONS) -> dict[str, Any]:
    """``n`` varied transactions, one simulated minute apart, on two accounts."""
    rng = random.Random(42)
    second = sim.add_bank_account(name="Compte secondaire", iban="FR7616958000019876543210987")
    main_id = sim.credentials().bank_account_id
    sim.clock.freeze(T0)
    for i in range(n):
        sim.clock.advance(60)
        status = rng.choice(["completed"] * 6 + ["pending", "declined"])
        side = rng.choice(["credit", "debit"])
        op = rng.choice(["transfer", "card", "direct_debit", "income"])
        emitted = T0 - timedelta(days=30) + timedelta(hours=i)
        fields: dict[str, Any] = {
            "amount_cents": rng.randint(100, 500_000),
            "side": side,
            "status": status,
            "operation_type": op,
            "emitted_at": emitted,
            "bank_account_id": second["id"] if i % 5 == 0 else main_id,
            "label": f"Counterparty {i}",
            "reference": f"REF-{i}",
            "attachment_ids": [f"att-{i}"] if i % 3 == 0 else [],
        }
        if status == "completed":
            fields["settled_at"] = emitted + timedelta(hours=rng.randint(0, 72))
        sim.add_transaction(notify=False, **fields)
    return {"second": second, "main_id": main_id}


@pytest.fixture
async def qonto() -> AsyncIterator[EmulatorHandle]:
    async with arun_emulator(Simulator(seed=1, strict=LENIENT)) as handle:
        yield handle


@pytest.fixture(scope="module")
def populated_emulator() -> Iterator[tuple[EmulatorHandle, dict[str, Any]]]:
    """One emulator with the 1,234 transactions for the read-only tests of this module."""
    sim = Simulator(seed=1, strict=LENIENT)
    info = populate(sim)
    with run_emulator(sim) as handle:
        yield handle, info


@pytest.fixture
def populated(
    populated_emulator: tuple[EmulatorHandle, dict[str, Any]],
) -> tuple[EmulatorHandle, dict[str, Any]]:
    handle, info = populated_emulator
    handle.sim.set_faults(error_rate=0.0, rate_limit_rate=0.0, storm_seconds=0.0)
    handle.sim.storm_until = 0.0
    handle.sim.rate_limiter.configure(RateLimits(enabled=False))  # tests set their own
    return handle, info


def api_client(handle: EmulatorHandle, **kw: Any) -> QontoClient:
    kw.setdefault("limiter", RateLimiter.unlimited())
    kw.setdefault("retry", FAST)
    return QontoClient(
        base_url=handle.base_url,
        auth=ApiKeyAuth(handle.login, SecretStr(handle.secret_key)),
        **kw,
    )


def ids(items: list[Any]) -> list[str]:
    return [t.id if hasattr(t, "id") else t["id"] for t in items]


def between(value: str | None, lower: datetime, upper: datetime) -> bool:
    """A Qonto timestamp within ``[lower, upper]`` (the emulator's bounds are inclusive)."""
    if value is None:
        return False
    return lower <= datetime.fromisoformat(value.replace("Z", "+00:00")) <= upper


# ---------------------------------------------------------------------- pagination


async def test_paginates_1234_transactions(
    populated: tuple[EmulatorHandle, dict[str, Any]],
) -> None:
    handle, _ = populated
    transport = RecordingTransport()
    async with api_client(handle, transport=transport) as client:
        # One multi-status request (the lenient emulator honours it): 13 pages in all.
        got = [t async for t in client.iter_transactions(status_per_request=False)]
    assert len(got) == N_TRANSACTIONS
    assert len(set(ids(got))) == N_TRANSACTIONS
    assert set(ids(got)) == {t["id"] for t in handle.sim.transactions_latest()}
    assert [t.updated_at for t in got] == sorted(t.updated_at for t in got)
    assert transport.statuses() == [200] * 13  # ceil(1234 / 100) pages, no page 14
    pages = [int(r.url.params["page"]) for r, _ in transport.log]
    assert pages == list(range(1, 14))
    # Money arrives as integer cents; unknown fields are kept.
    first = handle.sim.transaction(got[0].id)
    assert got[0].amount_cents == first["amount_cents"]
    assert got[0].model_extra is not None
    assert "cashflow_category" in got[0].model_extra


async def test_one_page_and_past_the_end(populated: tuple[EmulatorHandle, dict[str, Any]]) -> None:
    handle, _ = populated
    async with api_client(handle) as client:
        page = await client.list_transactions(page=13, per_page=100)
        assert len(page.items) == 34
        assert page.meta.next_page is None
        assert page.meta.total_count == N_TRANSACTIONS
        assert page.meta.total_pages == 13
        with pytest.raises(QontoValidationError):  # the emulator answers 422 past the end
            await client.list_transactions(page=14)
        small = [t async for t in client.iter_transactions(per_page=7, statuses=["declined"])]
    declined = [t for t in handle.sim.transactions_latest() if t["status"] == "declined"]
    assert sorted(ids(small)) == sorted(t["id"] for t in declined)


FilterCase = tuple[str, dict[str, Any], Callable[[dict[str, Any], dict[str, Any]], bool]]
MID = T0 + timedelta(minutes=400)
FILTERS: list[FilterCase] = [
    ("all statuses by default", {}, lambda t, i: True),
    ("status pending", {"statuses": ["pending"]}, lambda t, i: t["status"] == "pending"),
    (
        "status completed+declined",
        {"statuses": ["completed", "declined"]},
        lambda t, i: t["status"] in ("completed", "declined"),
    ),
    (
        "bank_account_id",
        {"bank_account_id": "second"},
        lambda t, i: t["bank_account_id"] == i["second"]["id"],
    ),
    ("iban", {"iban": "second"}, lambda t, i: t["bank_account_id"] == i["second"]["id"]),
    (
        "updated_at range",
        {"updated_at_from": MID, "updated_at_to": MID + timedelta(minutes=250)},
        lambda t, i: between(t["updated_at"], MID, MID + timedelta(minutes=250)),
    ),
    (
        "settled_at range",
        {"settled_at_from": T0 - timedelta(days=20), "settled_at_to": T0 - timedelta(days=10)},
        lambda t, i: between(t["settled_at"], T0 - timedelta(days=20), T0 - timedelta(days=10)),
    ),
    (
        "emitted_at range",
        {"emitted_at_from": T0, "emitted_at_to": T0 + timedelta(days=5)},
        lambda t, i: between(t["emitted_at"], T0, T0 + timedelta(days=5)),
    ),
    ("side debit", {"side": "debit"}, lambda t, i: t["side"] == "debit"),
    (
        "operation types",
        {"operation_types": ["card", "direct_debit"]},
        lambda t, i: t["operation_type"] in ("card", "direct_debit"),
    ),
    ("with attachments", {"with_attachments": True}, lambda t, i: bool(t["attachment_ids"])),
    ("without attachments", {"with_attachments": False}, lambda t, i: not t["attachment_ids"]),
    (
        "combined",
        {"side": "credit", "statuses": ["completed"], "bank_account_id": "main"},
        lambda t, i: (
            t["side"] == "credit"
            and t["status"] == "completed"
            and t["bank_account_id"] == i["main_id"]
        ),
    ),
]


@pytest.mark.parametrize(("name", "filters", "expected"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_each_filter(
    populated: tuple[EmulatorHandle, dict[str, Any]],
    name: str,
    filters: dict[str, Any],
    expected: Callable[[dict[str, Any], dict[str, Any]], bool],
) -> None:
    handle, info = populated
    filters = dict(filters)
    if filters.get("bank_account_id") == "second":
        filters["bank_account_id"] = info["second"]["id"]
    if filters.get("bank_account_id") == "main":
        filters["bank_account_id"] = info["main_id"]
    if filters.get("iban") == "second":
        filters["iban"] = info["second"]["iban"]
    async with api_client(handle) as client:
        got = [t async for t in client.iter_transactions(**filters)]
    want = [t["id"] for t in handle.sim.transactions_latest() if expected(t, info)]
    assert want, "the data set must exercise the filter"
    assert len(want) < N_TRANSACTIONS or name == "all statuses by default"
    assert sorted(ids(got)) == sorted(want)
    assert len(got) == len(set(ids(got)))


async def test_sort_and_includes(populated: tuple[EmulatorHandle, dict[str, Any]]) -> None:
    handle, _ = populated
    async with api_client(handle) as client:
        desc = [
            t
            async for t in client.iter_transactions(
                sort_by="updated_at:desc", status_per_request=False
            )
        ]
        settled = [
            t
            async for t in client.iter_transactions(
                sort_by="settled_at:asc", statuses=["completed"]
            )
        ]
        page = await client.list_transactions(
            per_page=5, includes=["attachments", "labels", "vat_details"], with_attachments=True
        )
    assert [t.updated_at for t in desc] == sorted((t.updated_at for t in desc), reverse=True)
    assert [t.settled_at for t in settled] == sorted(t.settled_at for t in settled)  # type: ignore[type-var]
    for t in page.items:
        assert t.model_extra is not None
        assert t.model_extra["attachments"] == [{"id": t.attachment_ids[0]}]
        assert "labels" in t.model_extra
        assert "vat_details" in t.model_extra


async def test_windows_over_a_large_range(populated: tuple[EmulatorHandle, dict[str, Any]]) -> None:
    handle, _ = populated
    async with api_client(handle) as client:
        got = [
            t
            async for t in client.iter_transactions_in_windows(
                start=T0,
                end=T0 + timedelta(days=2),
                size=timedelta(hours=5),
                overlap=timedelta(minutes=30),
            )
        ]
    assert len(got) == N_TRANSACTIONS
    assert len(set(ids(got))) == N_TRANSACTIONS


async def test_objects_and_lists(qonto: EmulatorHandle) -> None:
    sim = qonto.sim
    tx = sim.add_transaction(amount_cents=12_345, side="credit", notify=False)
    sim.add_client_invoice(
        number="FAC-1", client_name="Client SAS", amount_cents=120_000, issue_date="2025-01-02"
    )
    sim.add_client_invoice(
        number="FAC-2",
        client_name="Client SAS",
        amount_cents=5_000,
        issue_date="2025-01-03",
        status="paid",
    )
    sim.add_supplier_invoice(
        invoice_number="F-9",
        supplier_name="Fournisseur",
        amount_cents=9_900,
        issue_date="2025-01-04",
    )
    async with api_client(qonto) as client:
        org = await client.get_organization()
        assert org["slug"] == qonto.login
        accounts = [a async for a in client.iter_bank_accounts()]
        assert [a["id"] for a in accounts] == [qonto.bank_account_id]
        assert (await client.get_bank_account(qonto.bank_account_id))["iban"] == qonto.iban
        one = await client.get_transaction(tx["id"])
        assert one.amount_cents == 12_345
        assert one.side == "credit"
        with pytest.raises(QontoNotFound) as info:
            await client.get_transaction("00000000-0000-4000-8000-000000000000")
        assert info.value.trace_id
        invoices = [i async for i in client.iter_client_invoices()]
        assert sorted(i["number"] for i in invoices) == ["FAC-1", "FAC-2"]
        paid = [i async for i in client.iter_client_invoices(status="paid")]
        assert [i["number"] for i in paid] == ["FAC-2"]
        suppliers = [i async for i in client.iter_supplier_invoices()]
        assert [i["invoice_number"] for i in suppliers] == ["F-9"]
        # Webhook subscriptions need OAuth's `webhook` scope: the API key gets a typed 403.
        with pytest.raises(QontoScopeError):
            await client.list_webhook_subscriptions()


# ---------------------------------------------------------------------- resilience


async def test_limiter_keeps_the_client_under_the_limit(
    populated: tuple[EmulatorHandle, dict[str, Any]],
) -> None:
    """Emulator limit 40 requests/s; the process limiter at 10/s: no 429 at all, all data.

    The limiter is set well under the emulator's limit (and under what 4 concurrent scans
    ask for, even on a slow machine) so neither assertion rests on scheduling luck: requests
    released 100 ms apart would have to bunch by seconds on the way to reach 40 in one."""
    handle, _ = populated
    handle.sim.rate_limiter.configure(RateLimits(windows=[(40, 1.0)]))
    transport = RecordingTransport()
    limiter = RateLimiter(((10, 1.0),))
    clients = [api_client(handle, limiter=limiter, transport=transport) for _ in range(2)]
    try:
        # Two clients (two connections) of one process, 2 full scans each: 52 requests.
        scans = await asyncio.gather(*(collect(clients[i % 2]) for i in range(4)))
    finally:
        for client in clients:
            await client.aclose()
    assert all(len(scan) == N_TRANSACTIONS for scan in scans)
    assert transport.statuses() == [200] * 52
    assert limiter.waited_total > 0.5  # it did hold requests back


async def collect(client: QontoClient) -> list[str]:
    return ids([t async for t in client.iter_transactions(status_per_request=False)])


async def test_429_storm_retries_lose_nothing(
    populated: tuple[EmulatorHandle, dict[str, Any]],
) -> None:
    """No client limiter against a 25/s emulator limit plus a 0.3 s storm of 429s:
    retries with backoff (penalising the shared limiter) still deliver every page."""
    handle, _ = populated
    handle.sim.rate_limiter.configure(RateLimits(windows=[(25, 1.0)]))
    transport = RecordingTransport()
    limiter = RateLimiter.unlimited()
    policy = RetryPolicy(max_attempts=30, base_delay=0.05, max_delay=0.5, max_total_delay=20)
    client = api_client(handle, limiter=limiter, transport=transport, retry=policy)
    handle.sim.set_faults(storm_seconds=0.3)
    try:
        scans = await asyncio.gather(*(collect(client) for _ in range(4)))
    finally:
        await client.aclose()
    assert all(sorted(scan) == sorted(scans[0]) for scan in scans)
    assert len(scans[0]) == N_TRANSACTIONS
    statuses = transport.statuses()
    assert statuses.count(429) > 0
    assert statuses.count(200) == 4 * 13
    assert client.stats["rate_limited"] == statuses.count(429)


async def test_5xx_recovery(populated: tuple[EmulatorHandle, dict[str, Any]]) -> None:
    handle, _ = populated
    handle.sim.set_faults(error_rate=0.3, seed=3)
    transport = RecordingTransport()
    async with api_client(handle, transport=transport) as client:
        got = [t async for t in client.iter_transactions(status_per_request=False)]
    assert len(set(ids(got))) == N_TRANSACTIONS
    statuses = transport.statuses()
    assert any(s >= 500 for s in statuses)
    assert statuses.count(200) == 13
    assert client.stats["retries"] == len(statuses) - 13


async def test_transport_error_recovery() -> None:
    """Connection refused until the emulator comes up: retried, then answered."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sim = Simulator(seed=1, strict=LENIENT)
    creds = sim.credentials()
    transport = RecordingTransport()
    client = QontoClient(
        base_url=f"http://127.0.0.1:{port}",
        auth=ApiKeyAuth(creds.login, SecretStr(creds.secret_key)),
        limiter=RateLimiter.unlimited(),
        retry=RetryPolicy(max_attempts=100, base_delay=0.05, max_delay=0.1, max_total_delay=20),
        transport=transport,
    )
    async with client:
        task = asyncio.create_task(client.get_organization())
        await asyncio.sleep(0.3)
        assert not task.done()
        async with arun_emulator(sim, port=port):
            org = await task
    assert org["slug"] == creds.login
    assert client.stats["retries"] >= 1
    assert transport.statuses() == [200]  # refused attempts never got an answer


# ---------------------------------------------------------------------- OAuth


def oauth_for(
    handle: EmulatorHandle, store: Any, *, staging: str | None = None, connection_id: str = "acme"
) -> OAuthAuth:
    return OAuthAuth(
        handle.client_id,
        SecretStr(handle.client_secret),
        handle.token_url,
        store,
        connection_id=connection_id,
        clock=handle.sim.clock.now,  # the emulator's controllable clock decides expiry
        staging_token=staging,
        retry_delay=0.01,
    )


@pytest.fixture
async def pg_store(database_url: str) -> AsyncIterator[PostgresTokenStore]:
    pool: asyncpg.Pool = await create_pool(database_url, min_size=1, max_size=4)
    store = PostgresTokenStore(pool)
    await store.migrate()
    try:
        yield store
    finally:
        await pool.close()


class FlakyPostgresStore(PostgresTokenStore):
    def __init__(self, inner: PostgresTokenStore) -> None:
        super().__init__(inner._pool)
        self.crash_next_save = False

    async def save(self, connection_id: str, tokens: OAuthTokens) -> None:
        if self.crash_next_save:
            self.crash_next_save = False
            raise ConnectionResetError("killed between Qonto's answer and the commit")
        await super().save(connection_id, tokens)


async def test_refresh_rotation_end_to_end(
    qonto: EmulatorHandle, pg_store: PostgresTokenStore
) -> None:
    sim = qonto.sim
    sim.clock.freeze(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))
    transport = RecordingTransport()
    auth = oauth_for(qonto, pg_store)
    code = qonto.mint_authorization_code(redirect_uri="https://app.test/cb")
    async with QontoClient(
        base_url=qonto.base_url,
        auth=auth,
        limiter=RateLimiter.unlimited(),
        retry=FAST,
        transport=transport,
    ) as client:
        first = await auth.exchange_code(code, "https://app.test/cb", client.http)
        assert first.refresh_token is not None
        assert "webhook" in first.scopes
        assert await pg_store.load("acme") == first
        await client.get_organization()

        # 56 minutes later (inside the 5-minute margin, before expiry): refresh first.
        sim.clock.advance(56 * 60)
        await client.get_organization()
        second = await pg_store.load("acme")
        assert second is not None
        assert not second.same_as(first)
        assert second.refresh_token != first.refresh_token
        assert await pg_store.generation("acme") == 2
        # Three more hours of rotations: each refresh uses the latest refresh token.
        for _ in range(3):
            sim.clock.advance(3600)
            await client.get_organization()
        assert auth.refreshes == 4
        assert await pg_store.generation("acme") == 5
        # Never a 401: refreshes happen before expiry.
        assert 401 not in transport.statuses()
        assert transport.statuses("/oauth2/token") == [200] * 5

        # Writes with the bearer (scope `webhook`): create, list, delete.
        sub = await client.create_webhook_subscription(
            "https://hooks.example.test/qonto", ["v1/transactions"], description="qrecon"
        )
        assert len(sub["secret"]) >= 32
        listed = await client.list_webhook_subscriptions()
        assert [s["id"] for s in listed] == [sub["id"]]
        await client.delete_webhook_subscription(sub["id"])
        assert await client.list_webhook_subscriptions() == []
        posts = [
            r for r, _ in transport.log if r.method == "POST" and r.url.path.startswith("/v2/")
        ]
        assert len(posts) == 1
        assert posts[0].headers[IDEMPOTENCY_HEADER]


async def test_crash_between_refresh_and_persist_end_to_end(
    qonto: EmulatorHandle, pg_store: PostgresTokenStore
) -> None:
    sim = qonto.sim
    sim.clock.freeze(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))
    flaky = FlakyPostgresStore(pg_store)
    auth = oauth_for(qonto, flaky)
    code = qonto.mint_authorization_code()
    async with QontoClient(
        base_url=qonto.base_url, auth=auth, limiter=RateLimiter.unlimited(), retry=FAST
    ) as client:
        before = await auth.exchange_code(code, qonto.redirect_uri, client.http)
        sim.clock.advance(3600 - 60)
        flaky.crash_next_save = True
        with pytest.raises(ConnectionResetError):
            await client.get_organization()  # Qonto rotated; the new pair was lost
    assert await pg_store.load("acme") == before

    # A new process, 40 s later: the old refresh token is inside Qonto's 60 s grace.
    sim.clock.advance(40)
    auth2 = oauth_for(qonto, PostgresTokenStore(pg_store._pool))
    async with QontoClient(
        base_url=qonto.base_url, auth=auth2, limiter=RateLimiter.unlimited(), retry=FAST
    ) as client:
        org = await client.get_organization()
    assert org["slug"] == qonto.login
    after = await pg_store.load("acme")
    assert after is not None
    assert not after.same_as(before)
    assert auth2.refreshes == 1


async def test_after_the_grace_the_rotated_token_is_refused(
    qonto: EmulatorHandle,
) -> None:
    sim = qonto.sim
    sim.clock.freeze(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))
    store = InMemoryTokenStore()
    auth = oauth_for(qonto, store)
    async with QontoClient(
        base_url=qonto.base_url, auth=auth, limiter=RateLimiter.unlimited(), retry=FAST
    ) as client:
        before = await auth.exchange_code(
            qonto.mint_authorization_code(), qonto.redirect_uri, client.http
        )
        sim.clock.advance(3600 - 60)
        await client.get_organization()  # rotates
    await store.save("acme", before)  # as if the rotation had never been stored
    sim.clock.advance(61)
    auth2 = oauth_for(qonto, store)
    async with QontoClient(
        base_url=qonto.base_url, auth=auth2, limiter=RateLimiter.unlimited(), retry=FAST
    ) as client:
        with pytest.raises(QontoOAuthError) as info:
            await client.get_organization()
    assert info.value.oauth_error == "invalid_grant"
    assert info.value.status == 400


async def test_concurrent_requests_share_one_refresh_over_http(qonto: EmulatorHandle) -> None:
    sim = qonto.sim
    sim.clock.freeze(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))
    transport = RecordingTransport()
    auth = oauth_for(qonto, InMemoryTokenStore())
    async with QontoClient(
        base_url=qonto.base_url,
        auth=auth,
        limiter=RateLimiter.unlimited(),
        retry=FAST,
        transport=transport,
    ) as client:
        await auth.exchange_code(qonto.mint_authorization_code(), qonto.redirect_uri, client.http)
        sim.clock.advance(3600 - 30)
        orgs = await asyncio.gather(*(client.get_organization() for _ in range(25)))
    assert len(orgs) == 25
    assert transport.statuses("/oauth2/token") == [200, 200]  # the code, then one refresh
    assert transport.statuses("/v2/") == [200] * 25


# ---------------------------------------------------------------------- sandbox


async def test_sandbox_staging_token_enforced() -> None:
    async with arun_emulator(Simulator(seed=1, strict=LENIENT), sandbox=True) as qonto:
        # API call without the staging token: the login page, typed, not retried.
        transport = RecordingTransport()
        async with api_client(qonto, transport=transport) as bare:
            with pytest.raises(QontoSandboxLoginPage):
                await bare.get_organization()
        assert transport.statuses() == [200]  # an HTML 200, exactly one request

        # Token call without it: the login page as well.
        no_staging = oauth_for(qonto, InMemoryTokenStore())
        async with httpx.AsyncClient() as http:
            with pytest.raises(QontoSandboxLoginPage):
                await no_staging.exchange_code(
                    qonto.mint_authorization_code(), qonto.redirect_uri, http
                )

        # With it, on every call (token calls too), everything works.
        transport = RecordingTransport()
        store = InMemoryTokenStore()
        auth = oauth_for(qonto, store, staging=qonto.staging_token)
        async with QontoClient(
            base_url=qonto.base_url,
            auth=auth,
            staging_token=SecretStr(qonto.staging_token),
            limiter=RateLimiter.unlimited(),
            retry=FAST,
            transport=transport,
        ) as client:
            await auth.exchange_code(
                qonto.mint_authorization_code(), qonto.redirect_uri, client.http
            )
            qonto.sim.clock.advance(3600)
            assert (await client.get_organization())["slug"] == qonto.login
        assert [r.url.path for r, _ in transport.log] == [
            "/oauth2/token",
            "/oauth2/token",
            "/v2/organization",
        ]
        assert all(
            r.headers["x-qonto-staging-token"] == qonto.staging_token for r, _ in transport.log
        )
        assert transport.statuses() == [200, 200, 200]

        # The service way: settings from the environment a user would have.
        settings = QontoSettings(_env_file=None, **qonto.env())  # type: ignore[call-arg,arg-type]
        assert settings.is_sandbox
        async with QontoClient.from_settings(
            settings, limiter=RateLimiter.unlimited(), retry=FAST
        ) as client:
            assert (await client.get_organization())["slug"] == qonto.login
        wrong = settings.model_copy(update={"staging_token": SecretStr("stg_wrong")})
        async with QontoClient.from_settings(wrong, limiter=RateLimiter.unlimited()) as client:
            with pytest.raises(QontoSandboxLoginPage):
                await client.get_organization()


async def test_production_settings_against_the_emulator(qonto: EmulatorHandle) -> None:
    env = qonto.env() | {"QONTO_STAGING_TOKEN": "stg_should_not_be_sent"}
    settings = QontoSettings(_env_file=None, **env)  # type: ignore[call-arg,arg-type]
    async with QontoClient.from_settings(settings, limiter=RateLimiter.unlimited()) as client:
        # The emulator refuses a staging token in production; the client never sends it.
        assert (await client.get_organization())["slug"] == qonto.login
    bad = QontoClient(
        base_url=qonto.base_url,
        auth=ApiKeyAuth(qonto.login, SecretStr("wrong")),
        limiter=RateLimiter.unlimited(),
        retry=FAST,
    )
    async with bad:
        with pytest.raises(QontoAuthError) as info:
            await bad.get_organization()
    assert info.value.status == 401
    assert info.value.trace_id


async def test_oauth_on_the_v2_token_path_end_to_end(qonto: EmulatorHandle) -> None:
    """``QONTO_OAUTH_TOKEN_PATH=/v2/oauth2/token``: the code exchange and the refresh go
    there, and the emulator answers them as at ``/oauth2/token``."""
    qonto.sim.clock.freeze(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))
    settings = QontoSettings(
        _env_file=None,  # type: ignore[call-arg]
        QONTO_API_BASE_URL=qonto.base_url,
        QONTO_CLIENT_ID=qonto.client_id,
        QONTO_CLIENT_SECRET=qonto.client_secret,
        QONTO_OAUTH_TOKEN_PATH="/v2/oauth2/token",
    )
    assert settings.oauth_token_url == f"{qonto.base_url}/v2/oauth2/token"
    auth = OAuthAuth(
        qonto.client_id,
        SecretStr(qonto.client_secret),
        settings.oauth_token_url,
        InMemoryTokenStore(),
        clock=qonto.sim.clock.now,  # the emulator's clock decides expiry
    )
    transport = RecordingTransport()
    async with QontoClient.from_settings(
        settings, auth=auth, limiter=RateLimiter.unlimited(), retry=FAST, transport=transport
    ) as client:
        await auth.exchange_code(qonto.mint_authorization_code(), qonto.redirect_uri, client.http)
        qonto.sim.clock.advance(3600)
        assert (await client.get_organization())["slug"] == qonto.login
    assert [r.url.path for r, _ in transport.log] == [
        "/v2/oauth2/token",
        "/v2/oauth2/token",
        "/v2/organization",
    ]
    assert transport.statuses() == [200, 200, 200]


async def test_iter_transactions_asks_one_status_per_request_by_default() -> None:
    """Qonto answers a multi-status ``status[]`` with one status only (the strict emulator:
    the first given). ``iter_transactions()`` therefore asks each status in its own request
    and reads all three; the single multi-status request would see pending ones only."""
    sim = Simulator(seed=5)  # strict, as Qonto
    at = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
    for n, status in enumerate(["pending", "declined", "completed", "completed"]):
        added = sim.add_transaction(
            amount_cents=1_000 + n, side="debit", notify=False, at=at + timedelta(minutes=n)
        )
        sim.update_transaction(added["id"], at=at + timedelta(hours=1, minutes=n), status=status)
    async with arun_emulator(sim) as handle:
        account = handle.bank_account_id
        transport = RecordingTransport()
        async with api_client(handle, transport=transport) as client:
            every = [t async for t in client.iter_transactions(bank_account_id=account)]
            asked = [r.url.params.get_list("status[]") for r, _ in transport.log]
            one_request = [
                t
                async for t in client.iter_transactions(
                    bank_account_id=account, status_per_request=False
                )
            ]
    assert sorted(t.status for t in every) == ["completed", "completed", "declined", "pending"]
    assert asked == [["pending"], ["declined"], ["completed"]]
    assert [t.status for t in one_request] == ["pending"]
