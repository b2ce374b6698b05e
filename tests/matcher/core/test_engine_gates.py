"""What is never auto-matched, and the properties of every decision."""

from __future__ import annotations

from typing import Any

import pytest

from qrecon.matcher.core import MATCHER_VERSION

from .conftest import IBAN_DUPONT, Make


@pytest.fixture
def book(make: Make) -> Any:
    return make.book(
        make.invoice("FAC-2025-0123", "Maison Dupont SARL", 120000, iban=IBAN_DUPONT),
        make.invoice("FAC-2025-0124", "Martin Plomberie SAS", 4590),
        make.invoice("INV-2209", "Fournitures Roux SARL", 250000, kind="payable"),
        make.invoice("FAC-2025-0190", "Maison Dupont SARL", 77000, issue="2025-04-10"),
    )


def strong_tx(make: Make, **kw: Any) -> Any:
    return make.tx(120000, label="MAISON DUPONT", reference="FAC-2025-0123", **kw)


def test_a_declined_transaction_is_unmatched(make: Make, run: Any, book: Any) -> None:
    result = run(strong_tx(make, status="declined"), book)
    assert result.status == "unmatched"
    assert "status.not_completed" in result.reasons


def test_a_pending_transaction_is_only_suggested(make: Make, run: Any, book: Any) -> None:
    result = run(strong_tx(make, status="pending"), book)
    assert result.status == "suggested"
    assert make.allocated(result) == {"FAC-2025-0123": 120000}
    assert {"status.not_completed", "status.pending"} <= set(result.reasons)


def test_an_invoice_issued_after_the_payment_is_only_suggested(
    make: Make, run: Any, book: Any
) -> None:
    tx = make.tx(77000, label="MAISON DUPONT", reference="FAC-2025-0190", day="2025-03-20")
    result = run(tx, book)
    assert result.status == "suggested"
    assert "date.invoice_after_payment" in result.reasons


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"side": "debit", "operation_type": "card", "label": "CB CARREFOUR 12/03"}, "noise.card"),
        ({"side": "credit", "operation_type": "card", "label": "AMAZON"}, "noise.card"),
        ({"side": "debit", "operation_type": "qonto_fee", "label": "Qonto"}, "noise.bank_fee"),
        ({"side": "debit", "label": "JEAN MARTIN", "reference": "SALAIRE 03/2025"}, "noise.salary"),
        (
            {"side": "credit", "label": "STRIPE PAYMENTS EUROPE", "reference": "STRIPE PAYOUT"},
            "noise.payout",
        ),
        (
            {"side": "credit", "label": "AXA FRANCE", "reference": "REMBOURSEMENT SINISTRE"},
            "noise.refund",
        ),
    ],
)
def test_noise_whose_amount_equals_someone_elses_invoice_is_not_matched(
    make: Make, run: Any, book: Any, kwargs: dict[str, Any], reason: str
) -> None:
    amount = 250000 if kwargs["side"] == "debit" else 4590
    result = run(make.tx(amount, **kwargs), book)
    assert result.status == "unmatched"
    assert reason in result.reasons


def test_noise_with_firm_evidence_is_at_most_suggested(make: Make, run: Any, book: Any) -> None:
    tx = make.tx(120000, operation_type="card", label="MAISON DUPONT", reference="FAC-2025-0123")
    assert run(tx, book).status == "suggested"


def test_a_result_carries_the_contract_fields(make: Make, run: Any, book: Any) -> None:
    tx = strong_tx(make)
    result = run(tx, book)
    assert result.transaction_id == tx.id
    assert result.transaction_version == tx.updated_at
    assert result.decided_at == tx.updated_at  # deterministic by default
    assert result.matcher_version == MATCHER_VERSION
    assert 0.0 <= result.confidence <= 1.0
    assert all(isinstance(reason, str) and "." in reason for reason in result.reasons)


def test_an_unmatched_result_leaves_the_whole_amount_unallocated(
    make: Make, run: Any, book: Any
) -> None:
    result = run(make.tx(123456, label="NOBODY"), book)
    assert result.status == "unmatched"
    assert result.allocations == []
    assert result.residual_cents == 123456


def test_decisions_are_deterministic_and_do_not_change_the_book(
    make: Make, engine: Any, book: Any
) -> None:
    tx = make.tx(120000, label="MAISON DUPONT")
    first = engine.decide(tx, book)
    second = engine.decide(tx, book)
    assert first.model_dump() == second.model_dump()
    assert book.residual("inv-FAC-2025-0123") == 120000


def test_explain_lists_the_scored_candidates_best_first(make: Make, engine: Any, book: Any) -> None:
    explanation = engine.explain(make.tx(120000, label="MAISON DUPONT"), book)
    assert explanation.result.status == "auto_matched"
    scores = [c.score for c in explanation.candidates]
    assert scores == sorted(scores, reverse=True)
    assert explanation.candidates[0].features["cp_exact"] == 1.0
