"""Suppliers abroad in the scenarios: card and transfer transactions whose
``local_amount``/``local_currency`` (what the supplier was paid, the invoice's currency)
differ from ``amount``/``currency`` (the euros debited), with the ground truth allocating
the invoice in its own currency, from the local amount."""

from __future__ import annotations

from collections import Counter

import pytest

from qrecon.common.schemas import Invoice, QontoTransaction
from qrecon.sim.player import load_scenario
from qrecon.sim.scenario import company, generate
from qrecon.sim.scenario.foreign import FOREIGN_SUPPLIERS, foreign_suppliers
from qrecon.sim.state import Simulator

FOREIGN = {name for name, *_ in FOREIGN_SUPPLIERS}


@pytest.fixture(scope="module")
def loaded() -> Simulator:
    sim = Simulator(seed=42)
    load_scenario(sim, seed=42, months=6, size="small")
    return sim


def test_foreign_invoices_are_paid_by_card_and_by_transfer_in_their_currency(
    loaded: Simulator,
) -> None:
    invoices = {i["id"]: Invoice.model_validate(i) for i in loaded.invoices_contract()}
    transactions = {t["id"]: t for t in loaded.transactions_latest()}
    records = [r for r in loaded.allocations() if r["kind"] == "foreign_supplier_payment"]
    kinds: Counter[str] = Counter()
    for record in records:
        raw = transactions[record["transaction_id"]]
        tx = QontoTransaction.model_validate(raw)
        (allocation,) = record["allocations"]
        invoice = invoices[allocation["invoice_id"]]
        assert invoice.counterparty_name in FOREIGN
        assert invoice.kind == "payable"
        assert invoice.currency in ("USD", "GBP")
        assert tx.currency == "EUR"
        assert tx.local_currency == invoice.currency
        assert tx.local_amount_cents == allocation["amount_cents"] == invoice.amount_cents
        assert tx.amount_cents != tx.local_amount_cents  # euros, at a rate
        kinds[tx.operation_type or ""] += 1
        if tx.operation_type == "transfer":
            nested = tx.counterparty
            assert nested["counterparty_account_number_format"] == "account_number"
            assert tx.reference == invoice.number
    assert kinds["card"] > 0
    assert kinds["transfer"] > 0


def test_adding_foreign_suppliers_left_the_rest_of_a_seed_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The part draws from its own generator: a seed's other events are exactly those it
    generates without the part."""
    events = generate(seed=3, months=2, size="small").events
    foreign = {
        e.payload["invoice"]["id"]
        for e in events
        if e.kind == "supplier_invoice" and e.payload["invoice"].get("currency")
    }
    foreign |= {
        e.payload["fields"]["id"]
        for e in events
        if e.kind == "tx_create" and e.payload["purpose"] == "foreign_supplier_payment"
    }
    assert foreign
    rest = [
        (e.at, e.kind, e.payload)
        for e in events
        if not (
            e.payload.get("id") in foreign
            or e.payload.get("invoice_id") in foreign
            or e.payload.get("invoice", {}).get("id") in foreign
            or e.payload.get("fields", {}).get("id") in foreign
        )
    ]
    parts = tuple(p for p in company.MONTH_PARTS if p is not foreign_suppliers)
    monkeypatch.setattr(company, "MONTH_PARTS", parts)
    without = [(e.at, e.kind, e.payload) for e in generate(seed=3, months=2, size="small").events]
    assert rest == without
