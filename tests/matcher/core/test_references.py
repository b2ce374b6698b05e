"""Reading invoice numbers and creditor references out of messy remittance texts."""

from __future__ import annotations

import pytest

from qrecon.matcher.core.references import number_keys, read_references

PATTERNS = ((4,),)  # learned from numbers like FAC-2025-0123


@pytest.mark.parametrize(
    "number",
    ["FAC-2025-0123", "fac 2025 0123", "FAC/2025/123", "FAC-2025-00123", "F2025-0123", "2025-123"],
)
def test_an_invoice_number_is_indexed_by_its_digit_groups_without_leading_zeros(
    number: str,
) -> None:
    assert number_keys(number).digit_key == "2025-123"


def test_a_number_keeps_its_alphabetic_prefix_and_numbering_pattern() -> None:
    keys = number_keys("FAC-2025-0123")
    assert (keys.prefix, keys.pattern, keys.last_key) == ("FAC", (4,), "123")


@pytest.mark.parametrize(
    "text",
    [
        "FAC-2025-0123",
        "Facture n° 2025-123",
        "REGLEMENT FAC2025123",  # glued, zero dropped: cut along the learned pattern
        "VIR FAC20250123 MAISON DUPONT",
        "fac 2025 / 0123",
        "PAIEMENT FACTURE F2025 - 0123",
        "N°2025-00123",
        "REF FAC-2O25-0123",  # letter O typed for a zero
    ],
)
def test_messy_references_yield_the_canonical_key(text: str) -> None:
    assert "2025-123" in read_references([text], PATTERNS).keys


def test_several_numbers_in_one_reference_are_all_read() -> None:
    keys = read_references(["FAC-2025-0123 FAC-2025-0124 + FAC2025125"], PATTERNS).keys
    assert {"2025-123", "2025-124", "2025-125"} <= keys.keys()


@pytest.mark.parametrize("text", ["FACTURES 2025-123/124/125", "FACTURES 2025-123, 124 ET 125"])
def test_shorthand_sibling_numbers_are_expanded(text: str) -> None:
    keys = read_references([text], PATTERNS).keys
    assert {"2025-123", "2025-124", "2025-125"} <= keys.keys()


@pytest.mark.parametrize(
    "text", ["ECH 09/02/2025", "PAIEMENT 03/2025", "LOYER MARS 2025", "012025"]
)
def test_dates_are_not_invoice_numbers(text: str) -> None:
    query = read_references([text], PATTERNS)
    assert not query.keys
    assert not query.number_like


def test_a_number_that_names_nothing_known_is_flagged_as_number_like() -> None:
    assert read_references(["CDE 45821"], PATTERNS).number_like


def test_iso_11649_creditor_references_are_checksum_validated() -> None:
    good = read_references(["RF18 5390 0754 7034 merci"], PATTERNS)
    assert good.rf_valid == ["RF18539007547034"]
    bad = read_references(["RF19 5390 0754 7034"], PATTERNS)
    assert not bad.rf_valid
    assert bad.rf_invalid
