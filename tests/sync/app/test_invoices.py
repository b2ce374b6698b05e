"""Polling invoices (``app.invoices``) on fakes of its ports: no server."""

from __future__ import annotations

import pytest

from qrecon.sync.app.invoices import sync_invoices_once
from qrecon.sync.app.ports import Fence, LeaseLost
from qrecon.sync.metrics import SyncMetrics

from ..core.test_invoices import CLIENT, SUPPLIER
from ..fakes import FakePublisher, FakeQontoApi, FakeStore


async def test_an_invoice_is_published_once_then_again_only_when_it_changes() -> None:
    api = FakeQontoApi(client_invoices=[CLIENT], supplier_invoices=[SUPPLIER])
    store, sink, metrics = FakeStore(), FakePublisher(), SyncMetrics()

    first = await sync_invoices_once(
        api, store=store, sink=sink, metrics=metrics, connection_id="c1"
    )
    again = await sync_invoices_once(
        api, store=store, sink=sink, metrics=metrics, connection_id="c1"
    )
    api.client_invoices = [{**CLIENT, "status": "paid", "paid_at": "2025-10-20T10:00:00Z"}]
    paid = await sync_invoices_once(
        api, store=store, sink=sink, metrics=metrics, connection_id="c1"
    )

    assert first["invoice.upsert"] == 2
    assert again["unchanged"] == 2
    assert paid["invoice.upsert"] == 1
    assert len(sink.invoices) == 3
    assert set(store.invoices) == {CLIENT["id"], SUPPLIER["id"]}


async def test_a_lost_lease_refuses_the_record() -> None:
    api = FakeQontoApi(client_invoices=[CLIENT])
    store = FakeStore(lease_lost=True)
    with pytest.raises(LeaseLost):
        await sync_invoices_once(
            api,
            store=store,
            sink=FakePublisher(),
            metrics=SyncMetrics(),
            connection_id="c1",
            fence=Fence("invoices/c1", "me", 1),
        )
    assert store.invoices == {}
