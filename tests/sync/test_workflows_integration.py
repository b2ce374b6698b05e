"""Restarts, backfills, invoices and several organisations: emulator + Kafka + PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
from cryptography.fernet import Fernet
from rich.console import Console

from qrecon.common.db import create_pool
from qrecon.common.encryption import PREFIX
from qrecon.common.kafka import make_broker
from qrecon.common.qonto import RateLimiter, RetryPolicy
from qrecon.common.topics import Topics
from qrecon.sim.testing import EmulatorHandle
from qrecon.sync.adapters.publisher import KafkaSink
from qrecon.sync.adapters.qonto import build_client
from qrecon.sync.adapters.store import SyncStore, migrate
from qrecon.sync.app.backfill import backfill_account
from qrecon.sync.app.invoices import sync_invoices_once
from qrecon.sync.bootstrap import SyncService, run_backfill
from qrecon.sync.metrics import SyncMetrics
from qrecon.sync.settings import SyncSettings

from .helpers import (
    add_transactions,
    latest_by_id,
    read_topic,
    start_clocks,
    ts,
    versions,
    wait_for,
)


async def test_a_restart_resumes_the_sweep_where_it_stopped(
    emulator: EmulatorHandle,
    make_settings: Callable[..., SyncSettings],
    kafka_bootstrap: str,
    topics: Topics,
    database_url: str,
) -> None:
    start = start_clocks(emulator)
    past = start - timedelta(hours=1)
    for i in range(300):  # an hour ago, one per second: all before the first sweep's end
        emulator.sim.add_transaction(
            amount_cents=100 + i, side="credit", notify=False, at=past + timedelta(seconds=i)
        )
    emulator.sim.set_faults(slow_ms=40)
    settings = make_settings(emulator, per_page=10, seen_consumer_enabled=False, clock_start=start)
    first = SyncService(settings)
    await first.start()
    state = first.connections["default"]
    await wait_for(
        lambda: bool(state.accounts) and next(iter(state.accounts.values())).progress.pages >= 6
    )
    await first.stop()  # SIGTERM: the page in flight is finished, the prefetch abandoned
    worker = next(iter(state.accounts.values()))
    assert worker.progress.sweeps_completed == 0

    conn = await asyncpg.connect(database_url)
    try:
        # Every transaction is completed: the pending and declined sweeps are done, the
        # completed one was stopped half-way.
        row = await conn.fetchrow(
            "SELECT watermark, sweep FROM sync_watermarks WHERE status = 'completed'"
        )
        statuses = await conn.fetch("SELECT status, watermark FROM sync_watermarks")
        published_before = await conn.fetchval("SELECT count(*) FROM sync_seen_versions")
    finally:
        await conn.close()
    assert row is not None
    assert row["watermark"] is None
    assert {r["status"] for r in statuses if r["watermark"] is not None} == {
        "pending",
        "declined",
    }
    checkpoint = json.loads(row["sweep"]) if isinstance(row["sweep"], str) else row["sweep"]
    assert published_before == worker.progress.published > 0

    emulator.sim.set_faults(slow_ms=0)
    # Restarted later: its clock starts where Qonto's (the emulator's) is now.
    later = emulator.sim.clock.now()
    second = SyncService(
        make_settings(emulator, per_page=10, seen_consumer_enabled=False, clock_start=later)
    )
    await second.start()
    try:
        state2 = second.connections["default"]
        await wait_for(lambda: bool(state2.accounts))
        w2 = next(iter(state2.accounts.values()))
        await wait_for(lambda: w2.progress.sweeps_completed >= 1)
    finally:
        await second.stop()

    bodies = await read_topic(kafka_bootstrap, topics.transactions)
    polled = versions(bodies, "poll")
    assert len(polled) == 300
    assert len(set(polled)) == 300, "the restart published a version twice"
    # The checkpoint was the last acknowledged page: the second run started there.
    first_run = sorted(polled, key=lambda v: v[1])[: worker.progress.published]
    assert ts(checkpoint["cursor"]) == first_run[-1][1]


async def test_backfill_walks_settled_windows_and_resumes_after_a_kill(
    emulator: EmulatorHandle,
    make_settings: Callable[..., SyncSettings],
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    sim = emulator.sim
    start = datetime(2024, 1, 1, tzinfo=UTC)
    in_range = []
    for i in range(120):  # settled every ~3 days through 2024
        tx = sim.add_transaction(
            amount_cents=500 + i, side="credit", notify=False, at=start + timedelta(days=3 * i)
        )
        if tx["settled_at"] < "2025":
            in_range.append(tx["id"])
    sim.add_transaction(amount_cents=1, side="debit", status="pending", notify=False, at=start)
    # One edited this year: still found (by settled_at) with its current version.
    edited = sim.update_transaction(in_range[3], note="late edit", notify=False)
    settings = make_settings(emulator, backfill_window_days=60, per_page=20)
    metrics = SyncMetrics()
    pool = await create_pool(settings.database_url.get_secret_value())
    broker = make_broker(settings.kafka_bootstrap_servers, client_id="test-backfill")
    try:
        await migrate(pool)
        store = SyncStore(pool)
        await broker.start()
        sink = KafkaSink(broker, settings.topics)
        client, _ = build_client(
            settings, "default", limiter=RateLimiter.unlimited(), metrics=metrics, token_store=None
        )
        stop = asyncio.Event()
        async with client:
            report = await backfill_account(
                client,
                store=store,
                sink=sink,
                metrics=metrics,
                connection_id="default",
                bank_account_id=emulator.bank_account_id,
                organization_id=emulator.organization_id,
                since=date(2024, 1, 1),
                until=date(2024, 12, 31),
                settings=settings,
                stop=stop,
                on_progress=lambda r, _s: stop.set() if r.pages >= 2 else None,
            )
        assert not report.completed
        assert 0 < report.published < len(in_range)
    finally:
        await broker.stop()
        await pool.close()

    out = io.StringIO()
    reports = await run_backfill(
        settings,
        since=date(2024, 1, 1),
        until=date(2024, 12, 31),
        connection_id=None,
        console=Console(file=out, width=160, force_terminal=False),
        limiter=RateLimiter.unlimited(),
    )
    assert [r.completed for r in reports] == [True]
    assert reports[0].resumed
    assert reports[0].published == len(in_range) - report.published
    assert "100.0%" in out.getvalue()

    again = await run_backfill(
        settings,
        since=date(2024, 1, 1),
        until=date(2024, 12, 31),
        connection_id="default",
        console=Console(file=io.StringIO()),
        limiter=RateLimiter.unlimited(),
    )
    assert again[0].already_done

    bodies = await read_topic(kafka_bootstrap, topics.transactions)
    assert {b["source"] for b in bodies} == {"backfill"}
    backfilled = versions(bodies)
    assert len(backfilled) == len(set(backfilled)) == len(in_range)
    assert {tx_id for tx_id, _ in backfilled} == set(in_range)
    latest = latest_by_id(bodies)
    assert ts(latest[edited["id"]]["transaction"]["updated_at"]) == ts(edited["updated_at"])


async def test_invoices_are_mapped_and_published_on_change_only(
    emulator: EmulatorHandle,
    make_settings: Callable[..., SyncSettings],
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    sim = emulator.sim
    unpaid = sim.add_client_invoice(
        number="F-001", client_name="Maison Dupont", amount_cents=120_000, issue_date="2025-10-01"
    )
    sim.add_client_invoice(
        number="F-002",
        client_name="Draft SA",
        amount_cents=5_000,
        issue_date="2025-10-02",
        status="draft",
    )
    supplier = sim.add_supplier_invoice(
        invoice_number="S-77",
        supplier_name="Fournitures Martin",
        amount_cents=8_990,
        issue_date="2025-09-12",
        iban="FR7630004000031234567890143",
    )
    settings = make_settings(emulator)
    metrics = SyncMetrics()
    pool = await create_pool(settings.database_url.get_secret_value())
    broker = make_broker(settings.kafka_bootstrap_servers, client_id="test-invoices")
    try:
        await migrate(pool)
        store = SyncStore(pool)
        await broker.start()
        sink = KafkaSink(broker, settings.topics)
        client, _ = build_client(
            settings, "default", limiter=RateLimiter.unlimited(), metrics=metrics, token_store=None
        )
        async with client:
            first = await sync_invoices_once(
                client, store=store, sink=sink, metrics=metrics, connection_id="default"
            )
            second = await sync_invoices_once(
                client, store=store, sink=sink, metrics=metrics, connection_id="default"
            )
            sim.update_client_invoice(unpaid["id"], status="paid")
            third = await sync_invoices_once(
                client, store=store, sink=sink, metrics=metrics, connection_id="default"
            )
    finally:
        await broker.stop()
        await pool.close()
    assert first["invoice.upsert"] == 2
    assert first["skipped"] == 1  # the draft
    assert second["unchanged"] == 2
    assert "invoice.upsert" not in second
    assert third["invoice.upsert"] == 1

    events = await read_topic(kafka_bootstrap, topics.invoices)  # partition order, not global
    assert len(events) == 3
    by_kind = {e["invoice"]["kind"]: e for e in events if e["invoice"]["status"] == "open"}
    assert by_kind["receivable"]["invoice"]["number"] == "F-001"
    assert by_kind["receivable"]["invoice"]["amount_cents"] == 120_000
    assert by_kind["payable"]["invoice"]["counterparty_name"] == "Fournitures Martin"
    assert by_kind["payable"]["invoice"]["id"] == supplier["id"]
    paid = [e for e in events if e["invoice"]["status"] == "paid"]
    assert [e["invoice"]["id"] for e in paid] == [unpaid["id"]]


async def test_organisations_share_one_budget_and_fail_alone(
    emulator: EmulatorHandle,
    make_settings: Callable[..., SyncSettings],
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    sim = emulator.sim
    beta = sim.add_organization(slug="beta-sas", secret_key="sk_beta_secret")
    beta_account = sim.add_bank_account(organization_id=beta["id"], main=True)
    add_transactions(emulator, 40)
    for i in range(25):
        sim.add_transaction(
            amount_cents=700 + i, side="debit", notify=False, bank_account_id=beta_account["id"]
        )
    # A third organization over OAuth: a refresh token from a consent, seeded from settings.
    code = emulator.mint_authorization_code()
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            emulator.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": emulator.redirect_uri,
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
            },
        )
    answer.raise_for_status()
    connections = [
        {
            "id": "beta",
            "organization_id": "beta-sas",
            "api_key": "sk_beta_secret",
            "api_base_url": emulator.base_url,
        },
        {
            "id": "broken",
            "organization_id": "nobody",
            "api_key": "wrong",
            "api_base_url": emulator.base_url,
        },
        {
            "id": "oauth",
            "auth": "oauth",
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "refresh_token": answer.json()["refresh_token"],
            "api_base_url": emulator.base_url,
        },
    ]
    settings = make_settings(
        emulator,
        connections=connections,
        rate_limits="1000/10,10000/600",
        token_encryption_keys=Fernet.generate_key().decode(),
    )
    service = SyncService(settings, retry=RetryPolicy(max_attempts=2, base_delay=0.05))
    await service.start()
    try:
        good = [service.connections[c] for c in ("default", "beta", "oauth")]
        await wait_for(lambda: all(c.accounts for c in good))

        # Every version recorded (not just one sweep: the first may end before the newest
        # transactions, settle delay).
        assert service.pool is not None
        for _ in range(300):
            if await service.pool.fetchval("SELECT count(*) FROM sync_seen_versions") >= 65:
                break
            await asyncio.sleep(0.1)
        broken = service.connections["broken"]
        await wait_for(lambda: broken.last_error is not None)
        assert "QontoAuthError" in (broken.last_error or "")
        assert not broken.accounts
        readiness = await service.readiness()
        assert readiness["ready"]
        assert readiness["connections"]["broken"]["last_error"]
        # One limiter for every client of the process (each draws through its own lane).
        limiters = {id(c.client.limiter.parent) for c in service.connections.values()}  # type: ignore[attr-defined]
        assert limiters == {id(service.limiter)}
        # The OAuth connection's rotated tokens are stored encrypted (QONTO_TOKEN_ENCRYPTION_KEYS).
        stored = await service.pool.fetchrow(
            "SELECT access_token, refresh_token FROM qonto_oauth_tokens WHERE connection_id = $1",
            "oauth",
        )
        assert stored is not None
        assert stored["refresh_token"].startswith(PREFIX)
        assert stored["access_token"].startswith(PREFIX)
        cipher = settings.token_cipher()
        assert cipher is not None
        assert cipher.decrypt(stored["refresh_token"]) != answer.json()["refresh_token"]  # rotated
    finally:
        await service.stop()
    bodies = await read_topic(kafka_bootstrap, topics.transactions)
    by_connection: dict[str, set[str]] = {}
    for b in bodies:
        by_connection.setdefault(b["connection_id"], set()).add(b["transaction"]["id"])
    assert len(by_connection["beta"]) == 25
    # default and oauth are the same organization: whichever polled first published,
    # the other found the versions already seen (or raced it: counted, deduplicated).
    assert len(by_connection.get("default", set()) | by_connection.get("oauth", set())) == 40
    assert all(b["organization_id"] for b in bodies)
