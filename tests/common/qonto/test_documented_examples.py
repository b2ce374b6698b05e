"""Qonto's own documented JSON examples (tests/fixtures/qonto/, see SOURCES.md there) read by
what the project uses for each shape today: the transaction model, the webhook envelope, the
API client (through an ``httpx.MockTransport`` serving the fixture), the ingest router, the
sync service's invoice mapping and the OAuth token handling.

Only what today's code reads correctly is here; where it does not, the intended test is in
``test_documented_examples_pending.py.txt`` (not collected).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from qrecon.common.money import to_cents
from qrecon.common.qonto.auth import ApiKeyAuth, OAuthAuth
from qrecon.common.qonto.client import QontoClient, RetryPolicy
from qrecon.common.qonto.errors import QontoValidationError, error_from_response
from qrecon.common.qonto.ratelimit import RateLimiter
from qrecon.common.qonto.token_store import InMemoryTokenStore, OAuthTokens
from qrecon.common.schemas import QontoTransaction, QontoWebhookEvent, TransactionEvent
from qrecon.ingest.core.payload import route_webhook
from qrecon.sync.core.invoices import map_client_invoice, map_supplier_invoice
from qrecon.sync.core.organization import bank_accounts_of

from .fakes import FakeClock

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qonto"
BASE_URL = "https://thirdparty.qonto.test"
TOKEN_URL = "https://oauth.qonto.test/oauth2/token"

ORGANIZATION_ID = "0190a4f2-7c1e-7b3a-9d4e-5f6a7b8c9d01"
MAIN_ACCOUNT_ID = "0190a4f2-8d2f-7c4b-8e5f-6a7b8c9d0e12"
MAIN_IBAN = "FR7616798000010000048217366"
CLIENT_IBAN = "FR7630004008190001234560119"  # Boulangerie Martin SARL
SUPPLIER_IBAN = "FR7630003036200002045781282"  # Imprimerie Durand


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def assert_aware_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], QontoClient]]:
    """A client whose every request is answered by ``handler`` (no network, no real sleep)."""
    made: list[QontoClient] = []
    clock = FakeClock()

    def make(handler: Handler) -> QontoClient:
        client = QontoClient(
            base_url=BASE_URL,
            auth=ApiKeyAuth("atelier-lumiere-sas-4821", SecretStr("sk_test_fixture_only")),
            transport=httpx.MockTransport(handler),
            limiter=RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0),
            retry=RetryPolicy(max_attempts=1),
            sleep=clock.sleep,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def answering(path: str, body: Any, status: int = 200, **headers: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == path
        return httpx.Response(status, json=body, headers=headers or None)

    return handler


# ------------------------------------------------------------------ REST transactions


async def test_list_transactions_documented_page(
    serve: Callable[[Handler], QontoClient],
) -> None:
    client = serve(answering("/v2/transactions", load("transactions_list.json")))
    page = await client.list_transactions(bank_account_id=MAIN_ACCOUNT_ID)

    assert page.meta.current_page == 1
    assert page.meta.next_page is None
    assert page.meta.total_count == 3
    assert page.meta.per_page == 100
    transfer, card, income = page.items

    # A SEPA transfer out: amounts as JSON numbers, nested ``transfer`` with an IBAN.
    assert transfer.id == "4f0c9d2a-6b3e-4f81-a7c5-9e2d1b0a8c37"
    assert transfer.transaction_id == "atelier-lumiere-sas-4821-transaction-1187"
    assert transfer.amount_cents == 125040
    assert transfer.amount == Decimal("1250.4")
    assert transfer.signed_amount_cents == -125040
    assert transfer.settled_balance_cents == 1843217
    assert transfer.side == "debit"
    assert transfer.status == "completed"
    assert transfer.is_completed
    assert transfer.subject_type == "transfer"  # REST spells it lower-case
    assert transfer.counterparty == {
        "counterparty_account_number": SUPPLIER_IBAN,
        "counterparty_account_number_format": "IBAN",
        "counterparty_bank_identifier": "SOGEFRPP",
        "counterparty_bank_identifier_format": "SWIFT_BIC",
    }
    assert transfer.reference == "FA-2025-0412"
    assert transfer.settled_at == utc(2025, 4, 14, 9, 12, 41)
    assert transfer.updated_at == datetime(2025, 4, 14, 9, 12, 43, 271000, tzinfo=UTC)
    for stamp in (transfer.settled_at, transfer.emitted_at, transfer.updated_at):
        assert_aware_utc(stamp)
    assert transfer.vat_amount_cents is None
    assert transfer.bank_account_id is None  # the documented item has none

    # A card payment in USD: the documented French comma strings, local != account currency.
    assert card.amount == Decimal("45.90")
    assert card.amount_cents == 4590
    assert card.currency == "EUR"
    assert card.local_amount == Decimal("49.99")
    assert card.local_amount_cents == 4999
    assert card.local_currency == "USD"
    assert card.subject_type == "card"
    assert card.card_last_digits == "7731"
    assert card.counterparty == {}
    assert card.bank_account_id == MAIN_ACCOUNT_ID
    assert card.vat_rate == Decimal(0)
    assert card.model_extra is not None
    assert card.model_extra["cashflow_category"] == {"name": "Logiciels"}  # undeclared: kept
    assert card.model_extra["logo"]["small"].endswith("notion_small.png")
    assert_aware_utc(card.created_at)

    # A pending income: not settled yet, nested ``income`` with the client's IBAN.
    assert income.status == "pending"
    assert not income.is_completed
    assert income.settled_at is None
    assert income.settled_balance_cents is None
    assert income.signed_amount_cents == 240000
    assert income.subject_type == "income"
    assert income.counterparty["counterparty_account_number"] == CLIENT_IBAN
    assert income.counterparty["counterparty_account_number_format"] == "IBAN"


async def test_list_transactions_asks_documented_parameters(
    serve: Callable[[Handler], QontoClient],
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=load("transactions_list.json"))

    client = serve(handler)
    await client.list_transactions(
        bank_account_id=MAIN_ACCOUNT_ID,
        statuses=["pending"],
        updated_at_from=datetime(2019, 1, 10, 11, 47, 53, 123000, tzinfo=UTC),
    )
    query = parse_qs(seen[0].url.query.decode())
    assert query["bank_account_id"] == [MAIN_ACCOUNT_ID]
    assert query["status[]"] == ["pending"]
    assert query["updated_at_from"] == ["2019-01-10T11:47:53.123Z"]  # the documented format
    assert query["page"] == ["1"]
    assert query["per_page"] == ["100"]


async def test_retrieve_transaction_documented_object(
    serve: Callable[[Handler], QontoClient],
) -> None:
    tx_id = "0193c2a0-9f8e-7d6c-b5a4-93827160f5e4"
    client = serve(answering(f"/v2/transactions/{tx_id}", load("transaction_retrieve.json")))
    tx = await client.get_transaction(tx_id)

    assert tx.id == tx_id
    assert tx.amount_cents == 86400
    assert tx.vat_amount_cents == 14400
    assert tx.vat_rate == Decimal("20.0")
    assert tx.side == "debit"
    assert tx.counterparty["counterparty_account_number"] == "FR7630066100210001029874514"
    assert tx.counterparty["counterparty_account_number_format"] == "IBAN"
    assert tx.created_at == utc(2025, 4, 15, 17, 44, 30)
    assert tx.updated_at == datetime(2025, 4, 16, 10, 15, 52, 634000, tzinfo=UTC)
    assert tx.attachment_ids == ["0193c2a1-4b5c-7d6e-8f90-a1b2c3d4e5f6"]
    assert tx.model_extra is not None
    assert tx.model_extra["attachments"][0]["file_name"] == "HON-2025-031.pdf"
    assert tx.model_extra["labels"][0]["name"] == "Frais généraux"


# ------------------------------------------------------------------ v1/transactions webhooks


def webhook_transaction(name: str) -> tuple[QontoWebhookEvent, QontoTransaction]:
    event = QontoWebhookEvent.model_validate(load(name))
    data = {k: v for k, v in event.data.items() if k != "event"}
    return event, QontoTransaction.model_validate(data)


def routed_transaction(name: str) -> tuple[str, TransactionEvent]:
    routed = route_webhook(
        raw(name),
        connection_id="atelier-lumiere",
        observed_at=utc(2025, 4, 18, 16, 0, 0),
    )
    assert routed.topic_kind == "transactions"
    return routed.key, TransactionEvent.model_validate_json(routed.value)


def test_webhook_transaction_amounts_as_numbers() -> None:
    event, tx = webhook_transaction("webhook_transactions_created_amount_number.json")
    assert event.type == "v1/transactions"
    assert event.data["event"] == "created"
    assert event.resource_id == tx.id == "0193c3ef-7d6c-7b5a-9f8e-0d1c2b3a4f59"
    assert event.organization_id == ORGANIZATION_ID
    assert_aware_utc(event.created_at)
    # No *_cents in the webhook: derived exactly from the JSON numbers.
    assert tx.amount_cents == 31845
    assert tx.amount == Decimal("318.45")
    assert tx.local_amount_cents == 34500
    assert tx.local_currency == "USD"
    assert tx.settled_balance_cents == 1720382
    assert tx.subject_type == "transfer"  # "Transfer" in the webhook, snake-cased
    assert tx.bank_account_id == MAIN_ACCOUNT_ID
    # The documented counterparty is a plain account number, not an IBAN: kept as sent.
    assert tx.counterparty["counterparty_account_number"] == "483920175621"
    assert tx.counterparty["counterparty_account_number_format"] == "account_number"
    assert tx.counterparty["counterparty_bank_identifier_format"] == "bic"
    assert tx.updated_at == utc(2025, 4, 17, 14, 2, 11)
    assert_aware_utc(tx.settled_at)


def test_webhook_transaction_amounts_as_strings_updated_event() -> None:
    event, tx = webhook_transaction("webhook_transactions_updated_amount_string.json")
    assert event.data["event"] == "updated"
    assert tx.amount_cents == 31845
    assert tx.local_amount_cents == 34500
    assert tx.settled_balance_cents == 1720382
    assert tx.updated_at == utc(2025, 4, 17, 16, 39, 57)
    # The same transaction as the created event: one key, a newer version.
    _, created = webhook_transaction("webhook_transactions_created_amount_number.json")
    assert tx.id == created.id
    assert tx.version > created.version


def test_webhook_transaction_bank_account_object_and_integer_amounts() -> None:
    _event, tx = webhook_transaction("webhook_transactions_card_bank_account_object.json")
    assert tx.amount_cents == 12000
    assert tx.local_amount_cents == 13000
    assert tx.local_currency == "USD"
    assert tx.bank_account_id == MAIN_ACCOUNT_ID  # taken from the bank_account object
    assert tx.model_extra is not None
    assert tx.model_extra["bank_account"]["iban"] == MAIN_IBAN
    assert tx.subject_type == "card"
    assert tx.counterparty == {}
    assert tx.created_at == utc(2025, 4, 18, 12, 31, 30)
    assert tx.reference is None


def test_webhook_income_with_lower_case_iban_format() -> None:
    _, tx = webhook_transaction("webhook_transactions_income_iban_lowercase.json")
    assert tx.side == "credit"
    assert tx.signed_amount_cents == 240000
    assert tx.subject_type == "income"
    assert tx.counterparty["counterparty_account_number"] == CLIENT_IBAN
    assert tx.counterparty["counterparty_account_number_format"] == "iban"
    assert tx.reference == "Facture F-2025-0087"


@pytest.mark.parametrize(
    ("name", "cents", "event"),
    [
        ("webhook_transactions_created_amount_number.json", 31845, "created"),
        ("webhook_transactions_updated_amount_string.json", 31845, "updated"),
        ("webhook_transactions_card_bank_account_object.json", 12000, "created"),
        ("webhook_transactions_income_iban_lowercase.json", 240000, "created"),
    ],
)
def test_ingest_routes_documented_transaction_webhooks(name: str, cents: int, event: str) -> None:
    body = load(name)
    key, value = routed_transaction(name)
    assert key == body["data"]["id"]
    assert value.event_id == body["id"]
    assert value.source == "webhook"
    assert value.organization_id == ORGANIZATION_ID
    assert value.transaction.amount_cents == cents
    assert value.transaction.bank_account_id == MAIN_ACCOUNT_ID
    assert value.model_extra is not None
    assert value.model_extra["webhook"]["event"] == event
    assert value.model_extra["webhook"]["subscription_id"] == body["subscription_id"]
    assert_aware_utc(value.transaction.updated_at)


# ------------------------------------------------------------------ other webhooks


def test_payment_links_webhook_envelope() -> None:
    event = QontoWebhookEvent.model_validate(load("webhook_payment_links.json"))
    assert event.type == "v1/payment-links"
    assert event.data["event"] == "created"
    assert event.data["status"] == "open"
    assert event.data["payment_link_id"] == "0196185a-4fa1-7324-9aed-0b0f6a65243e"
    assert event.data["resource_type"] == "Invoice"
    assert event.data["resource_metadata"] == {"invoice_number": "F-2025-0087"}
    assert to_cents(event.data["amount"]["value"]) == 240000
    assert "id" not in event.data  # documented: the link is ``payment_link_id``
    assert_aware_utc(event.created_at)


def test_payment_links_webhook_routed_as_received() -> None:
    body = raw("webhook_payment_links.json")
    routed = route_webhook(body, connection_id="atelier-lumiere", observed_at=utc(2025, 4, 10))
    assert routed.topic_kind == "events"
    assert routed.event_type == "v1/payment-links"
    assert routed.value == body  # byte for byte


def test_consent_revocation_webhook_envelope() -> None:
    body = raw("webhook_consent_revocations.json")
    event = QontoWebhookEvent.model_validate_json(body)
    assert event.type == "v1/consent-revocations"
    assert event.organization_id == ORGANIZATION_ID
    assert event.data["client_id"] == "0196a3c1-8efd-7422-8a8a-75c9b45a6a69"
    assert datetime.fromisoformat(event.data["revoked_at"]) == utc(2025, 5, 2, 7, 48, 12)
    routed = route_webhook(body, connection_id="atelier-lumiere", observed_at=utc(2025, 5, 2))
    assert routed.topic_kind == "events"
    assert routed.value == body


def test_accounts_webhook_envelope() -> None:
    event = QontoWebhookEvent.model_validate(load("webhook_accounts.json"))
    assert event.type == "v1/accounts"
    assert event.resource_id == "0193c4c1-0a9b-7c8d-9e0f-1a2b3c4d5e24"
    assert event.data["iban"] == "FR7616798000010000048217463"
    # Unlike REST (a number and *_cents), the webhook's balance is an {amount, currency} object.
    assert to_cents(event.data["authorized_balance"]["amount"]) == 100000
    routed = route_webhook(
        raw("webhook_accounts.json"), connection_id="atelier-lumiere", observed_at=utc(2025, 4, 19)
    )
    assert routed.topic_kind == "events"
    assert routed.key == event.resource_id


def test_clients_webhook_envelope() -> None:
    event = QontoWebhookEvent.model_validate(load("webhook_clients.json"))
    assert event.type == "v1/clients"
    assert event.data["event"] == "created"
    assert event.resource_id == "0195dc3e-68d6-7ab0-bfab-4a9403f7f316"
    assert event.data["name"] == "Boulangerie Martin SARL"
    assert event.created_at == datetime(2025, 3, 28, 10, 12, 45, tzinfo=UTC)


# ------------------------------------------------------------------ invoices


async def test_client_invoices_documented_list(serve: Callable[[Handler], QontoClient]) -> None:
    client = serve(answering("/v2/client_invoices", load("client_invoices_list.json")))
    raws = [item async for item in client.iter_client_invoices()]
    assert [r["number"] for r in raws] == ["F-2025-0087", "F-2025-0079"]

    unpaid, paid = (map_client_invoice(r) for r in raws)
    assert unpaid.action == "upsert"
    assert unpaid.invoice is not None
    assert unpaid.invoice.id == "0196185a-4e01-72b7-86a0-fbe4e0475d56"
    assert unpaid.invoice.kind == "receivable"
    assert unpaid.invoice.status == "open"
    assert unpaid.invoice.amount_cents == 240000
    assert unpaid.invoice.currency == "EUR"
    assert unpaid.invoice.counterparty_name == "Boulangerie Martin SARL"
    assert unpaid.invoice.issue_date == date(2025, 4, 10)
    assert unpaid.invoice.due_date == date(2025, 5, 10)

    assert paid.action == "upsert"
    assert paid.invoice is not None
    assert paid.invoice.status == "paid"
    assert paid.invoice.amount_cents == 125280
    assert paid.invoice.model_extra is not None
    assert paid.invoice.model_extra["paid_at"] == "2025-04-02T17:58:30+02:00"
    assert paid.invoice.model_extra["qonto_client_id"] == "0195a7b2-1d2e-7f30-8a41-5b6c7d8e9f52"


async def test_supplier_invoices_documented_list_without_cents(
    serve: Callable[[Handler], QontoClient],
) -> None:
    body = load("supplier_invoices_list.json")
    assert all("total_amount_cents" not in item for item in body["supplier_invoices"])
    client = serve(answering("/v2/supplier_invoices", body))
    raws = [item async for item in client.iter_supplier_invoices()]

    paid, to_review = (map_supplier_invoice(r) for r in raws)
    assert paid.invoice is not None
    assert paid.invoice.kind == "payable"
    assert paid.invoice.number == "FA-2025-0412"
    assert paid.invoice.status == "paid"
    assert paid.invoice.amount_cents == 125040  # from total_amount.value "1250.40"
    assert paid.invoice.counterparty_name == "Imprimerie Durand"
    assert paid.invoice.counterparty_iban == SUPPLIER_IBAN

    assert to_review.action == "upsert"
    assert to_review.invoice is not None
    assert to_review.invoice.status == "open"
    assert to_review.invoice.amount_cents == 2210  # "22.10", the documented value
    assert to_review.invoice.counterparty_iban == "FR3330002005500000157841Z25"
    assert to_review.invoice.due_date == date(2025, 5, 12)


# ------------------------------------------------------------------ organization


async def test_organization_documented_answer(serve: Callable[[Handler], QontoClient]) -> None:
    client = serve(answering("/v2/organization", load("organization.json")))
    organization = await client.get_organization()
    assert organization["id"] == ORGANIZATION_ID
    assert organization["legal_name"] == "Atelier Lumière SAS"
    (account,) = organization["bank_accounts"]
    assert account["iban"] == MAIN_IBAN
    assert account["balance_cents"] == 1948382
    # The documented bank account carries no ``id``: sync's discovery finds none here and
    # falls back to GET /v2/bank_accounts (services/sync/.../service.py, _discover).
    assert "id" not in account
    assert bank_accounts_of(organization) == []


async def test_bank_accounts_documented_list(serve: Callable[[Handler], QontoClient]) -> None:
    client = serve(answering("/v2/bank_accounts", load("bank_accounts_list.json")))
    accounts = [a async for a in client.iter_bank_accounts()]
    assert [a["id"] for a in accounts] == [MAIN_ACCOUNT_ID]
    assert accounts[0]["iban"] == MAIN_IBAN
    assert accounts[0]["authorized_balance_cents"] == 1936382


# ------------------------------------------------------------------ webhook subscriptions


@pytest.mark.parametrize(
    ("fixture", "description"),
    [
        ("webhook_subscription_create.json", "Rapprochement bancaire - production"),
        ("webhook_subscription_create_no_description.json", None),
    ],
)
async def test_create_webhook_subscription_bare_answer(
    serve: Callable[[Handler], QontoClient], fixture: str, description: str | None
) -> None:
    body = load(fixture)
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/v2/webhook_subscriptions")
        sent.append(json.loads(request.content))
        return httpx.Response(201, json=body)

    client = serve(handler)
    created = await client.create_webhook_subscription(
        body["callback_url"], body["types"], description=description
    )
    assert created["id"] == body["id"]
    assert created["secret"] == body["secret"]
    assert created["types"] == body["types"]
    assert created.get("description") == description
    assert ("description" in sent[0]) is (description is not None)


async def test_get_webhook_subscription_bare_object(
    serve: Callable[[Handler], QontoClient],
) -> None:
    body = load("webhook_subscription_get.json")
    path = f"/v2/webhook_subscriptions/{body['id']}"
    client = serve(answering(path, body))
    got = await client.request_json("GET", path)
    assert got == body
    assert "secret" not in got  # only the create answer holds the secret


async def test_list_webhook_subscriptions_documented_key_via_get_page(
    serve: Callable[[Handler], QontoClient],
) -> None:
    client = serve(answering("/v2/webhook_subscriptions", load("webhook_subscriptions_list.json")))
    page = await client.get_page("/v2/webhook_subscriptions", "subscriptions")
    assert [s["id"] for s in page.items] == ["0193b0e2-1c3d-7e4f-8a5b-6c7d8e9f0a12"]
    assert page.meta.next_page is None
    assert page.meta.total_count == 1


# ------------------------------------------------------------------ errors


def test_documented_error_body_maps_to_a_typed_error() -> None:
    body = load("error_422_invalid_status.json")
    request = httpx.Request("GET", f"{BASE_URL}/v2/transactions?status=invalid")
    response = httpx.Response(
        422, json=body, headers={"X-Tyk-Trace-Id": body["trace_id"]}, request=request
    )
    error = error_from_response(response)
    assert isinstance(error, QontoValidationError)
    assert error.status == 422
    assert error.codes == ["not_in_list"]
    assert error.errors[0]["source"] == {"parameter": "status"}
    assert error.trace_id == "6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c"
    assert "status must be one of" in str(error)
    assert "trace_id=6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c" in str(error)


async def test_documented_error_raised_by_the_client(
    serve: Callable[[Handler], QontoClient],
) -> None:
    body = load("error_body_pointer_template.json")
    client = serve(
        answering("/v2/client_invoices", body, 422, **{"X-Tyk-Trace-Id": body["trace_id"]})
    )
    with pytest.raises(QontoValidationError) as caught:
        await client.request("POST", "/v2/client_invoices", json={})
    assert caught.value.trace_id == body["trace_id"]
    assert caught.value.errors[0]["source"]["pointer"] == "/data/attributes/currency"
    assert caught.value.codes == ["invalid"]


# ------------------------------------------------------------------ OAuth


@pytest.mark.parametrize(
    "fixture", ["oauth_token_authorization_code.json", "oauth_token_refresh_token.json"]
)
def test_documented_token_response(fixture: str) -> None:
    body = load(fixture)
    now = utc(2025, 4, 15, 12, 0, 0)
    tokens = OAuthTokens.from_token_response(body, now=now)
    assert tokens.access_token.get_secret_value() == body["access_token"]
    assert tokens.refresh_token is not None
    assert tokens.refresh_token.get_secret_value() == body["refresh_token"]
    assert tokens.id_token is not None
    assert tokens.expires_at == now + timedelta(seconds=3600)
    assert tokens.token_type == "bearer"
    assert {"offline_access", "organization.read"} <= tokens.scopes


async def test_code_exchange_then_refresh_with_documented_answers() -> None:
    first = load("oauth_token_authorization_code.json")
    second = load("oauth_token_refresh_token.json")
    forms: list[dict[str, str]] = []
    answers = [first, second]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        forms.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
        return httpx.Response(200, json=answers[len(forms) - 1])

    now = [utc(2025, 4, 15, 12, 0, 0)]
    store = InMemoryTokenStore()
    auth = OAuthAuth(
        "0196a3c1-8efd-7422-8a8a-75c9b45a6a69",
        SecretStr("client-secret-fixture"),
        TOKEN_URL,
        store,
        connection_id="atelier-lumiere",
        clock=lambda: now[0],
        transport=httpx.MockTransport(handler),
    )
    tokens = await auth.exchange_code("ory_ac_fixture", "https://rapprochement.example/cb")
    assert forms[0]["grant_type"] == "authorization_code"
    assert tokens.access_token.get_secret_value() == first["access_token"]

    now[0] += timedelta(minutes=58)  # inside the refresh margin: refresh before expiry
    refreshed = await auth.ensure_fresh()
    assert forms[1]["grant_type"] == "refresh_token"
    assert forms[1]["refresh_token"] == first["refresh_token"]
    assert refreshed.access_token.get_secret_value() == second["access_token"]
    stored = await store.load("atelier-lumiere")
    assert stored is not None
    assert stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == second["refresh_token"]  # rotated
