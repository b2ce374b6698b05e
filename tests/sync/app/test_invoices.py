"""Polling invoices (``app.invoices``) on fakes of its ports: no server."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qrecon.common.schemas import InvoiceEvent
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


async def test_each_invoice_event_names_its_organisation_else_the_connection_s() -> None:
    without = {k: v for k, v in SUPPLIER.items() if k != "organization_id"}
    api = FakeQontoApi(client_invoices=[CLIENT], supplier_invoices=[without])
    sink = FakePublisher()

    await sync_invoices_once(
        api,
        store=FakeStore(),
        sink=sink,
        metrics=SyncMetrics(),
        connection_id="c1",
        organization_id="org-acme",
    )

    assert [event.organization_id for event in sink.invoices] == ["org-1", "org-acme"]


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


# ------------------------------------------------------------------ incremental passes

T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=10)


def _at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _supplier(n: int, updated: datetime, **changes: Any) -> dict[str, Any]:
    return {
        **SUPPLIER,
        "id": f"5e6f7a8b-0000-4000-8000-00000000010{n}",
        "invoice_number": f"INV-{n}",
        "created_at": _at(T0),
        "updated_at": _at(updated),
        **changes,
    }


async def _pass(api: FakeQontoApi, store: FakeStore, sink: FakePublisher) -> Counter[str]:
    return await sync_invoices_once(
        api, store=store, sink=sink, metrics=SyncMetrics(), connection_id="c1", overlap=OVERLAP
    )


async def test_the_first_pass_lists_everything_then_each_pass_asks_updated_at_from() -> None:
    api = FakeQontoApi(supplier_invoices=[_supplier(1, T0), _supplier(2, T0 + timedelta(hours=1))])
    store, sink = FakeStore(), FakePublisher()

    first = await _pass(api, store, sink)
    assert first["supplier_invoice:full"] == 1
    assert first["invoice.upsert"] == 2
    # The watermark is the latest update Qonto showed (its clock), not ours.
    assert store.invoice_marks[("c1", "supplier_invoice")] == T0 + timedelta(hours=1)

    second = await _pass(api, store, sink)
    asked = [f for kind, f in api.invoice_requests if kind == "supplier_invoice"]
    assert asked[0]["updated_at_from"] is None
    assert asked[1]["updated_at_from"] == T0 + timedelta(hours=1) - OVERLAP
    assert all(f["sort_by"] == "created_at:asc" for f in asked)
    # Only what changed near the watermark is listed again, and nothing is republished.
    assert second["listed"] == 1
    assert second["unchanged"] == 1
    assert len(sink.invoices) == 2


async def test_an_update_after_the_watermark_is_read_and_published() -> None:
    api = FakeQontoApi(supplier_invoices=[_supplier(1, T0), _supplier(2, T0 - timedelta(hours=1))])
    store, sink = FakeStore(), FakePublisher()
    await _pass(api, store, sink)

    later = T0 + timedelta(days=3)
    api.supplier_invoices[0] = _supplier(1, later, status="paid", payment_date="2025-04-04")
    counts = await _pass(api, store, sink)

    assert counts["listed"] == 1
    assert counts["invoice.upsert"] == 1
    assert sink.invoices[-1].invoice.status == "paid"
    assert store.invoice_marks[("c1", "supplier_invoice")] == later


async def test_a_late_commit_inside_the_overlap_is_still_read() -> None:
    """Qonto stamps an update at t but it becomes visible after a pass that already saw
    t + 5 min: the next pass starts 10 min before the watermark and reads it."""
    api = FakeQontoApi(supplier_invoices=[_supplier(1, T0 + timedelta(minutes=5))])
    store, sink = FakeStore(), FakePublisher()
    await _pass(api, store, sink)
    api.supplier_invoices.append(_supplier(2, T0))  # committed late, stamped earlier
    counts = await _pass(api, store, sink)
    assert counts["invoice.upsert"] == 1
    assert sink.invoices[-1].invoice.number == "INV-2"


async def test_a_client_invoice_without_updated_at_moves_the_watermark_by_its_milestones() -> None:
    """A client invoice documents no ``updated_at``; its latest milestone (``paid_at``,
    ``finalized_at``, ``created_at``) is never later than the real update, so the pass
    after re-reads rather than skips."""
    unpaid = {
        **CLIENT,
        "created_at": "2025-04-01T11:00:00+02:00",
        "finalized_at": "2025-04-01T11:05:00+02:00",
        "_updated_at": _at(T0 + timedelta(minutes=5)),
    }
    api = FakeQontoApi(client_invoices=[unpaid])
    store, sink = FakeStore(), FakePublisher()
    await _pass(api, store, sink)
    assert store.invoice_marks[("c1", "client_invoice")] == T0 + timedelta(minutes=5)

    # Paid three days later: the hidden update time moves, and the list shows paid_at.
    api.client_invoices = [
        {
            **unpaid,
            "status": "paid",
            "paid_at": "2025-04-04T10:00:00+02:00",
            "_updated_at": _at(T0 + timedelta(days=3)),
        }
    ]
    counts = await _pass(api, store, sink)
    assert counts["invoice.upsert"] == 1
    assert sink.invoices[-1].invoice.status == "paid"
    assert store.invoice_marks[("c1", "client_invoice")] == datetime(2025, 4, 4, 8, tzinfo=UTC)


async def test_a_failed_pass_keeps_the_watermark() -> None:
    api = FakeQontoApi(supplier_invoices=[_supplier(1, T0)])
    store, sink = FakeStore(), FakePublisher()
    await _pass(api, store, sink)

    class Broken(FakePublisher):
        async def publish_invoice(self, event: InvoiceEvent) -> None:
            raise ConnectionError("broker down")

    api.supplier_invoices = [_supplier(1, T0 + timedelta(days=1), status="paid")]
    with pytest.raises(ConnectionError):
        await _pass(api, store, Broken())
    assert store.invoice_marks[("c1", "supplier_invoice")] == T0
    counts = await _pass(api, store, sink)  # the next pass reads it again
    assert counts["invoice.upsert"] == 1


async def test_watermarks_are_per_connection_and_kind() -> None:
    api = FakeQontoApi(client_invoices=[CLIENT], supplier_invoices=[_supplier(1, T0)])
    store = FakeStore()
    await _pass(api, store, FakePublisher())
    # CLIENT shows no time at all: its kind keeps listing everything.
    assert ("c1", "client_invoice") not in store.invoice_marks
    assert await store.invoice_watermarks("c2") == {}
    counts = await _pass(api, store, FakePublisher())
    assert counts["client_invoice:full"] == 1
    assert counts["supplier_invoice:full"] == 0
