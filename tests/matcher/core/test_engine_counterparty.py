"""Who paid: IBAN, name variants, similar names, what reviewers taught."""

from __future__ import annotations

from typing import Any

import pytest

from qrecon.matcher.core import Knowledge

from .conftest import IBAN_DUPONT, IBAN_MARTIN, Make


@pytest.fixture
def book(make: Make) -> Any:
    return make.book(
        make.invoice("FAC-2025-0201", "Maison Dupont SARL", 84000, iban=IBAN_DUPONT),
        make.invoice("FAC-2025-0202", "Martin Plomberie SAS", 61250, iban=IBAN_MARTIN),
        make.invoice("FAC-2025-0203", "Société Générale d'Électricité", 33310),
        make.invoice("FAC-2025-0204", "Dupont Bâtiment SAS", 50000),
        make.invoice("FAC-2025-0205", "Dupont Bâtiments SARL", 50000),
    )


@pytest.mark.parametrize(
    "label",
    [
        "MAISON DUPONT",
        "SARL MAISON DUPONT",
        "VIR SEPA MAISON DUPONT S.A.R.L.",
        "DUPONT MAISON",
        "maison dupont sarl",
    ],
)
def test_the_payer_is_recognised_by_name_whatever_the_legal_form_case_or_order(
    make: Make, run: Any, book: Any, label: str
) -> None:
    result = run(make.tx(84000, label=label), book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0201": 84000}
    assert "counterparty.name.exact" in result.reasons


def test_accents_and_punctuation_do_not_matter(make: Make, run: Any, book: Any) -> None:
    result = run(make.tx(33310, label="SOCIETE GENERALE D ELECTRICITE"), book)
    assert result.status == "auto_matched"


def test_the_payer_is_recognised_by_a_valid_iban_whatever_the_account_name(
    make: Make, run: Any, book: Any
) -> None:
    result = run(make.tx(61250, label="M JEAN MARTIN", iban=IBAN_MARTIN), book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0202": 61250}
    assert "counterparty.iban" in result.reasons


def test_an_invalid_iban_is_ignored(make: Make, run: Any, book: Any) -> None:
    result = run(make.tx(61250, label="M JEAN MARTIN", iban="FR1420041010050500013M02607"), book)
    assert "counterparty.iban" not in result.reasons
    assert result.status != "auto_matched"


def test_similar_names_with_the_same_amount_are_competitors(
    make: Make, run: Any, book: Any
) -> None:
    result = run(make.tx(50000, label="DUPONT BATIMENT"), book)
    assert result.status == "suggested"
    assert "competitor.close" in result.reasons


def test_an_unknown_payer_with_an_amount_equal_to_an_invoice_is_at_most_suggested(
    make: Make, run: Any, book: Any
) -> None:
    result = run(make.tx(61250, label="LEROY CONSULTING"), book)
    assert result.status != "auto_matched"
    assert "amount.only" in result.reasons


def test_a_taught_alias_identifies_the_payer(make: Make, run: Any, book: Any) -> None:
    tx = make.tx(84000, label="HOLDING GROUPE D PARTICIPATIONS")
    assert run(tx, book).status != "auto_matched"
    knowledge = Knowledge()
    knowledge.add_alias("HOLDING GROUPE D PARTICIPATIONS", None, "Maison Dupont SARL")
    result = run(tx, book, knowledge)
    assert result.status == "auto_matched"
    assert "counterparty.alias" in result.reasons


def test_a_rejected_pair_is_never_proposed_again(make: Make, run: Any, book: Any) -> None:
    tx = make.tx(84000, label="MAISON DUPONT", id="tx-rejected")
    knowledge = Knowledge()
    knowledge.reject("tx-rejected", "inv-FAC-2025-0201")
    assert knowledge.is_rejected("tx-rejected", "inv-FAC-2025-0201")
    result = run(tx, book, knowledge)
    assert "inv-FAC-2025-0201" not in {a.invoice_id for a in result.allocations}
    assert "knowledge.rejected_pair" in result.reasons


def test_two_parties_sharing_a_name_are_told_apart_by_iban(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("F-1", "Ets Dumont SARL", 10000, iban=IBAN_DUPONT),
        make.invoice("F-2", "Ets Dumont SNC", 10000, iban=IBAN_MARTIN),
    )
    assert run(make.tx(10000, label="ETS DUMONT"), book).status == "suggested"
    result = run(make.tx(10000, label="ETS DUMONT", iban=IBAN_MARTIN), book)
    assert make.allocated(result) == {"F-2": 10000}
