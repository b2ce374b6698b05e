"""Money is read exactly, in cents, whatever shape Qonto sends it in."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qrecon.common.money import MAX_ABS_CENTS, MoneyParseError, check_cents, from_cents, to_cents


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        (50.01, 5001),
        ("50.01", 5001),
        ("10,00", 1000),
        ("1 234,56", 123456),
        ("1.234,56", 123456),
        ("1,234.56", 123456),
        (12, 1200),
        (Decimal("0.07"), 7),
        ("\u00a01\u202f000,10", 100010),
    ],
)
def test_amounts_become_exact_cents(raw: object, cents: int) -> None:
    assert to_cents(raw) == cents


@pytest.mark.parametrize(
    "raw",
    ["abc", "", None, True, "NaN", "Infinity", "1.001", 0.1 + 0.2, "1e999999", float("inf"), 1e20],
)
def test_anything_not_a_cent_amount_is_refused(raw: object) -> None:
    with pytest.raises(MoneyParseError):
        to_cents(raw)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_cents_round_trip_through_every_text_form(cents: int) -> None:
    major = from_cents(cents)
    assert to_cents(str(major)) == cents
    assert to_cents(str(major).replace(".", ",")) == cents
    assert to_cents(float(major)) == cents


def test_the_range_of_amounts_is_decided_here() -> None:
    assert to_cents(from_cents(MAX_ABS_CENTS)) == MAX_ABS_CENTS
    assert to_cents(from_cents(-MAX_ABS_CENTS)) == -MAX_ABS_CENTS
    with pytest.raises(MoneyParseError):
        to_cents(from_cents(MAX_ABS_CENTS + 1))
    assert check_cents(MAX_ABS_CENTS) == MAX_ABS_CENTS
    assert check_cents("120050") == check_cents(120050.0) == check_cents(Decimal(120050)) == 120050
    for bad in (MAX_ABS_CENTS + 1, 10**30, float("inf"), float("nan"), 12.5, "12.5", True, None):
        with pytest.raises(MoneyParseError):
            check_cents(bad)
