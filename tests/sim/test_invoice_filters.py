"""Invoice lists filtered as Qonto documents them (docs: list-client-invoices,
list-supplier-invoices), in the strict emulator (the default):

* client invoices: ``filter[status]`` (several comma-separated), ``filter[created_at_from]``,
  ``filter[updated_at_from]`` (and ``_to``), ``sort_by=created_at:asc|desc``;
* supplier invoices: ``filter[status][]`` (repeated) and the same time filters;
* every change moves an invoice's update time (the documented client invoice shows no
  ``updated_at``, yet is filtered on it);
* strict mode ignores the old bare names (``status``, ``created_at_from``) as Qonto
  ignores an unknown parameter; lenient mode still reads them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from qrecon.sim.state import Simulator
from qrecon.sim.testing import EmulatorHandle, run_emulator

T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)


def _seed(sim: Simulator) -> None:
    sim.clock.freeze(T0)
    sim.add_client_invoice(
        number="F-2025-0001",
        client_name="Boulangerie Martin",
        amount_cents=120_000,
        issue_date="2025-03-20",
    )
    sim.add_supplier_invoice(
        invoice_number="FA-0412",
        supplier_name="Imprimerie Durand",
        amount_cents=125_040,
        issue_date="2025-03-21",
    )
    sim.clock.freeze(T0 + timedelta(hours=1))
    paid = sim.add_client_invoice(
        number="F-2025-0002",
        client_name="Hôtel des Canuts",
        amount_cents=125_280,
        issue_date="2025-03-25",
        status="paid",
    )
    sim.add_supplier_invoice(
        invoice_number="FA-0456",
        supplier_name="Électricité Rhône Pro",
        amount_cents=2_210,
        issue_date="2025-03-26",
        status="paid",
    )
    assert paid["number"] == "F-2025-0002"


def _numbers(response: httpx.Response, key: str) -> list[str]:
    assert response.status_code == 200, response.text
    field = "number" if key == "client_invoices" else "invoice_number"
    return [i[field] for i in response.json()[key]]


def test_client_invoices_filter_by_status_and_creation(
    qonto: EmulatorHandle, api: httpx.Client
) -> None:
    _seed(qonto.sim)
    url = "/v2/client_invoices"
    assert _numbers(api.get(url, params={"filter[status]": "paid"}), "client_invoices") == [
        "F-2025-0002"
    ]
    both = api.get(url, params={"filter[status]": "paid,unpaid", "sort_by": "created_at:asc"})
    assert _numbers(both, "client_invoices") == ["F-2025-0001", "F-2025-0002"]
    later = {"filter[created_at_from]": "2025-04-01T09:30:00Z"}
    assert _numbers(api.get(url, params=later), "client_invoices") == ["F-2025-0002"]
    earlier = {"filter[created_at_to]": "2025-04-01T09:30:00Z"}
    assert _numbers(api.get(url, params=earlier), "client_invoices") == ["F-2025-0001"]


def test_a_change_moves_a_client_invoice_into_updated_at_from(
    qonto: EmulatorHandle, api: httpx.Client
) -> None:
    _seed(qonto.sim)
    url = "/v2/client_invoices"
    since = {"filter[updated_at_from]": "2025-04-01T10:30:00.000Z"}
    assert _numbers(api.get(url, params=since), "client_invoices") == []
    first = api.get(url, params={"filter[status]": "unpaid"}).json()["client_invoices"][0]
    qonto.sim.clock.freeze(T0 + timedelta(hours=2))
    qonto.sim.update_client_invoice(first["id"], status="paid")
    changed = api.get(url, params=since)
    assert _numbers(changed, "client_invoices") == ["F-2025-0001"]
    assert "updated_at" not in changed.json()["client_invoices"][0]  # as documented
    until = {"filter[updated_at_to]": "2025-04-01T10:30:00.000Z"}
    assert _numbers(api.get(url, params=until), "client_invoices") == ["F-2025-0002"]


def test_supplier_invoices_filter_by_repeated_status_and_update(
    qonto: EmulatorHandle, api: httpx.Client
) -> None:
    _seed(qonto.sim)
    url = "/v2/supplier_invoices"
    paid = api.get(url, params=[("filter[status][]", "paid")])
    assert _numbers(paid, "supplier_invoices") == ["FA-0456"]
    both = api.get(
        url,
        params=[
            ("filter[status][]", "paid"),
            ("filter[status][]", "to_pay"),
            ("sort_by", "created_at:asc"),
        ],
    )
    assert _numbers(both, "supplier_invoices") == ["FA-0412", "FA-0456"]
    since = {"filter[updated_at_from]": "2025-04-01T09:30:00Z"}
    assert _numbers(api.get(url, params=since), "supplier_invoices") == ["FA-0456"]
    first = both.json()["supplier_invoices"][0]
    qonto.sim.clock.freeze(T0 + timedelta(hours=2))
    qonto.sim.update_supplier_invoice(first["id"], status="paid")
    assert _numbers(
        api.get(url, params={**since, "sort_by": "created_at:asc"}), "supplier_invoices"
    ) == ["FA-0412", "FA-0456"]


def test_strict_ignores_undocumented_filter_names_lenient_reads_them() -> None:
    old_names = {"status": "paid", "created_at_from": "2025-04-01T09:30:00Z"}
    for strict, expected in ((True, 2), (False, 1)):
        sim = Simulator(strict=strict)
        _seed(sim)
        with run_emulator(sim) as qonto, qonto.client(timeout=10.0) as api:
            for url, key in (
                ("/v2/client_invoices", "client_invoices"),
                ("/v2/supplier_invoices", "supplier_invoices"),
            ):
                response = api.get(url, params=old_names)
                assert len(_numbers(response, key)) == expected, (strict, url)


def test_a_bad_filter_date_is_a_422(qonto: EmulatorHandle, api: httpx.Client) -> None:
    response = api.get("/v2/client_invoices", params={"filter[updated_at_from]": "yesterday"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["source"]["parameter"] == "filter[updated_at_from]"
