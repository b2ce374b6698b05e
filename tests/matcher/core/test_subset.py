"""Bounded subset-sum: several invoices in one payment."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from qrecon.matcher.core.subset import find_subsets


def test_finds_the_invoices_a_payment_adds_up_to() -> None:
    assert find_subsets([500, 300, 700, 200], 1000, 1000, max_size=4) == [(1, 2), (0, 1, 3)]


def test_interchangeable_invoices_give_one_solution_the_oldest() -> None:
    # three equal invoices, oldest first: paying two of them takes the two oldest
    assert find_subsets([600, 600, 600], 1200, 1200, max_size=3) == [(0, 1)]


def test_credit_notes_are_netted() -> None:
    assert find_subsets([1000, -200, 500], 800, 800, max_size=3) == [(0, 1)]


def test_a_range_finds_payments_short_of_a_fee() -> None:
    assert find_subsets([1000, 2000], 985, 1000, max_size=2) == [(0,)]


def test_the_size_is_bounded() -> None:
    assert find_subsets([1, 1, 1, 1, 1], 5, 5, max_size=4) == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=-500, max_value=5000), min_size=1, max_size=9),
    st.integers(min_value=-1000, max_value=12000),
    st.integers(min_value=1, max_value=4),
)
def test_agrees_with_brute_force(values: list[int], target: int, size: int) -> None:
    found = find_subsets(values, target, target, max_size=size, limit=1000)
    brute = {
        tuple(sorted(values[i] for i in combo))
        for k in range(1, size + 1)
        for combo in combinations(range(len(values)), k)
        if sum(values[i] for i in combo) == target
    }
    assert {tuple(sorted(values[i] for i in combo)) for combo in found} == brute
    for combo in found:
        assert sum(values[i] for i in combo) == target
        assert len(combo) <= size
