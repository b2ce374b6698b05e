"""Pagination, query encoding and transaction parsing (MockTransport)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest

from qrecon.common.qonto.errors import QontoDecodeError, QontoValidationError
from qrecon.common.qonto.pagination import encode_params

from .conftest import MakeClient
from .fakes import FakeQonto, json_response, qonto_error, tx


def test_encode_params() -> None:
    when = datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert encode_params(
        {
            "status": ["pending", "completed"],
            "updated_at_from": when,
            "with_attachments": False,
            "iban": None,
            "filter[status][]": ["paid"],
            "per_page": 100,
        }
    ) == [
        ("status[]", "pending"),
        ("status[]", "completed"),
        ("updated_at_from", "2025-03-01T10:00:00.123Z"),
        ("with_attachments", "false"),
        ("filter[status][]", "paid"),
        ("per_page", "100"),
    ]


async def test_iterates_every_page_and_stops_on_null_next_page(
    fake: FakeQonto, make_client: MakeClient
) -> None:
    fake.transactions = [tx(n) for n in range(1, 251)]
    got = [t async for t in make_client().iter_transactions(status_per_request=False)]
    assert [t.transaction_id for t in got] == [f"acme-transaction-{n}" for n in range(1, 251)]
    pages = [r.url.params for r in fake.requests]
    assert [p["page"] for p in pages] == ["1", "2", "3"]
    assert all(p["per_page"] == "100" for p in pages)
    # Qonto's default is completed only: the client asks for all three statuses (here in
    # one request, as asked; by default one request per status).
    assert pages[0].get_list("status[]") == ["pending", "declined", "completed"]
    assert pages[0]["sort_by"] == "updated_at:asc"


async def test_422_past_the_end_is_the_end(fake: FakeQonto, make_client: MakeClient) -> None:
    # A page claims a next page that Qonto then refuses with 422.
    fake.script.append(
        json_response(200, {"transactions": [tx(1)], "meta": {"current_page": 1, "next_page": 2}})
    )
    fake.script.append(qonto_error(422, "invalid_page"))
    got = [t async for t in make_client().iter_transactions()]
    assert len(got) == 1
    # On the first page a 422 is a real error.
    fake.script.append(qonto_error(422, "invalid_param", "bad iban"))
    with pytest.raises(QontoValidationError):
        _ = [t async for t in make_client().iter_transactions(iban="nope")]


async def test_no_meta_or_empty_page_stops(fake: FakeQonto, make_client: MakeClient) -> None:
    fake.script.append(json_response(200, {"transactions": [tx(1), tx(2)]}))
    one_status = {"statuses": ["completed"]}
    assert len([t async for t in make_client().iter_transactions(**one_status)]) == 2
    fake.script.append(
        json_response(200, {"transactions": [], "meta": {"current_page": 1, "next_page": 2}})
    )
    assert [t async for t in make_client().iter_transactions(**one_status)] == []
    assert len(fake.requests) == 2


async def test_list_transactions_one_page_with_filters(
    fake: FakeQonto, make_client: MakeClient
) -> None:
    fake.transactions = [tx(n) for n in range(1, 8)]
    since = datetime(2025, 1, 1, tzinfo=UTC)
    page = await make_client().list_transactions(
        page=2,
        per_page=3,
        bank_account_id="ba-1",
        statuses=["completed"],
        updated_at_from=since,
        updated_at_to=since + timedelta(days=1),
        settled_at_from="2025-01-01T00:00:00.000Z",
        side="credit",
        operation_types=["transfer", "card"],
        with_attachments=True,
        includes=["labels", "attachments"],
        sort_by="settled_at:desc",
    )
    assert [t.transaction_id for t in page.items] == [f"acme-transaction-{n}" for n in (4, 5, 6)]
    assert page.meta.current_page == 2
    assert page.meta.next_page == 3
    assert page.meta.total_count == 7
    assert page.meta.total_pages == 3
    q = fake.requests[0].url.params
    assert q["page"] == "2"
    assert q["per_page"] == "3"
    assert q["bank_account_id"] == "ba-1"
    assert q.get_list("status[]") == ["completed"]
    assert q["updated_at_from"] == "2025-01-01T00:00:00.000Z"
    assert q["updated_at_to"] == "2025-01-02T00:00:00.000Z"
    assert q["settled_at_from"] == "2025-01-01T00:00:00.000Z"
    assert q["side"] == "credit"
    assert q.get_list("operation_type[]") == ["transfer", "card"]
    assert q["with_attachments"] == "true"
    assert q.get_list("includes[]") == ["labels", "attachments"]
    assert q["sort_by"] == "settled_at:desc"
    with pytest.raises(ValueError):
        await make_client().list_transactions(per_page=101)
    with pytest.raises(TypeError):
        await make_client().list_transactions(no_such_filter=1)


async def test_transactions_parse_to_the_normalised_model(
    fake: FakeQonto, make_client: MakeClient
) -> None:
    fake.transactions = [tx(3, amount="10,05", amount_cents=None, extra_thing=[1, 2])]
    client = make_client()
    (t,) = [t async for t in client.iter_transactions()]
    assert t.amount_cents == 1005
    assert t.amount == Decimal("10.05")
    assert t.updated_at.tzinfo is not None
    assert t.subject_type == "transfer"
    assert t.model_extra is not None
    assert t.model_extra["extra_thing"] == [1, 2]
    assert t.model_extra["some_undeclared_field"] == {"kept": True}
    one = await client.get_transaction(t.id)
    assert one == t
    with pytest.raises(ValueError):
        await client.get_transaction("../organization")


async def test_unparseable_transaction_raises_decode_error(
    fake: FakeQonto, make_client: MakeClient
) -> None:
    fake.script.append(json_response(200, {"transactions": [{"id": "x"}], "meta": {}}))
    with pytest.raises(QontoDecodeError, match="id='x'"):
        _ = [t async for t in make_client().iter_transactions()]


async def test_windows_deduplicate_the_overlap(fake: FakeQonto, make_client: MakeClient) -> None:
    # The fake ignores the time filters, so every window returns the same two items:
    # the dedup of versions seen in the previous window is what is under test.
    fake.transactions = [tx(1), tx(2)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    got = [
        t
        async for t in make_client().iter_transactions_in_windows(
            start=start,
            end=start + timedelta(days=3),
            size=timedelta(days=1),
            overlap=timedelta(hours=1),
            statuses=["completed"],
        )
    ]
    assert [t.transaction_id for t in got] == ["acme-transaction-1", "acme-transaction-2"]
    windows = [
        (r.url.params["updated_at_from"], r.url.params["updated_at_to"]) for r in fake.requests
    ]
    assert windows == [
        ("2025-01-01T00:00:00.000Z", "2025-01-02T00:00:00.000Z"),
        ("2025-01-01T23:00:00.000Z", "2025-01-02T23:00:00.000Z"),
        ("2025-01-02T22:00:00.000Z", "2025-01-03T22:00:00.000Z"),
        ("2025-01-03T21:00:00.000Z", "2025-01-04T00:00:00.000Z"),
    ]


async def test_other_endpoints(fake: FakeQonto, make_client: MakeClient) -> None:
    def route(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/bank_accounts":
            page = int(request.url.params["page"])
            return json_response(
                200,
                {
                    "bank_accounts": [{"id": f"ba-{page}"}],
                    "meta": {"current_page": page, "next_page": 2 if page == 1 else None},
                },
            )
        if path == "/v2/bank_accounts/ba-1":
            return json_response(200, {"bank_account": {"id": "ba-1", "iban": "FR76..."}})
        if path == "/v2/client_invoices":
            # Documented: filter[status] (several comma-separated), filter[updated_at_from]
            assert request.url.params["filter[status]"] == "paid,unpaid"
            assert request.url.params["filter[updated_at_from]"] == "2025-04-01T08:00:00.000Z"
            assert request.url.params["sort_by"] == "created_at:asc"
            return json_response(
                200, {"client_invoices": [{"id": "ci-1"}], "meta": {"next_page": None}}
            )
        if path == "/v2/supplier_invoices":
            # Documented: filter[status][] repeated
            assert request.url.params.get_list("filter[status][]") == ["paid"]
            assert request.url.params["filter[created_at_from]"] == "2025-04-01T00:00:00.000Z"
            return json_response(
                200, {"supplier_invoices": [{"id": "si-1"}], "meta": {"next_page": None}}
            )
        if path == "/v2/webhook_subscriptions" and request.method == "GET":
            return json_response(200, {"webhook_subscriptions": [{"id": "s-1"}]})
        if path == "/v2/webhook_subscriptions/s-1" and request.method == "DELETE":
            return httpx.Response(204)
        raise AssertionError(path)

    fake.script.extend([route] * 8)
    client = make_client()
    assert [a["id"] async for a in client.iter_bank_accounts()] == ["ba-1", "ba-2"]
    assert (await client.get_bank_account("ba-1"))["iban"] == "FR76..."
    assert [
        i["id"]
        async for i in client.iter_client_invoices(
            status=["paid", "unpaid"],
            updated_at_from=datetime(2025, 4, 1, 10, tzinfo=timezone(timedelta(hours=2))),
            sort_by="created_at:asc",
        )
    ] == ["ci-1"]
    assert [
        i["id"]
        async for i in client.iter_supplier_invoices(
            status="paid", created_at_from=datetime(2025, 4, 1, tzinfo=UTC)
        )
    ] == ["si-1"]
    assert await client.list_webhook_subscriptions() == [{"id": "s-1"}]
    await client.delete_webhook_subscription("s-1")
    with pytest.raises(ValueError):
        await client.create_webhook_subscription("https://x", ["v1/transactions"], secret="short")


async def test_both_invoice_listings_turn_the_same_keywords_into_their_own_filters(
    fake: FakeQonto, make_client: MakeClient
) -> None:
    """One listing serves both kinds: the named keywords become ``filter[...]`` (client
    invoices a single ``filter[status]``, supplier invoices ``filter[status][]``), any other
    keyword passes through unchanged, ``per_page`` pages."""

    def route(request: httpx.Request) -> httpx.Response:
        resource = request.url.path.rsplit("/", 1)[-1]
        return json_response(200, {resource: [{"id": resource}], "meta": {"next_page": None}})

    fake.script.extend([route] * 2)
    client = make_client()
    keywords = {
        "status": ["paid", "unpaid"],
        "created_at_to": "2025-04-30T00:00:00.000Z",
        "updated_at_to": datetime(2025, 4, 30, 12, tzinfo=UTC),
        "exclude_imported": True,
    }
    clients = [i["id"] async for i in client.iter_client_invoices(per_page=50, **keywords)]
    suppliers = [i["id"] async for i in client.iter_supplier_invoices(per_page=50, **keywords)]
    assert (clients, suppliers) == (["client_invoices"], ["supplier_invoices"])
    first, second = (r.url.params for r in fake.requests)
    assert first["filter[status]"] == "paid,unpaid"
    assert second.get_list("filter[status][]") == ["paid", "unpaid"]
    for params in (first, second):
        assert params["filter[created_at_to]"] == "2025-04-30T00:00:00.000Z"
        assert params["filter[updated_at_to]"] == "2025-04-30T12:00:00.000Z"
        assert params["exclude_imported"] == "true"
        assert params["per_page"] == "50"
        assert "filter[created_at_from]" not in params
