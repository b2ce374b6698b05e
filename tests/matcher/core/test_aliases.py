"""What a review may teach: a payer name or IBAN becomes a customer's alias only when it is
specific to that customer (``core.aliases``)."""

from __future__ import annotations

import pytest

from qrecon.matcher.core import InvoiceBook, Knowledge, MatchingEngine
from qrecon.matcher.core.aliases import AliasRules, judge_iban, judge_name, lesson

from .conftest import IBAN_DUPONT, IBAN_MARTIN, IBAN_MULLER, Make

RULES = AliasRules()
DUPONT = "Maison Dupont SARL"


@pytest.fixture
def book(make: Make) -> InvoiceBook:
    return make.book(
        make.invoice("FAC-2025-0201", DUPONT, 84000, iban=IBAN_DUPONT),
        make.invoice("FAC-2025-0202", "Martin Plomberie SAS", 61250, iban=IBAN_MARTIN),
        make.invoice("FAC-2025-0204", "Dupont Bâtiment SAS", 50000),
        make.invoice("FAC-2025-0205", "Dupont Bâtiments SARL", 50000),
        make.invoice("FAC-2025-0206", "Garage Petit", 12000),
        make.invoice("FAC-2025-0207", "Tilleuls Immobilier", 150000),
    )


# ---------------------------------------------------------------------- learnt
@pytest.mark.parametrize(
    ("payer", "customer"),
    [
        ("MAISON DUPOND", DUPONT),  # a typo
        ("VIR SEPA MAISON DUPOND SARL", DUPONT),  # ... in a bank label, with a legal form
        ("Maisön Dupond", DUPONT),  # ... accents
        ("SCI TILLEULS IMMOBILIER GESTION", "Tilleuls Immobilier"),  # more words
        ("GESTION TILLEULS IMMOBILIER", "Tilleuls Immobilier"),  # ... in another order
    ],
)
def test_a_name_close_to_the_customers_is_learnt_as_a_fuzzy_alias(
    book: InvoiceBook, payer: str, customer: str
) -> None:
    verdict = judge_name(RULES, book, None, payer, customer)
    assert (verdict.why, verdict.learn) == ("fuzzy", True)
    assert verdict.score >= RULES.min_score


def test_a_name_unlike_the_customers_that_no_one_else_claims_is_learnt_on_the_reviewers_word(
    book: InvoiceBook,
) -> None:
    verdict = judge_name(RULES, book, None, "HOLDING GROUPE PARTICIPATIONS", DUPONT)
    assert (verdict.why, verdict.learn) == ("payer", True)
    assert verdict.score < RULES.min_score


@pytest.mark.parametrize(
    "payer", ["MAISON DUPONT", "dupont maison s.a.r.l.", "VIR SEPA MAISON DUPONT", "MAISONDUPONT"]
)
def test_the_customers_own_name_teaches_nothing_new(book: InvoiceBook, payer: str) -> None:
    verdict = judge_name(RULES, book, None, payer, DUPONT)
    assert (verdict.why, verdict.learn) == ("same_name", False)


# ---------------------------------------------------------------------- not learnt
@pytest.mark.parametrize(
    ("payer", "why"),
    [
        ("VIREMENT SEPA PAIEMENT FACTURE 2025-0201", "no_name"),  # bank words and numbers
        ("QONTO", "intermediary"),
        ("STRIPE PAYMENTS EUROPE", "intermediary"),  # a processor pays out many customers
        ("BNP PARIBAS FACTOR", "intermediary"),  # a factor pays for many customers
        ("CREDIT AGRICOLE", "intermediary"),
        ("CAISSE D'EPARGNE", "intermediary"),
        ("SOCIETE GENERALE", "intermediary"),
        ("CLIENT DIVERS", "generic"),
        ("REMBOURSEMENT FRANCE", "generic"),
        ("XY", "generic"),
    ],
)
def test_a_name_that_says_nothing_about_who_paid_is_never_learnt(
    book: InvoiceBook, payer: str, why: str
) -> None:
    assert judge_name(RULES, book, None, payer, DUPONT).why == why


def test_another_customers_exact_name_is_never_learnt(book: InvoiceBook) -> None:
    # The reviewer matched Martin's payment to Dupont's invoice (paid on their behalf):
    # learning it would make Martin's own payments look like Dupont's.
    verdict = judge_name(RULES, book, None, "MARTIN PLOMBERIE", DUPONT)
    assert (verdict.why, verdict.learn) == ("other_customer", False)


def test_a_name_already_taught_for_another_customer_is_not_taught_again(
    book: InvoiceBook,
) -> None:
    knowledge = Knowledge()
    knowledge.add_alias("HOLDING GROUPE PARTICIPATIONS", None, "Garage Petit")
    verdict = judge_name(RULES, book, knowledge, "HOLDING GROUPE PARTICIPATIONS", DUPONT)
    assert verdict.why == "other_customer"
    # for the customer it was taught for, it may be confirmed again
    assert judge_name(RULES, book, knowledge, "HOLDING GROUPE PARTICIPATIONS", "Garage Petit").learn


def test_a_name_about_as_close_to_two_customers_is_ambiguous(book: InvoiceBook) -> None:
    # 96.6 to "Dupont Bâtiment", 93.3 to "Dupont Bâtiments": within the 5-point margin
    verdict = judge_name(RULES, book, None, "DUPONT BATIMNT", "Dupont Bâtiment SAS")
    assert (verdict.why, verdict.learn) == ("ambiguous", False)


def test_a_name_much_closer_to_another_customer_than_to_the_chosen_one_is_ambiguous(
    book: InvoiceBook,
) -> None:
    verdict = judge_name(RULES, book, None, "GARAGE PETITS", DUPONT)
    assert verdict.why == "ambiguous"


def test_the_margin_decides_how_near_another_customer_must_be_to_make_a_name_ambiguous(
    book: InvoiceBook,
) -> None:
    narrow = AliasRules(margin=2.0)
    assert judge_name(narrow, book, None, "DUPONT BATIMNT", "Dupont Bâtiment SAS").learn


# ---------------------------------------------------------------------- IBAN, lesson
def test_an_iban_already_on_another_customers_invoices_is_not_learnt(book: InvoiceBook) -> None:
    assert judge_iban(book, None, IBAN_MARTIN, DUPONT).why == "other_customer"
    assert judge_iban(book, None, IBAN_DUPONT, DUPONT).learn
    assert judge_iban(book, None, IBAN_MULLER, DUPONT).learn


def test_an_iban_taught_for_another_customer_is_not_learnt(book: InvoiceBook) -> None:
    knowledge = Knowledge()
    knowledge.add_alias(None, IBAN_MULLER, "Garage Petit")
    assert judge_iban(book, knowledge, IBAN_MULLER, DUPONT).why == "other_customer"
    assert judge_iban(book, knowledge, IBAN_MULLER, "Garage Petit").learn


def test_a_lesson_records_the_specific_name_and_the_iban(book: InvoiceBook) -> None:
    taught = lesson(RULES, book, None, "MAISON DUPOND", IBAN_MULLER, [DUPONT, DUPONT])
    assert taught.aliases == [("MAISON DUPOND", IBAN_MULLER, DUPONT)]
    assert taught.not_learnt == {}


def test_a_lesson_keeps_the_iban_when_the_name_is_the_customers_own(book: InvoiceBook) -> None:
    taught = lesson(RULES, book, None, "MAISON DUPONT", IBAN_MULLER, [DUPONT])
    assert taught.aliases == [("", IBAN_MULLER, DUPONT)]


def test_a_lesson_says_why_it_learnt_nothing(book: InvoiceBook) -> None:
    taught = lesson(RULES, book, None, "STRIPE PAYMENTS", IBAN_MARTIN, [DUPONT])
    assert taught.aliases == []
    assert taught.not_learnt == {"STRIPE PAYMENTS": "intermediary", IBAN_MARTIN: "other_customer"}


def test_a_payment_of_several_customers_invoices_teaches_nothing(book: InvoiceBook) -> None:
    taught = lesson(RULES, book, None, "HOLDING GROUPE", IBAN_MULLER, [DUPONT, "Garage Petit"])
    assert taught.aliases == []
    assert set(taught.not_learnt.values()) == {"several_customers"}


# ---------------------------------------------------------------------- the engine
def test_a_fuzzy_name_is_weaker_evidence_than_the_same_name_learnt_as_an_alias(
    make: Make, book: InvoiceBook
) -> None:
    engine = MatchingEngine()
    tx = make.tx(84000, label="MAISON DUPOND")
    fuzzy = engine.decide(tx, book)
    knowledge = Knowledge()
    for name, iban, customer in lesson(RULES, book, None, "MAISON DUPOND", "", [DUPONT]).aliases:
        knowledge.add_alias(name or None, iban or None, customer)
    learnt = engine.decide(tx, book, knowledge)
    exact = engine.decide(make.tx(84000, label="MAISON DUPONT"), book)

    assert "counterparty.name.fuzzy" in fuzzy.reasons
    assert "counterparty.alias" in learnt.reasons
    assert fuzzy.confidence < learnt.confidence
    assert learnt.confidence == pytest.approx(exact.confidence)
    assert learnt.status == "auto_matched"
