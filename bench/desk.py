"""Benchmark of the review desk's pages (issue 18): the queue and a bank line's page answer
in p95 < 150 ms with 20k open invoices and 5k lines in the queue.

The matcher's app (review API + desk) served by uvicorn over real TCP in this process, on a
fresh PostgreSQL database (``DATABASE_URL``, else ``infra/up.sh``'s server) filled with
``BENCH_DESK_INVOICES`` open invoices and ``BENCH_DESK_LINES`` lines to review (half
suggested, half unmatched); one signed-in client (keep-alive) requests each page
``BENCH_DESK_REQUESTS`` times after a warm-up. Writes ``bench/results/desk.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from qrecon.common import testing
from qrecon.common.db import create_pool
from qrecon.common.timeutil import utcnow
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.adapters.postgres_desk import PgDeskStore
from qrecon.matcher.adapters.web.security import Argon2Hasher
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.desk_people import People
from qrecon.matcher.app.desk_ports import Membership
from qrecon.matcher.bootstrap import build_desk, build_service, migrate
from qrecon.matcher.core import EngineConfig, MatchingEngine

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "desk.json"
INVOICES = int(os.environ.get("BENCH_DESK_INVOICES", "20000"))
LINES = int(os.environ.get("BENCH_DESK_LINES", "5000"))
REQUESTS = int(os.environ.get("BENCH_DESK_REQUESTS", "200"))
CONFIRMS = int(os.environ.get("BENCH_DESK_CONFIRMS", "20"))
WARMUP = 10
GOAL_MS = 150.0
PASSWORD = "bench password 0123"  # noqa: S105 (a throwaway database's)
TOKEN = "bench-desk-token-0123456789"  # noqa: S105 (a throwaway server's)
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TREES = ["Tilleuls", "Acacias", "Platanes", "Chenes", "Erables", "Bouleaux", "Saules",
         "Peupliers", "Cedres", "Pins", "Hetres", "Frenes", "Ormes", "Charmes", "Aulnes",
         "Sapins", "Meleze", "Noyers", "Chataigniers", "Merisiers"]  # fmt: skip
NAMES = ["Dupont", "Martin", "Tilleuls", "Garage Petit", "Boulangerie", "Durand", "Leroy"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def fill(pool: Any) -> list[str]:
    rnd = random.Random(18)
    invoices = []
    for i in range(INVOICES):
        number = f"FAC-2026-{i:06d}"
        amount = rnd.randint(1_000, 500_000)
        name = f"{rnd.choice(NAMES)} {i % 997}"
        issued = (BASE.date() - timedelta(days=rnd.randint(0, 200))).isoformat()
        invoice = {"id": f"inv-{i}", "number": number, "counterparty_name": name,
                   "amount_cents": amount, "currency": "EUR", "issue_date": issued,
                   "kind": "receivable", "status": "open"}  # fmt: skip
        invoices.append((f"inv-{i}", invoice, "receivable", "EUR", amount, "open", BASE))
    lines, ids = [], []
    for i in range(LINES):
        tx_id = f"tx-{i:05d}"
        amount = rnd.randint(1_000, 500_000)
        at = BASE - timedelta(minutes=i * 37)
        name = f"{rnd.choice(NAMES).upper()} {i % 997}"
        tx = {"id": tx_id, "amount_cents": amount, "currency": "EUR", "side": "credit",
              "status": "completed", "label": f"VIR {name}", "clean_counterparty_name": name,
              "reference": f"FAC-2026-{rnd.randint(0, INVOICES):06d}", "settled_at": at.isoformat(),
              "updated_at": at.isoformat()}  # fmt: skip
        status = "suggested" if i % 2 else "unmatched"
        allocations = (
            [{"invoice_id": f"inv-{i}", "invoice_number": f"FAC-2026-{i:06d}",
              "amount_cents": amount}] if status == "suggested" else []
        )  # fmt: skip
        result = {"event_type": "reconciliation.match", "transaction_id": tx_id,
                  "transaction_version": at.isoformat(), "status": status,
                  "allocations": allocations, "residual_cents": 0 if allocations else amount,
                  "confidence": round(rnd.random(), 3) if allocations else 0.0,
                  "reasons": ["amount.exact", "counterparty.name.fuzzy"],
                  "matcher_version": "bench", "decided_at": at.isoformat()}  # fmt: skip
        lines.append((tx_id, at, tx, "credit", "EUR", amount, "completed", at, status, result))
        ids.append(tx_id)
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO matcher_invoices (invoice_id, invoice, kind, currency, amount_cents,"
            " status, last_event_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
            invoices,
        )
        await conn.executemany(
            "INSERT INTO matcher_transactions (transaction_id, version, transaction, side,"
            " currency, amount_cents, qonto_status, tx_date, result_status, result, result_seq,"
            " decided_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,1,'engine')",
            lines,
        )
        await conn.execute("ANALYZE")
    return ids


async def measure(client: httpx.AsyncClient, path: str) -> list[float]:
    timings = []
    for i in range(WARMUP + REQUESTS):
        started = time.perf_counter()
        response = await client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        if i >= WARMUP:
            timings.append(elapsed)
    return timings


async def run() -> dict[str, Any]:
    with testing.postgres_backend() as admin_dsn:
        async with testing.fresh_database(admin_dsn) as dsn:
            pool = await create_pool(dsn, min_size=2, max_size=4)
            try:
                await migrate(pool)
                ids = await fill(pool)
                state = MatcherState()
                service = build_service(
                    pool, MatchingEngine(EngineConfig()), state, Topics("bench-desk.")
                )
                await People(PgDeskStore(pool), Argon2Hasher(), clock=utcnow).create(
                    "bench@example.fr", "Bench", PASSWORD, [Membership("acme", "reviewer")]
                )
                app = create_app(
                    service,
                    api_token=SecretStr(TOKEN),
                    readiness=_ready,
                    desk=build_desk(pool, service),
                )
                port = free_port()
                server = uvicorn.Server(
                    uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                   lifespan="off")
                )  # fmt: skip
                task = asyncio.create_task(server.serve())
                while not server.started:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                try:
                    return await measure_pages(f"http://127.0.0.1:{port}", ids)
                finally:
                    server.should_exit = True
                    await task
            finally:
                await pool.close()


async def _ready() -> dict[str, bool]:
    return {"postgres": True}


async def measure_pages(url: str, ids: list[str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await _sign_in(client)
        line = ids[len(ids) // 2 + 1]  # a suggestion
        pages = {
            "queue (sorted by amount)": "/desk/queue",
            "queue (suggested, by confidence)": "/desk/queue?status=suggested&sort=confidence",
            "queue (full-text search)": "/desk/queue?q=dupont",
            "queue (date and amount range)": (
                "/desk/queue?date_from=2026-02-01&date_to=2026-02-20&amount_min=100&amount_max=2000"
            ),
            "line page": f"/desk/lines/{line}",
            "invoice search (by customer)": f"/desk/lines/{line}/invoices?invoice_q=martin",
            "invoice search (by amount)": f"/desk/lines/{line}/invoices?invoice_q=1234,56",
        }
        return {name: summary(await measure(client, path)) for name, path in pages.items()}


async def confirm_latency() -> dict[str, Any]:
    """Seconds from a desk Confirm (the HTTP post) to its result on
    reconciliation.matches.v1, through a real ``MatcherRuntime`` (outbox and relay at
    their default settings), for ``CONFIRMS`` suggestions one after another."""
    import uuid

    from aiokafka import AIOKafkaConsumer

    from qrecon.common.schemas import (
        Invoice,
        InvoiceEvent,
        MatchResult,
        QontoTransaction,
        TransactionEvent,
    )
    from qrecon.matcher.bootstrap import MatcherRuntime
    from qrecon.matcher.settings import MatcherSettings

    with testing.kafka_backend() as bootstrap, testing.postgres_backend() as admin_dsn:
        topics = await testing.provision_topics(bootstrap, testing.unique_prefix())
        async with testing.fresh_database(admin_dsn) as dsn:
            port = free_port()
            runtime = MatcherRuntime(
                MatcherSettings(
                    KAFKA_BOOTSTRAP_SERVERS=bootstrap, DATABASE_URL=dsn,
                    KAFKA_TOPIC_PREFIX=topics.prefix, MATCHER_GROUP_ID=f"{topics.prefix}m",
                    MATCHER_PORT=port, MATCHER_API_TOKEN=TOKEN,
                    LOG_LEVEL="WARNING",
                )
            )  # fmt: skip
            await runtime.start()
            consumer = AIOKafkaConsumer(
                topics.matches, bootstrap_servers=bootstrap, auto_offset_reset="latest"
            )
            try:
                service, api_pool = runtime.service, runtime.api_pool
                assert service is not None
                assert api_pool is not None
                ids = []
                for i in range(CONFIRMS):
                    tree = TREES[i % len(TREES)]
                    inv = Invoice.model_validate(
                        {"id": f"inv-{i}", "number": f"FAC-{i:04d}", "kind": "receivable",
                         "counterparty_name": f"{tree} Immobilier", "amount_cents": 10_000 + i,
                         "currency": "EUR", "issue_date": "2026-02-10", "status": "open"}
                    )  # fmt: skip
                    await service.handle_invoice_event(
                        InvoiceEvent(event_type="invoice.upsert", invoice=inv, observed_at=BASE)
                    )
                    tx = QontoTransaction.model_validate(
                        {"id": str(uuid.uuid4()), "amount_cents": 10_000 + i, "currency": "EUR",
                         "side": "credit", "status": "completed", "label": f"VIR {tree.upper()}",
                         "clean_counterparty_name":
                             f"SCI {tree.upper()} IMMOBILIER GESTION", "settled_at": BASE,
                         "updated_at": BASE}
                    )  # fmt: skip
                    await service.handle_transaction_event(
                        TransactionEvent(event_id=str(uuid.uuid4()), source="webhook",
                                         transaction=tx, observed_at=BASE)
                    )  # fmt: skip
                    ids.append(tx.id)
                await People(PgDeskStore(api_pool), Argon2Hasher(), clock=utcnow).create(
                    "bench@example.fr", "Bench", PASSWORD, [Membership("acme", "reviewer")]
                )
                await consumer.start()
                await consumer.seek_to_end()
                seconds: list[float] = []
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    await _sign_in(client)
                    for tx_id in ids:
                        page = await client.get(f"/desk/lines/{tx_id}")
                        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                        seq = re.search(r'name="expected_result_seq" value="(\d+)"', page.text)
                        if token is None or seq is None or "/confirm" not in page.text:
                            continue  # not a suggestion
                        started = time.perf_counter()
                        done = await client.post(
                            f"/desk/lines/{tx_id}/confirm",
                            data={"csrf_token": token[1], "expected_result_seq": seq[1]},
                        )
                        assert done.status_code == 303, done.text
                        while True:
                            record = await asyncio.wait_for(consumer.getone(), 30)
                            published = MatchResult.model_validate_json(record.value)
                            if (
                                published.transaction_id == tx_id
                                and published.decided_by == "review"
                            ):
                                break
                        seconds.append(time.perf_counter() - started)
            finally:
                await consumer.stop()
                await runtime.stop()
    return {
        "confirms": len(seconds),
        "p50_s": round(percentile(seconds, 0.5), 3),
        "p95_s": round(percentile(seconds, 0.95), 3),
        "max_s": round(max(seconds), 3),
    }


async def _sign_in(client: httpx.AsyncClient) -> None:
    login = await client.get("/desk/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None
    signed = await client.post(
        "/desk/login",
        data={"email": "bench@example.fr", "password": PASSWORD, "csrf_token": token[1]},
    )
    assert signed.status_code == 303, signed.text


def summary(timings: list[float]) -> dict[str, Any]:
    return {
        "requests": len(timings),
        "p50_ms": round(percentile(timings, 0.50), 2),
        "p95_ms": round(percentile(timings, 0.95), 2),
        "mean_ms": round(statistics.fmean(timings), 2),
        "max_ms": round(max(timings), 2),
    }


def main() -> None:
    measured = asyncio.run(run())
    latency = asyncio.run(confirm_latency())
    result = {
        "benchmark": "desk",
        "title": f"review desk pages: {INVOICES} open invoices, {LINES} lines to review",
        "figures": [
            {"name": f"{name} p95", "value": m["p95_ms"], "unit": "ms", "goal": f"< {GOAL_MS} ms"}
            for name, m in measured.items()
        ]
        + [
            {
                "name": "desk Confirm -> result on reconciliation.matches.v1 p95",
                "value": latency["p95_s"],
                "unit": "s",
                "goal": "< 1 s",
            }
        ],
        "details": {
            **measured,
            "confirm_to_topic": latency,
            "measured_at": date.today().isoformat(),
            "note": "server (uvicorn, in process), client and PostgreSQL share the machine",
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    slow = [f["name"] for f in result["figures"] if f["unit"] == "ms" and f["value"] >= GOAL_MS]
    if latency["p95_s"] >= 1.0:
        slow.append("confirm to topic")
    if slow:
        raise SystemExit(f"desk bench: over {GOAL_MS} ms: {slow}")


if __name__ == "__main__":
    main()
