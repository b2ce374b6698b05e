"""The allocation rules, shared by the engine and the review API's manual match."""

from __future__ import annotations

import pytest

from qrecon.matcher.core.rules import Proposed, check_allocations, direction, effective_cents


def _alloc(kind: str, invoice: int, amount: int, currency: str = "EUR") -> Proposed:
    return Proposed(f"{kind}-{invoice}", kind, currency, invoice, amount)


def test_credits_settle_receivables_and_debits_payables() -> None:
    assert direction("receivable", "credit") == direction("payable", "debit") == 1
    assert direction("receivable", "debit") == direction("payable", "credit") == -1


@pytest.mark.parametrize(
    ("side", "amount", "allocations"),
    [
        ("credit", 1000, [_alloc("receivable", 1000, 1000)]),
        ("debit", 1000, [_alloc("payable", 5000, 1000)]),
        ("debit", 300, [_alloc("receivable", -300, -300)]),  # a client refunded
        ("credit", 300, [_alloc("payable", -300, -300)]),  # a supplier refunds us
        ("credit", 700, [_alloc("receivable", 1000, 1000), _alloc("receivable", -300, -300)]),
    ],
)
def test_what_is_allowed(side: str, amount: int, allocations: list[Proposed]) -> None:
    assert check_allocations(side, "EUR", amount, allocations) is None
    assert 0 < effective_cents(side, allocations) <= amount


@pytest.mark.parametrize(
    ("side", "amount", "allocations", "rule"),
    [
        ("debit", 1000, [_alloc("receivable", 1000, 1000)], "direction"),
        ("credit", 1000, [_alloc("payable", 1000, 1000)], "direction"),
        ("credit", 1000, [_alloc("receivable", 1000, 1000, "USD")], "currency"),
        ("credit", 1000, [_alloc("receivable", 1000, -10)], "sign"),
        ("credit", 1000, [_alloc("receivable", 1000, 0)], "sign"),
        ("credit", 5000, [_alloc("receivable", 1000, 1001)], "invoice_amount"),
        ("credit", 999, [_alloc("receivable", 1000, 1000)], "transaction_amount"),
        ("credit", 300, [_alloc("receivable", -300, -300)], "transaction_amount"),
    ],
)
def test_each_broken_rule_is_named(
    side: str, amount: int, allocations: list[Proposed], rule: str
) -> None:
    broken = check_allocations(side, "EUR", amount, allocations)
    assert broken is not None
    assert broken.rule == rule
