"""An invoice named in the remittance text: exact, messy, mistyped, several, RF, third party."""

from __future__ import annotations

from typing import Any

import pytest

from qrecon.matcher.core import EngineConfig

from .conftest import IBAN_DUPONT, Make


@pytest.fixture
def book(make: Make) -> Any:
    return make.book(
        make.invoice("FAC-2025-0123", "Maison Dupont SARL", 120000, iban=IBAN_DUPONT),
        make.invoice("FAC-2025-0124", "Maison Dupont SARL", 30000, iban=IBAN_DUPONT),
        make.invoice("FAC-2025-0125", "Maison Dupont SARL", 120000, iban=IBAN_DUPONT),
        make.invoice("FAC-2025-0126", "Martin Plomberie SAS", 120000),
        make.invoice("FAC-2025-0132", "Bernard Conseil EURL", 45000),
        make.invoice(
            "FAC-2025-0140", "Roux Immobilier SCI", 99000, payment_reference="RF18539007547034"
        ),
    )


@pytest.mark.parametrize(
    "reference",
    [
        "FAC-2025-0123",
        "REGLEMENT FAC2025123",
        "Facture n° 2025-123",
        "fac 2025 0123",
        "VIR FAC-2025-00123",
        "Paiement facture F2025 - 0123",
    ],
)
def test_the_named_invoice_is_auto_matched_whatever_the_spelling(
    make: Make, run: Any, book: Any, reference: str
) -> None:
    result = run(make.tx(120000, label="MAISON DUPONT", reference=reference), book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0123": 120000}
    assert "reference.invoice_number.exact" in result.reasons
    assert result.residual_cents == 0
    assert result.confidence >= EngineConfig().auto_threshold


def test_the_reference_may_sit_in_the_label(make: Make, run: Any, book: Any) -> None:
    label = "VIR SEPA MAISON DUPONT S.A.R.L. REGLEMENT FAC2025125"
    result = run(make.tx(120000, label=label), book)
    assert make.allocated(result) == {"FAC-2025-0125": 120000}
    assert result.status == "auto_matched"


def test_a_reference_picks_the_named_one_of_equal_invoices(make: Make, run: Any, book: Any) -> None:
    result = run(make.tx(120000, label="MAISON DUPONT", reference="FAC 2025-125"), book)
    assert make.allocated(result) == {"FAC-2025-0125": 120000}


def test_a_typo_in_the_number_is_recognised_with_the_payer_and_amount(
    make: Make, run: Any, book: Any
) -> None:
    # 2025-0213 does not exist; one transposition away from 2025-0123
    result = run(make.tx(120000, label="MAISON DUPONT", reference="FAC-2025-0213"), book)
    assert make.allocated(result) == {"FAC-2025-0123": 120000}
    assert "reference.invoice_number.fuzzy" in result.reasons
    assert result.status == "auto_matched"


def test_a_typo_alone_is_not_enough(make: Make, run: Any, book: Any) -> None:
    result = run(make.tx(120000, label="SOMEONE ELSE", reference="FAC-2025-0213"), book)
    assert result.status != "auto_matched"


def test_several_numbers_in_one_reference_are_paid_together(
    make: Make, run: Any, book: Any
) -> None:
    result = run(make.tx(150000, label="MAISON DUPONT", reference="FAC 2025-123 ET 124"), book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0123": 120000, "FAC-2025-0124": 30000}
    assert "reference.invoice_number.several" in result.reasons


def test_a_valid_rf_creditor_reference_decides(make: Make, run: Any, book: Any) -> None:
    result = run(make.tx(99000, label="SCI ROUX", reference="RF18 5390 0754 7034"), book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0140": 99000}
    assert "reference.rf_valid" in result.reasons


def test_an_rf_reference_with_a_wrong_checksum_is_flagged(make: Make, run: Any, book: Any) -> None:
    result = run(make.tx(99000, label="SOMEONE", reference="RF19 5390 0754 7034"), book)
    assert "reference.rf_invalid" in result.reasons
    assert result.status != "auto_matched"


def test_a_third_party_paying_for_its_subsidiary_with_a_decisive_reference(
    make: Make, run: Any, book: Any
) -> None:
    result = run(
        make.tx(45000, label="HOLDING LAMBERT PARTICIPATIONS", reference="FAC-2025-0132"), book
    )
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0132": 45000}
    assert "counterparty.unknown" in result.reasons


def test_a_reference_to_another_invoice_of_the_payer_blocks_a_guess(
    make: Make, run: Any, book: Any
) -> None:
    # the payer names 0124 (30 000) but pays 120 000: not 0123/0125 on the amount alone
    result = run(make.tx(120000, label="MAISON DUPONT", reference="FAC-2025-0124"), book)
    assert result.status != "auto_matched"
