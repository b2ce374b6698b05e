"""The transactions API over real HTTP: shapes, pagination, every filter, sort, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from qrecon.common.schemas import QontoTransaction
from qrecon.sim.state import Simulator
from qrecon.sim.testing import EmulatorHandle

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
IBAN = "FR7630004000031234567890143"


def _seed(sim: Simulator) -> dict[str, str]:
    """Nine transactions on two accounts, every status, both sides, several types."""
    second = sim.add_bank_account(name="Compte secondaire", iban="FR7616958000020000000000192")
    ids: dict[str, str] = {}

    def add(name: str, minutes: int, **fields: Any) -> None:
        tx = sim.add_transaction(at=T0 + timedelta(minutes=minutes), **fields)
        ids[name] = tx["id"]

    add(
        "income1",
        0,
        amount_cents=120000,
        side="credit",
        operation_type="income",
        label="MAISON DUPONT SARL",
        reference="FAC-2025-0001",
        counterparty={"name": "Maison Dupont", "iban": IBAN, "bic": "BNPAFRPP"},
    )
    add("card1", 10, amount_cents=2350, side="debit", operation_type="card", label="SNCF")
    add(
        "card_pending",
        20,
        amount_cents=990,
        side="debit",
        operation_type="card",
        status="pending",
        label="UBER",
    )
    add(
        "card_declined",
        30,
        amount_cents=15000,
        side="debit",
        operation_type="card",
        status="declined",
        label="APPLE",
    )
    add("transfer1", 40, amount_cents=50000, side="debit", operation_type="transfer", label="EDF")
    add(
        "dd1",
        50,
        amount_cents=4999,
        side="debit",
        operation_type="direct_debit",
        label="PRLV SEPA ORANGE SA",
    )
    add("fee", 60, amount_cents=4900, side="debit", operation_type="qonto_fee", label="Qonto")
    add(
        "income_secondary",
        70,
        amount_cents=30000,
        side="credit",
        bank_account_id=second["id"],
        label="EPARGNE",
    )
    add("income2", 80, amount_cents=75, side="credit", label="CLIENT SAS")
    # A later edit moves updated_at but not settled_at.
    sim.update_transaction(ids["income1"], at=T0 + timedelta(hours=5), note="Relancé")
    sim.add_attachment(ids["card1"], at=T0 + timedelta(hours=6))
    ids["second_account"] = second["id"]
    return ids


@pytest.fixture
def sim() -> Simulator:
    """Lenient: these tests pin each filter's semantics over the whole organization and
    several statuses at once (Qonto's documented behaviour); the strict rules (one status
    per request, a bank account required) are pinned in ``test_strict_transactions``."""
    return Simulator(strict=False)


@pytest.fixture
def ids(qonto: EmulatorHandle) -> dict[str, str]:
    return _seed(qonto.sim)


def _get(api: httpx.Client, **params: Any) -> httpx.Response:
    return api.get("/v2/transactions", params=params)


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["transactions"]]


def test_transaction_shape_has_every_documented_field(
    api: httpx.Client, ids: dict[str, str]
) -> None:
    body = api.get(f"/v2/transactions/{ids['income1']}").json()["transaction"]
    documented = {
        "id",
        "transaction_id",
        "amount",
        "amount_cents",
        "local_amount",
        "local_amount_cents",
        "currency",
        "local_currency",
        "settled_balance",
        "settled_balance_cents",
        "side",
        "operation_type",
        "status",
        "label",
        "clean_counterparty_name",
        "reference",
        "note",
        "category",
        "settled_at",
        "emitted_at",
        "created_at",
        "updated_at",
        "vat_amount",
        "vat_amount_cents",
        "vat_rate",
        "initiator_id",
        "label_ids",
        "attachment_ids",
        "attachment_lost",
        "attachment_required",
        "card_last_digits",
        "subject_type",
        "bank_account_id",
        "is_external_transaction",
    }
    assert documented <= body.keys()
    assert body["amount"] == 1200.0
    assert body["amount_cents"] == 120000
    assert body["subject_type"] == "income"
    assert body["income"]["counterparty_account_number"] == IBAN
    assert body["income"]["counterparty_account_number_format"] == "IBAN"
    assert body["income"]["counterparty_bank_identifier"] == "BNPAFRPP"
    assert body["settled_at"] == "2025-03-03T09:00:00.000Z"
    assert body["updated_at"] == "2025-03-03T14:00:00.000Z"
    assert body["note"] == "Relancé"
    parsed = QontoTransaction.model_validate(body)
    assert parsed.amount_cents == 120000
    assert parsed.counterparty["counterparty_name"]


def test_unknown_transaction_is_404_with_qonto_error_body(api: httpx.Client) -> None:
    response = api.get("/v2/transactions/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    body = response.json()
    assert body["errors"][0]["code"] == "not_found"
    assert "detail" in body["errors"][0]
    assert body["trace_id"]


def test_default_is_completed_only_sorted_by_settled_at_desc(
    api: httpx.Client, ids: dict[str, str]
) -> None:
    got = _ids(_get(api))
    assert got == [
        ids[n]
        for n in ("income2", "income_secondary", "fee", "dd1", "transfer1", "card1", "income1")
    ]


def test_status_filter_both_spellings(api: httpx.Client, ids: dict[str, str]) -> None:
    assert _ids(_get(api, **{"status[]": "pending"})) == [ids["card_pending"]]
    both = api.get("/v2/transactions", params=[("status[]", "pending"), ("status[]", "declined")])
    assert set(_ids(both)) == {ids["card_pending"], ids["card_declined"]}
    everything = api.get(
        "/v2/transactions",
        params=[("status[]", s) for s in ("pending", "declined", "completed")],
    )
    assert len(_ids(everything)) == 9
    assert _get(api, **{"status[]": "bogus"}).status_code == 422
    assert _ids(_get(api, **{"status[]": "reversed"})) == []  # documented, never produced


def test_pagination_page_and_current_page(api: httpx.Client, ids: dict[str, str]) -> None:
    first = _get(api, per_page=3).json()
    assert first["meta"] == {
        "current_page": 1,
        "next_page": 2,
        "prev_page": None,
        "total_pages": 3,
        "total_count": 7,
        "per_page": 3,
    }
    pages = [t["id"] for t in first["transactions"]]
    second = _get(api, per_page=3, page=2).json()
    assert second["meta"]["current_page"] == 2
    assert second["meta"]["prev_page"] == 1
    pages += [t["id"] for t in second["transactions"]]
    third = _get(api, per_page=3, current_page=3).json()  # the other spelling
    assert third["meta"]["current_page"] == 3
    assert third["meta"]["next_page"] is None
    pages += [t["id"] for t in third["transactions"]]
    assert pages == _ids(_get(api))
    assert len(third["transactions"]) == 1


def test_past_last_page_is_422_and_bad_per_page_rejected(
    api: httpx.Client, qonto: EmulatorHandle, ids: dict[str, str]
) -> None:
    response = _get(api, per_page=3, page=4)
    assert response.status_code == 422
    assert response.json()["errors"][0]["source"]["parameter"] == "page"
    assert _get(api, per_page=0).status_code == 422
    assert _get(api, per_page=101).status_code == 422
    assert _get(api, page=0).status_code == 422
    assert _get(api, per_page=100).json()["meta"]["per_page"] == 100
    assert _get(api).json()["meta"]["per_page"] == 100  # the default
    qonto.sim.past_last_page = "empty"
    assert _get(api, per_page=3, page=9).json()["transactions"] == []


def test_empty_list_first_page_is_fine(api: httpx.Client) -> None:
    body = _get(api).json()
    assert body["transactions"] == []
    assert body["meta"]["total_count"] == 0
    assert body["meta"]["next_page"] is None


def test_bank_account_id_or_iban_and_id_wins(
    api: httpx.Client, qonto: EmulatorHandle, ids: dict[str, str]
) -> None:
    second = ids["second_account"]
    assert _ids(_get(api, bank_account_id=second)) == [ids["income_secondary"]]
    assert _ids(_get(api, iban="FR7616958000020000000000192")) == [ids["income_secondary"]]
    # Both: bank_account_id wins.
    assert _ids(_get(api, bank_account_id=second, iban=qonto.iban)) == [ids["income_secondary"]]
    assert len(_ids(_get(api, iban=qonto.iban))) == 6
    assert _get(api, bank_account_id="nope").status_code == 404


def test_updated_at_range_and_sort(api: httpx.Client, ids: dict[str, str]) -> None:
    got = _ids(_get(api, updated_at_from="2025-03-03T13:00:00.000Z", sort_by="updated_at:asc"))
    assert got == [ids["income1"], ids["card1"]]
    # The same window under the default sort (settled_at:desc), paged one by one.
    window = {"updated_at_from": "2025-03-03T13:00:00.000Z", "per_page": 1}
    assert _ids(_get(api, **window)) == [ids["card1"]]
    assert _ids(_get(api, **window, page=2)) == [ids["income1"]]
    got = _ids(
        _get(
            api,
            updated_at_from="2025-03-03T09:10:00Z",
            updated_at_to="2025-03-03T09:50:00.000Z",
            sort_by="updated_at:desc",
        )
    )
    assert got == [ids["dd1"], ids["transfer1"]]
    # Bounds are inclusive, to the millisecond.
    assert _ids(
        _get(
            api,
            updated_at_from="2025-03-03T09:50:00.000Z",
            updated_at_to="2025-03-03T09:50:00.000Z",
        )
    ) == [ids["dd1"]]


def test_settled_and_emitted_ranges(api: httpx.Client, ids: dict[str, str]) -> None:
    got = _ids(
        _get(
            api,
            settled_at_from="2025-03-03T09:00:00.000Z",
            settled_at_to="2025-03-03T09:15:00.000Z",
            sort_by="settled_at:asc",
        )
    )
    assert got == [ids["income1"], ids["card1"]]
    # A settled_at range excludes what is not settled.
    pending = api.get(
        "/v2/transactions",
        params=[("status[]", "pending"), ("settled_at_to", "2030-01-01T00:00:00Z")],
    )
    assert _ids(pending) == []
    got = _ids(
        _get(
            api,
            emitted_at_from="2025-03-03T09:55:00Z",
            emitted_at_to="2025-03-03T10:05:00Z",
            sort_by="updated_at:asc",
        )
    )
    assert got == [ids["fee"]]


def test_dates_before_2017_are_rejected(api: httpx.Client) -> None:
    for name in ("updated_at_from", "settled_at_from", "emitted_at_to"):
        response = _get(api, **{name: "2016-12-31T23:59:59.000Z"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["source"]["parameter"] == name
    assert _get(api, updated_at_from="2017-01-01T00:00:00.000Z").status_code == 200
    assert _get(api, updated_at_from="yesterday").status_code == 422


def test_side_operation_type_with_attachments(api: httpx.Client, ids: dict[str, str]) -> None:
    assert set(_ids(_get(api, side="credit"))) == {
        ids["income1"],
        ids["income2"],
        ids["income_secondary"],
    }
    assert _get(api, side="sideways").status_code == 422
    cards = api.get(
        "/v2/transactions",
        params=[("operation_type[]", "card"), ("operation_type[]", "direct_debit")],
    )
    assert set(_ids(cards)) == {ids["card1"], ids["dd1"]}
    assert _ids(_get(api, with_attachments="true")) == [ids["card1"]]
    assert ids["card1"] not in _ids(_get(api, with_attachments="false"))
    # Filters combine, and paginate the filtered list.
    combined = _get(api, side="debit", per_page=2, sort_by="settled_at:asc").json()
    assert combined["meta"]["total_count"] == 4
    assert [t["id"] for t in combined["transactions"]] == [ids["card1"], ids["transfer1"]]


def test_sort_by_variants(api: httpx.Client, ids: dict[str, str]) -> None:
    asc = _ids(_get(api, sort_by="settled_at:asc"))
    assert asc == list(reversed(_ids(_get(api, sort_by="settled_at:desc"))))
    by_update = _ids(_get(api, sort_by="updated_at:desc"))
    assert by_update[:2] == [ids["card1"], ids["income1"]]
    assert _get(api, sort_by="amount:asc").status_code == 422


def test_includes(api: httpx.Client, ids: dict[str, str]) -> None:
    response = api.get(
        f"/v2/transactions/{ids['card1']}",
        params=[("includes[]", "attachments"), ("includes[]", "labels")],
    )
    tx = response.json()["transaction"]
    assert tx["attachments"][0]["id"] == tx["attachment_ids"][0]
    assert tx["labels"] == []
    listed = api.get("/v2/transactions", params=[("includes[]", "vat_details")]).json()
    assert all("vat_details" in t for t in listed["transactions"])
    assert api.get("/v2/transactions", params=[("includes[]", "nope")]).status_code == 422


def test_pending_to_completed_moves_balance_and_versions(
    api: httpx.Client, qonto: EmulatorHandle, ids: dict[str, str]
) -> None:
    sim = qonto.sim
    before = api.get(f"/v2/bank_accounts/{qonto.bank_account_id}").json()["bank_account"]
    tx = sim.update_transaction(ids["card_pending"], status="completed")
    assert tx["settled_at"] is not None
    assert tx["settled_balance_cents"] is not None
    after = api.get(f"/v2/bank_accounts/{qonto.bank_account_id}").json()["bank_account"]
    assert after["balance_cents"] == before["balance_cents"] - 990
    assert after["authorized_balance_cents"] == after["balance_cents"]
    assert before["authorized_balance_cents"] == before["balance_cents"] - 990
    versions = sim.transaction_versions(ids["card_pending"])
    assert [v["transaction"]["status"] for v in versions] == ["pending", "completed"]
    assert versions[1]["updated_at"] > versions[0]["updated_at"]


def test_organization_and_bank_accounts(api: httpx.Client, qonto: EmulatorHandle) -> None:
    org = api.get("/v2/organization").json()["organization"]
    assert org["id"] == qonto.organization_id
    assert org["slug"] == qonto.login
    assert org["bank_accounts"][0]["iban"] == qonto.iban
    listed = api.get("/v2/bank_accounts").json()
    assert listed["meta"]["total_count"] == 1
    account = listed["bank_accounts"][0]
    for key in (
        "id",
        "name",
        "organization_id",
        "status",
        "main",
        "iban",
        "bic",
        "currency",
        "balance",
        "balance_cents",
        "authorized_balance",
        "authorized_balance_cents",
        "updated_at",
        "is_external_account",
    ):
        assert key in account
    assert api.get("/v2/bank_accounts/unknown").status_code == 404


def test_invoices_endpoints(api: httpx.Client, qonto: EmulatorHandle) -> None:
    sim = qonto.sim
    sim.add_client_invoice(
        number="FAC-2025-0001",
        client_name="Maison Dupont",
        amount_cents=120000,
        vat_amount_cents=20000,
        issue_date="2025-03-01",
        due_date="2025-03-31",
    )
    sim.add_client_invoice(
        number="FAC-2025-0002",
        client_name="Atelier Martin",
        amount_cents=6000,
        issue_date="2025-03-02",
        status="paid",
    )
    sim.add_supplier_invoice(
        invoice_number="F2025-00101",
        supplier_name="Bureau Vallée",
        amount_cents=4590,
        issue_date="2025-03-01",
        iban=IBAN,
    )
    body = api.get("/v2/client_invoices").json()
    assert body["meta"]["total_count"] == 2
    invoice = body["client_invoices"][1]
    assert invoice["number"] == "FAC-2025-0001"
    assert invoice["total_amount"] == {"value": "1200.00", "currency": "EUR"}
    assert invoice["total_amount_cents"] == 120000
    assert invoice["due_date"] == "2025-03-31"
    paid = api.get("/v2/client_invoices", params={"filter[status][]": "paid"}).json()
    assert [i["number"] for i in paid["client_invoices"]] == ["FAC-2025-0002"]
    supplier = api.get("/v2/supplier_invoices").json()["supplier_invoices"][0]
    assert supplier["invoice_number"] == "F2025-00101"
    assert supplier["iban"] == IBAN
    assert supplier["total_amount"]["value"] == "45.90"
    assert "total_amount_cents" not in supplier  # as documented: the value only
    assert "_payment_reference" not in supplier


async def test_async_variant_serves_too() -> None:
    from qrecon.sim.testing import arun_emulator

    async with arun_emulator() as qonto, httpx.AsyncClient(base_url=qonto.base_url) as client:
        qonto.sim.add_transaction(amount_cents=100, side="credit")
        response = await client.get(
            "/v2/transactions",
            params={"bank_account_id": qonto.bank_account_id},
            headers=qonto.headers(),
        )
        assert response.json()["meta"]["total_count"] == 1
