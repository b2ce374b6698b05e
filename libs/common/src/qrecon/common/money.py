"""Exact money parsing: Qonto sends amounts as floats, decimal strings or French comma strings.

Money inside the system is always an integer number of cents; this is the one place
where outside representations become cents, and where their range is decided.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_CENT = Decimal("0.01")
# The largest amount accepted, in cents (10^13 EUR): any real transaction or invoice is far
# below it, and sums of many stay within PostgreSQL's bigint (9.2 * 10^18).
MAX_ABS_CENTS = 10**15
_MAX_ABS_AMOUNT = Decimal(MAX_ABS_CENTS) / 100


class MoneyParseError(ValueError):
    """An amount could not be read exactly as a number of cents."""


def parse_decimal_amount(value: object) -> Decimal:
    """Read a major-unit amount (``50.01``, ``"50.01"``, ``"10,00"``, ``"1 234,56"``) exactly."""
    if isinstance(value, bool):
        raise MoneyParseError(f"not an amount: {value!r}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        # repr() of a float is the shortest string that round-trips, i.e. what the sender wrote.
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if "," in text and "." in text:
            # "1.234,56" (French/German grouping) or "1,234.56" (English grouping)
            if text.rfind(",") > text.rfind("."):
                text = text.replace(".", "").replace(",", ".")
            else:
                text = text.replace(",", "")
        elif "," in text:
            text = text.replace(",", ".")
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            raise MoneyParseError(f"not an amount: {value!r}") from exc
    else:
        raise MoneyParseError(f"not an amount: {value!r}")
    if not amount.is_finite():
        raise MoneyParseError(f"not a finite amount: {value!r}")
    if abs(amount) > _MAX_ABS_AMOUNT:
        raise MoneyParseError(f"amount out of range (at most {_MAX_ABS_AMOUNT} in magnitude)")
    return amount


def check_cents(value: object) -> int:
    """An amount already in cents (an int, or an integral number), within range."""
    if isinstance(value, bool):
        raise MoneyParseError(f"not an amount in cents: {value!r}")
    if isinstance(value, float):
        if not value.is_integer():  # also refuses inf and nan
            raise MoneyParseError("an amount in cents is a whole number")
        value = int(value)
    elif isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise MoneyParseError("an amount in cents is a whole number")
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError as exc:
            raise MoneyParseError("an amount in cents is a whole number") from exc
    if not isinstance(value, int):
        raise MoneyParseError("an amount in cents is a whole number")
    if abs(value) > MAX_ABS_CENTS:
        raise MoneyParseError(f"amount out of range (at most {MAX_ABS_CENTS} cents in magnitude)")
    return value


def to_cents(value: object) -> int:
    """Convert a major-unit amount to integer cents, refusing anything finer than a cent."""
    amount = parse_decimal_amount(value)  # finite and within range: quantize cannot fail
    quantized = amount.quantize(_CENT)
    if quantized != amount:
        raise MoneyParseError(f"amount {value!r} has more precision than a cent")
    return int(quantized * 100)


def from_cents(cents: int) -> Decimal:
    """Cents to a two-decimal major-unit amount."""
    return (Decimal(cents) / 100).quantize(_CENT)
