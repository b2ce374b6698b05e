"""Counterparty names and IBANs, normalised."""

from __future__ import annotations

import pytest

from qrecon.matcher.core.normalize import (
    label_name_key,
    name_key,
    name_similarity,
    normalise_iban,
    party_key,
)


@pytest.mark.parametrize(
    "name",
    [
        "Maison Dupont SARL",
        "MAISON DUPONT S.A.R.L.",
        "sarl maison dupont",
        "Dupont (Maison) SAS",
        "Maison Dupont",
        "MAISON DUPONT EURL",
    ],
)
def test_legal_forms_case_punctuation_and_word_order_do_not_matter(name: str) -> None:
    assert name_key(name) == "DUPONT MAISON"


@pytest.mark.parametrize(
    "name", ["Société Générale d'Électricité", "SOCIETE GENERALE D ELECTRICITE SA"]
)
def test_accents_and_apostrophes_do_not_matter(name: str) -> None:
    assert name_key(name) == "ELECTRICITE GENERALE"


@pytest.mark.parametrize("form", ["GmbH", "Ltd", "SASU", "SCI", "B.V."])
def test_foreign_and_other_legal_forms_are_removed(form: str) -> None:
    assert name_key(f"Weber Solutions {form}") == "SOLUTIONS WEBER"


def test_a_bank_label_loses_its_banking_words_and_numbers() -> None:
    label = "VIR SEPA MAISON DUPONT S.A.R.L. REGLEMENT FAC2025123"
    assert label_name_key(label) == "DUPONT MAISON"


def test_two_companies_with_the_same_name_and_different_legal_forms_are_two_parties() -> None:
    assert name_key("Ets Dumont SARL") == name_key("Ets Dumont SNC")
    assert party_key("Ets Dumont SARL") != party_key("Ets Dumont SNC")
    assert party_key("ETS DUMONT S.A.R.L.") == party_key("Ets Dumont SARL")


def test_similarity_tolerates_subsets_spacing_and_typos_but_ranks_them_below_equality() -> None:
    exact = name_similarity("DUPONT MAISON", "DUPONT MAISON")
    subset = name_similarity("DUPONT", "DUPONT MAISON")
    spacing = name_similarity(
        "PREVOYANCE SWISSLIFE",
        "LIFE PREVOYANCE SWISS",
        "SWISSLIFEPREVOYANCE",
        "SWISSLIFEPREVOYANCE",
    )
    typo = name_similarity("DUPOND MAISON", "DUPONT MAISON")
    assert exact == 100.0
    assert spacing == 100.0
    assert 85 <= subset < 100
    assert 85 <= typo < 100
    assert name_similarity("MARTIN PLOMBERIE", "DUPONT MAISON") < 60


def test_ibans_are_validated_and_compacted() -> None:
    assert normalise_iban("fr76 3000 6000 0112 3456 7890 189") == "FR7630006000011234567890189"
    assert normalise_iban("FR7630006000011234567890188") is None  # bad check digits
    assert normalise_iban("12345") is None
    assert normalise_iban(None) is None
