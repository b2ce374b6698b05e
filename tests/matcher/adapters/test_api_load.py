"""Review traffic is bounded work: a rejection of many pairs is one statement, and the
review API has its own pool, so it cannot take the connections the consumers need (nor
the consumers its). Real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx

from qrecon.matcher.adapters.postgres import PgRepository
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.bootstrap import MatcherRuntime

from .conftest import DEFAULT_ORG, RuntimeFactory, free_port
from .factories import transaction, tx_event

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_a_rejection_of_many_pairs_is_one_statement(
    pool: asyncpg.Pool, service: MatcherService
) -> None:
    tx = transaction(12345, counterparty="Inconnu")
    await service.handle_transaction_event(tx_event(tx))
    ids = [f"inv-{i:03}" for i in range(100)]
    statements: list[str] = []
    async with pool.acquire() as conn:
        repo = PgRepository(conn, DEFAULT_ORG)
        decision = await repo.insert_decision(tx.id, "reject", {"invoice_ids": ids}, "desk")
        conn.add_query_logger(lambda record: statements.append(record.query))
        assert await repo.add_rejections(tx.id, ids[:10], decision) == ids[:10]
        statements.clear()
        # the ten already rejected are not added twice; the order given is kept
        assert await repo.add_rejections(tx.id, ids, decision) == ids[10:]
        assert len(statements) == 1
        assert len(await repo.rejections_of(tx.id)) == 100


async def test_a_reject_of_the_largest_list_allowed_is_answered(
    runtimes: RuntimeFactory,
) -> None:
    runtime = await _with_api(runtimes)
    tx = transaction(12345, counterparty="Inconnu")
    assert runtime.service is not None
    await runtime.service.handle_transaction_event(tx_event(tx))
    ids = [f"inv-{i:03}" for i in range(100)]
    async with _client(runtime) as http:
        response = await http.post(
            f"/v1/transactions/{tx.id}/reject", json={"invoice_ids": ids}, headers=AUTH
        )
    assert response.status_code == 200, response.text
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        assert len(await PgRepository(conn, DEFAULT_ORG).rejections_of(tx.id)) == 100


async def _with_api(runtimes: RuntimeFactory, **extra: object) -> MatcherRuntime:
    return await runtimes(
        MATCHER_API_ENABLED=True,
        MATCHER_PORT=free_port(),
        MATCHER_API_TOKEN=TOKEN,
        **extra,
    )


@contextlib.asynccontextmanager
async def _client(runtime: MatcherRuntime) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{runtime.settings.port}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        yield http


async def _take_all(pool: asyncpg.Pool) -> list[asyncpg.pool.PoolConnectionProxy]:
    """Every connection the pool will give (what a flood of requests would hold); the
    runtime holds some of them at times, so take until none comes."""
    taken: list[asyncpg.pool.PoolConnectionProxy] = []
    while True:
        try:
            taken.append(await pool.acquire(timeout=1.0))
        except TimeoutError:
            return taken


async def test_the_review_api_and_the_consumers_have_separate_pools(
    runtimes: RuntimeFactory,
) -> None:
    runtime = await _with_api(runtimes, MATCHER_API_POOL_SIZE=2, MATCHER_DB_POOL_SIZE=3)
    assert runtime.pool is not None
    assert runtime.api_pool is not None
    assert runtime.api_pool is not runtime.pool
    assert runtime.api_pool.get_max_size() == 2
    service = runtime.service
    assert service is not None

    # the review API's connections all held: the consumers still decide
    held = [await runtime.api_pool.acquire() for _ in range(2)]  # nothing else uses it
    tx = transaction(33300, counterparty="Boulangerie Martin")
    outcome = await service.handle_transaction_event(tx_event(tx))
    assert outcome is not None
    for conn in held:
        await runtime.api_pool.release(conn)

    # the consumers' connections all held: the review API still answers
    held = await _take_all(runtime.pool)
    try:
        async with _client(runtime) as http:
            response = await http.get(f"/v1/transactions/{tx.id}", headers=AUTH)
        assert response.status_code == 200, response.text
    finally:
        for conn in held:
            await runtime.pool.release(conn)


async def _endless_upload(runtime: MatcherRuntime, auth: bytes) -> bytes:
    """Stream a chunked body that never ends to the real server; its answer's status line
    (an answer at all proves the server did not wait for the body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", runtime.settings.port)
    writer.write(
        b"POST /v1/transactions/x/undo HTTP/1.1\r\nHost: matcher\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n" + auth + b"\r\n"
    )
    chunk = b"x" * 65536

    async def upload() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()

    task = asyncio.create_task(upload())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        writer.close()
    return head.split(b"\r\n", 1)[0]


async def test_an_endless_upload_is_answered_by_the_real_server(
    runtimes: RuntimeFactory,
) -> None:
    runtime = await _with_api(runtimes)
    assert await _endless_upload(runtime, b"") == b"HTTP/1.1 401 Unauthorized"
    authorised = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    assert await _endless_upload(runtime, authorised) == b"HTTP/1.1 413 Request Entity Too Large"
    # and the server is still there for the next client
    async with _client(runtime) as http:
        assert (await http.get("/healthz")).status_code == 200
