"""The scenario generator: determinism, realism, a consistent ground truth, played or
loaded at once."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from schwifty import IBAN

from qrecon.common.schemas import Invoice, QontoTransaction
from qrecon.sim.player import load_scenario, start_play
from qrecon.sim.scenario import generate
from qrecon.sim.state import Simulator
from qrecon.sim.testing import EmulatorHandle
from qrecon.world.references import rf_reference

from .conftest import Receiver


@pytest.fixture(scope="module")
def loaded() -> Simulator:
    sim = Simulator()
    load_scenario(sim, seed=42, months=3, size="small")
    return sim


def test_same_seed_same_scenario() -> None:
    one = [e.to_dict() for e in generate(seed=3, months=2, size="small").events]
    two = [e.to_dict() for e in generate(seed=3, months=2, size="small").events]
    other = [e.to_dict() for e in generate(seed=4, months=2, size="small").events]
    assert one == two
    assert one != other


def test_same_seed_same_ground_truth(loaded: Simulator) -> None:
    again = Simulator()
    load_scenario(again, seed=42, months=3, size="small")
    sections = ["transactions", "transaction_versions", "allocations", "invoices"]
    assert again.ground_truth(sections) == loaded.ground_truth(sections)


def test_every_transaction_parses_and_every_iban_is_valid(loaded: Simulator) -> None:
    transactions = loaded.transactions_latest()
    assert len(transactions) > 150
    ibans = 0
    for tx in transactions:
        QontoTransaction.model_validate(tx)
        nested = tx.get(tx["subject_type"]) or {}
        # Every account said to be an IBAN is a valid one (a supplier abroad has a bare
        # account number, format "account_number").
        if nested.get("counterparty_account_number_format") == "IBAN":
            IBAN(nested["counterparty_account_number"])  # raises if invalid
            ibans += 1
    assert ibans > 50
    for account in loaded.bank_accounts():
        IBAN(account["iban"])


def test_invoices_in_the_project_contract(loaded: Simulator) -> None:
    invoices = [Invoice.model_validate(i) for i in loaded.invoices_contract()]
    receivables = [i for i in invoices if i.kind == "receivable"]
    payables = [i for i in invoices if i.kind == "payable"]
    assert len(receivables) > 50
    assert len(payables) > 10
    assert all(re.fullmatch(r"FAC-2025-\d{4}", i.number) for i in receivables)
    assert len({i.number for i in receivables}) == len(receivables)
    assert {i.status for i in invoices} <= {"open", "canceled"}
    assert any(i.payment_reference and i.payment_reference.startswith("RF") for i in receivables)
    for invoice in invoices:
        if invoice.counterparty_iban:
            IBAN(invoice.counterparty_iban)


def test_rf_reference_check_digits() -> None:
    assert rf_reference("539007547034") == "RF18539007547034"  # ISO 11649's example


def test_allocations_are_the_truth(loaded: Simulator) -> None:
    invoices = {i["id"]: i for i in loaded.invoices_contract()}
    transactions = {t["id"]: t for t in loaded.transactions_latest()}
    allocations = loaded.allocations()
    assert len(allocations) == len(transactions)
    kinds = Counter(a["kind"] for a in allocations)
    assert {"client_payment", "supplier_payment", "direct_debit", "card", "salary"} <= set(kinds)
    paid_per_invoice: Counter[str] = Counter()
    grouped = fees = 0
    for record in allocations:
        tx = transactions[record["transaction_id"]]
        if record["kind"] in ("client_payment", "supplier_payment"):
            assert sum(a["amount_cents"] for a in record["allocations"]) == tx["amount_cents"]
        for allocation in record["allocations"]:
            invoice = invoices[allocation["invoice_id"]]
            assert allocation["invoice_number"] == invoice["number"]
            assert invoice["kind"] == ("receivable" if tx["side"] == "credit" else "payable")
            paid_per_invoice[invoice["id"]] += allocation["amount_cents"]
            if allocation["amount_cents"] < invoice["amount_cents"]:
                fees += 1
        grouped += len(record["allocations"]) > 1
    assert grouped > 0  # one transfer for several invoices
    assert fees > 0  # short payments and instalments
    assert all(paid_per_invoice[i] <= invoices[i]["amount_cents"] for i in paid_per_invoice)
    counts = Counter(
        a["invoice_id"]
        for r in allocations
        for a in r["allocations"]
        if r["kind"] == "client_payment"
    )
    assert max(counts.values()) > 1  # instalments
    # Direct debits with an invoice carry no invoice number in their reference.
    for record in allocations:
        if record["kind"] == "direct_debit" and record["allocations"]:
            number = record["allocations"][0]["invoice_number"]
            assert number not in (transactions[record["transaction_id"]]["reference"] or "")


def test_messy_life_is_there(loaded: Simulator) -> None:
    versions = loaded.transaction_versions()
    transitions = Counter()
    for tx_id in {v["transaction_id"] for v in versions}:
        statuses = [v["transaction"]["status"] for v in versions if v["transaction_id"] == tx_id]
        for before, after in itertools.pairwise(statuses):
            if before != after:
                transitions[(before, after)] += 1
    assert transitions[("pending", "completed")] > 10
    assert (
        transitions[("pending", "declined")]
        + sum(1 for t in loaded.transactions_latest() if t["status"] == "declined")
        > 0
    )
    edits = [
        v
        for v in versions
        if v["event"] == "updated"
        and (v["transaction"]["note"] or v["transaction"]["attachment_ids"])
    ]
    assert edits
    invoices = {i["number"] for i in loaded.invoices_contract()}
    income = [t for t in loaded.transactions_latest() if t["operation_type"] == "income"]
    exact = [t for t in income if (t["reference"] or "") in invoices]
    messy = [t for t in income if t["reference"] and t["reference"] not in invoices]
    assert exact
    assert messy
    assert any(t["operation_type"] == "qonto_fee" for t in loaded.transactions_latest())
    assert {t["subject_type"] for t in loaded.transactions_latest()} >= {
        "income",
        "transfer",
        "direct_debit",
        "card",
        "billing_transfer",
    }


def test_bulk_scenario_pages_completely(qonto: EmulatorHandle, api: httpx.Client) -> None:
    load_scenario(qonto.sim, name="bulk", size=3000, seed=1)
    seen: list[str] = []
    # One status per request and per bank account, as Qonto answers (strict emulator).
    for account in qonto.sim.accounts.bank_accounts():
        for status in ("completed", "pending", "declined"):
            params = [
                ("bank_account_id", account["id"]),
                ("status[]", status),
                ("sort_by", "updated_at:asc"),
                ("updated_at_from", "2017-01-01T00:00:00.000Z"),
            ]
            page: int | None = 1
            while page is not None:
                body = api.get("/v2/transactions", params=[*params, ("page", str(page))]).json()
                seen += [t["id"] for t in body["transactions"]]
                page = body["meta"]["next_page"]
    assert len(seen) == 3000
    assert len(set(seen)) == 3000


def test_played_equals_loaded_and_sends_webhooks(qonto: EmulatorHandle, receiver: Receiver) -> None:
    sim = qonto.sim
    sim.add_webhook_subscription(callback_url=receiver.url, secret="s" * 40)
    start = datetime(2025, 2, 1, tzinfo=UTC)
    player = start_play(
        sim, seed=5, months=1, size="tiny", start=start, month_seconds=1.0, stamp="business"
    )
    assert player.wait(20)
    assert player.status()["state"] == "done"
    assert sim.webhooks.flush(10)
    played = sim.ground_truth(["transactions", "transaction_versions", "allocations"])
    versions = len(played["transaction_versions"])
    log = sim.webhooks.log()
    assert len(log) == versions
    assert Counter(r["outcome"] for r in log) == {"delivered": versions}
    assert len(receiver.wait_for(versions)) == versions
    reference = Simulator()
    load_scenario(reference, seed=5, months=1, size="tiny", start=start)
    expected = reference.ground_truth(["transactions", "transaction_versions", "allocations"])
    assert played == expected


def test_history_then_play(qonto: EmulatorHandle, receiver: Receiver) -> None:
    sim = qonto.sim
    sim.add_webhook_subscription(callback_url=receiver.url, secret="s" * 40)
    player = start_play(sim, seed=6, months=1, size="tiny", history_months=1, month_seconds=1.0)
    assert player.wait(20)
    assert sim.webhooks.flush(10)
    log = sim.webhooks.log()
    first_played = min(r["transaction_updated_at"] for r in log if r["outcome"] == "delivered")
    assert first_played >= "2025-02-01"
    assert any(r["outcome"] == "not_sent" for r in log)  # history sends nothing


def test_loading_keeps_credentials_tokens_and_subscriptions(
    qonto: EmulatorHandle, receiver: Receiver
) -> None:
    sim = qonto.sim
    code = qonto.mint_authorization_code()
    tokens = httpx.post(
        qonto.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": qonto.client_id,
            "client_secret": qonto.client_secret,
        },
    ).json()
    secret = sim.regenerate_api_key()
    sim.add_webhook_subscription(callback_url=receiver.url, secret="s" * 40)
    load_scenario(sim, seed=1, size="tiny")
    balance = sim.bank_account(qonto.bank_account_id)["balance_cents"]
    load_scenario(sim, seed=1, size="tiny")
    assert sim.bank_account(qonto.bank_account_id)["balance_cents"] == balance
    assert len(sim.bank_accounts()) == 2
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{qonto.base_url}/v2/organization", headers=bearer).status_code == 200
    assert qonto.secret_key == secret
    assert len(sim.webhook_subscriptions()) == 1
    sim.reset()  # a full reset forgets all of it
    assert httpx.get(f"{qonto.base_url}/v2/organization", headers=bearer).status_code == 401
    assert sim.webhook_subscriptions() == []
    assert len(sim.bank_accounts()) == 1


def test_a_live_play_stamps_updated_at_when_it_happens_like_qonto(qonto: EmulatorHandle) -> None:
    """A poller watching updated_at must see a played month as it would see real activity."""
    sim = qonto.sim
    start = datetime(2025, 2, 1, tzinfo=UTC)
    sim.clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), speed=1.0)  # "now", explicitly
    before = sim.clock.now()
    player = start_play(sim, seed=5, months=1, size="tiny", start=start, month_seconds=1.0)
    assert player.wait(20)
    after = sim.clock.now()
    txs = sim.transactions_latest()
    assert txs
    for tx in txs:
        updated = datetime.fromisoformat(tx["updated_at"].replace("Z", "+00:00"))
        emitted = datetime.fromisoformat(tx["emitted_at"].replace("Z", "+00:00"))
        assert before - timedelta(seconds=1) <= updated <= after + timedelta(seconds=1)
        assert start <= emitted < start + timedelta(days=40)  # the bank dates stay business
        if tx["status"] == "completed":
            settled = datetime.fromisoformat(tx["settled_at"].replace("Z", "+00:00"))
            assert start <= settled < start + timedelta(days=40)
