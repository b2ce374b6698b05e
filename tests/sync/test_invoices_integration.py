"""Incremental invoice polling against the strict emulator and a real PostgreSQL: each
pass asks Qonto's documented ``filter[updated_at_from]`` (watermark - overlap, the
watermark in ``sync_invoice_watermarks``), so a quiet pass lists only what changed near
the watermark instead of every invoice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from qrecon.common.db import create_pool
from qrecon.common.qonto import RateLimiter
from qrecon.sim.testing import EmulatorHandle
from qrecon.sync.adapters.qonto import build_client
from qrecon.sync.adapters.store import SyncStore, migrate
from qrecon.sync.app.invoices import sync_invoices_once
from qrecon.sync.metrics import SyncMetrics
from qrecon.sync.settings import SyncSettings

from .fakes import FakePublisher

T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=10)


async def test_invoice_passes_list_only_what_changed_since_the_watermark(
    emulator: EmulatorHandle, make_settings: Callable[..., SyncSettings]
) -> None:
    sim = emulator.sim
    sim.clock.freeze(T0)
    clients = [
        sim.add_client_invoice(
            number=f"F-{i}",
            client_name="Boulangerie Martin",
            amount_cents=10_000 + i,
            issue_date="2025-03-20",
        )
        for i in range(3)
    ]
    suppliers = [
        sim.add_supplier_invoice(
            invoice_number=f"S-{i}",
            supplier_name="Imprimerie Durand",
            amount_cents=5_000 + i,
            issue_date="2025-03-21",
        )
        for i in range(3)
    ]
    settings = make_settings(emulator)
    metrics = SyncMetrics()
    sink = FakePublisher()
    pool = await create_pool(settings.database_url.get_secret_value())
    try:
        await migrate(pool)
        store = SyncStore(pool)
        client, _ = build_client(
            settings, "default", limiter=RateLimiter.unlimited(), metrics=metrics, token_store=None
        )

        async def one_pass() -> Counter[str]:
            return await sync_invoices_once(
                client,
                store=store,
                sink=sink,
                metrics=metrics,
                connection_id="default",
                overlap=OVERLAP,
            )

        async with client:
            first = await one_pass()
            marks = await store.invoice_watermarks("default")
            assert marks == {"client_invoice": T0, "supplier_invoice": T0}

            sim.clock.freeze(T0 + timedelta(days=1))
            sim.update_client_invoice(clients[0]["id"], status="paid")
            sim.update_supplier_invoice(suppliers[0]["id"], status="paid")
            second = await one_pass()  # T0 - overlap: everything is still inside

            sim.clock.freeze(T0 + timedelta(days=2))
            sim.add_supplier_invoice(
                invoice_number="S-new",
                supplier_name="Électricité Rhône Pro",
                amount_cents=2_210,
                issue_date="2025-04-02",
            )
            third = await one_pass()
            marks = await store.invoice_watermarks("default")
    finally:
        await pool.close()

    assert first["listed"] == 6
    assert first["invoice.upsert"] == 6
    assert first["client_invoice:full"] == first["supplier_invoice:full"] == 1
    assert second["listed"] == 6
    assert second["invoice.upsert"] == 2  # the two paid ones
    # Day 2: only the two invoices paid on day 1 (inside the overlap) and the new one.
    assert third["listed"] == 3
    assert third["unchanged"] == 2
    assert third["invoice.upsert"] == 1
    assert sink.invoices[-1].invoice.number == "S-new"
    assert marks == {
        "client_invoice": T0 + timedelta(days=1),  # the paid_at Qonto stamped
        "supplier_invoice": T0 + timedelta(days=2),
    }
    # The paid invoices are published as paid.
    paid = [e.invoice for e in sink.invoices if e.invoice.status == "paid"]
    assert {i.number for i in paid} == {"F-0", "S-0"}


async def test_the_watermark_only_moves_forward(
    make_settings: Callable[..., SyncSettings],
) -> None:
    settings = make_settings()
    pool = await create_pool(settings.database_url.get_secret_value())
    try:
        await migrate(pool)
        store = SyncStore(pool)
        await store.set_invoice_watermark("c", "client_invoice", T0 + timedelta(hours=1))
        await store.set_invoice_watermark("c", "client_invoice", T0)  # a late, older pass
        await store.set_invoice_watermark("c", "supplier_invoice", T0)
        assert await store.invoice_watermarks("c") == {
            "client_invoice": T0 + timedelta(hours=1),
            "supplier_invoice": T0,
        }
        assert await store.invoice_watermarks("other") == {}
    finally:
        await pool.close()
