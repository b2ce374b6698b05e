"""The evaluation counts an allocation to an interchangeable invoice as right.

Two open invoices of one customer, of one amount and currency, that the transaction's text
does not tell apart are interchangeable: which of them a payment settles is an accounting
policy (oldest due first), not a fact in the bank data. Anything the text says about
either (its number, its last digits, a typo of it) makes the choice a fact again.
"""

from __future__ import annotations

from typing import Any

from qrecon.common.schemas import Allocation, MatchResult
from qrecon.matcher_eval.dataset import Label
from qrecon.matcher_eval.metrics import Equivalence, score


def _invoice(
    id_: str, number: str, name: str, amount: int, currency: str = "EUR"
) -> dict[str, Any]:
    return {
        "id": id_,
        "number": number,
        "kind": "receivable",
        "counterparty_name": name,
        "amount_cents": amount,
        "currency": currency,
        "payment_reference": None,
    }


INVOICES = [
    _invoice("a", "FAC-2025-0101", "Dupont SARL", 36000),
    _invoice("b", "FAC-2025-0102", "Dupont SARL", 36000),
    _invoice("c", "FAC-2025-0103", "Dupont SARL", 48000),
    _invoice("d", "FAC-2025-0104", "Martin SAS", 36000),
    _invoice("e", "FAC-2025-0105", "Dupont SARL", 36000, currency="USD"),
]


def _same(reference: str | None, truth: dict[str, int], got: dict[str, int]) -> bool:
    transactions = [{"id": "tx", "reference": reference, "label": "DUPONT SARL", "note": None}]
    return Equivalence(INVOICES, transactions).same("tx", truth, got)


def test_an_equal_invoice_of_the_same_customer_the_text_does_not_name_is_right() -> None:
    assert _same("PAIEMENT 03/2025", {"b": 36000}, {"a": 36000})
    assert _same(None, {"b": 36000, "c": 48000}, {"a": 36000, "c": 48000})


def test_an_invoice_the_text_names_is_not_interchangeable() -> None:
    assert not _same("FACTURE FAC-2025-0102", {"b": 36000}, {"a": 36000})
    assert not _same("FACT 102", {"b": 36000}, {"a": 36000})  # its last digits
    assert not _same("FACT 101", {"b": 36000}, {"a": 36000})  # the one taken, named


def test_another_customer_currency_or_amount_is_wrong() -> None:
    assert not _same(None, {"b": 36000}, {"d": 36000})  # another customer
    assert not _same(None, {"b": 36000}, {"e": 36000})  # another currency
    assert not _same(None, {"b": 36000}, {"c": 36000})  # another invoice amount
    assert not _same(None, {"b": 36000}, {"a": 36000, "c": 48000})  # more than paid
    assert not _same(None, {}, {"a": 36000})  # nothing to pay


def test_score_uses_the_equivalence_only_when_given_one() -> None:
    labels = [Label(0, "tx", "name_amount", True, [{"invoice_id": "b", "amount_cents": 36000}], 0)]
    result = MatchResult.model_validate(
        {
            "transaction_id": "tx",
            "transaction_version": "2025-03-20T10:00:00Z",
            "status": "auto_matched",
            "allocations": [
                Allocation(invoice_id="a", invoice_number="FAC-2025-0101", amount_cents=36000)
            ],
            "residual_cents": 0,
            "confidence": 0.99,
            "reasons": ["counterparty.name.exact", "amount.exact", "amount.tie_oldest_first"],
            "matcher_version": "test",
            "decided_at": "2025-03-20T10:00:00Z",
        }
    )
    transactions = [{"id": "tx", "reference": None, "label": "DUPONT SARL"}]
    by_id = score(labels, [result]).as_dict()["overall"]
    equivalent = score(labels, [result], equivalence=Equivalence(INVOICES, transactions)).as_dict()[
        "overall"
    ]
    assert by_id["auto_precision"] == 0.0
    assert equivalent["auto_precision"] == 1.0


def _result(tx: str, status: str, allocations: dict[str, int]) -> MatchResult:
    return MatchResult.model_validate(
        {
            "transaction_id": tx,
            "transaction_version": "2025-03-20T10:00:00Z",
            "status": status,
            "allocations": [
                Allocation(invoice_id=i, invoice_number=i, amount_cents=a)
                for i, a in allocations.items()
            ],
            "residual_cents": 0,
            "confidence": 0.99,
            "reasons": [],
            "matcher_version": "test",
            "decided_at": "2025-03-20T10:00:00Z",
        }
    )


def test_what_is_still_open_counts_in_each_book() -> None:
    """An invoice of 72,000 half paid by an instalment is, for the rest of its life, a
    twin of the customer's invoices of 36,000; and when the engine took one twin where
    the customer paid another, each book keeps its own open amounts."""
    invoices = [
        _invoice("big", "FAC-2025-0201", "Dupont SARL", 72000),
        _invoice("a", "FAC-2025-0202", "Dupont SARL", 36000),
        _invoice("b", "FAC-2025-0203", "Dupont SARL", 36000),
    ]
    transactions = [
        {"id": f"t{n}", "reference": None, "label": "DUPONT SARL", "status": "completed"}
        for n in range(4)
    ]
    truth = [{"big": 36000}, {"a": 36000}, {"big": 36000}, {"b": 36000}]
    got = [{"big": 36000}, {"big": 36000}, {"a": 36000}, {"b": 36000}]
    labels = [
        Label(
            n,
            f"t{n}",
            "name_amount",
            True,
            [{"invoice_id": i, "amount_cents": a} for i, a in paid.items()],
            0,
        )
        for n, paid in enumerate(truth)
    ]
    results = [_result(f"t{n}", "auto_matched", g) for n, g in enumerate(got)]
    overall = score(labels, results, equivalence=Equivalence(invoices, transactions)).as_dict()[
        "overall"
    ]
    assert overall["auto_precision"] == 1.0
