"""Evidence rules that keep auto-matching right without asking about what is no question.

* Interchangeable invoices (one customer, one amount, nothing in the text to tell them
  apart) make one reading, not competing ones: the oldest due are taken, and the reasons
  say so (``amount.tie_oldest_first``); a pending suggestion claiming one of them leaves
  the others free.
* A number that names no invoice and is not shaped like one (an order or mandate number)
  tells no equal invoices apart; one shaped like an invoice number may name one the book
  does not have: ask.
* Every number of the text counts: "FACT 1046 ET 1096" is read as two invoices, a lone
  "1996" after another number is a number (not a year), a number the text gives by its
  last digits that the candidate leaves out counts against it, and an invoice the text
  names is always searched.
* A payment the named invoice does not fit, and one typo away from another invoice of
  exactly that amount, is a question, not a partial payment.
* Money: a fee deducted from a SWIFT transfer is expected; a SEPA transfer is credited in
  full, so short of the invoices it is a question; a subset of unnamed
  invoices found among part of the customer's items only, or of round amounts only, is
  not decisive.
* Names: a payer's name that is the start of exactly one counterparty's name is that
  counterparty's (``counterparty.name.truncated``).
"""

from __future__ import annotations

from typing import Any

from qrecon.matcher.core import InvoiceBook, MatchingEngine
from qrecon.matcher.core.explanations import SENTENCES

from .conftest import IBAN_DUPONT, IBAN_SMITH, Make

DUPONT = "Maison Dupont SARL"


def test_groups_that_differ_only_by_equal_invoices_are_one_reading_oldest_first(
    make: Make, run: Any
) -> None:
    book = make.book(
        make.invoice("FAC-2025-0101", DUPONT, 48000, issue="2025-01-10"),
        make.invoice("FAC-2025-0102", DUPONT, 48000, issue="2025-01-20"),
        make.invoice("FAC-2025-0103", DUPONT, 120000, issue="2025-02-01"),
        make.invoice("FAC-2025-0104", DUPONT, 48000, issue="2025-02-10"),
    )
    result = run(make.tx(168000, label="MAISON DUPONT SARL", iban=IBAN_DUPONT), book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0101": 48000, "FAC-2025-0103": 120000}
    assert "amount.tie_oldest_first" in result.reasons
    assert "competitor.close" not in result.reasons
    assert result.alternatives == []  # a twin is no alternative


def test_a_suggestion_claiming_one_of_equal_invoices_leaves_the_other_to_take(
    make: Make, engine: MatchingEngine
) -> None:
    book = make.book(
        make.invoice("FAC-2025-0101", DUPONT, 36000, issue="2025-01-10"),
        make.invoice("FAC-2025-0102", DUPONT, 36000, issue="2025-01-20"),
    )
    first = make.invoice("FAC-2025-0101", DUPONT, 36000, issue="2025-01-10")
    book.reserve("tx-pending", [_allocation(first, 36000)])
    result = engine.decide(make.tx(36000, label="MAISON DUPONT SARL", iban=IBAN_DUPONT), book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0102": 36000}
    assert "amount.tie_unsettled" not in result.reasons


def test_when_every_equal_invoice_is_claimed_the_tie_is_unsettled(
    make: Make, engine: MatchingEngine
) -> None:
    invoices = [
        make.invoice("FAC-2025-0101", DUPONT, 36000, issue="2025-01-10"),
        make.invoice("FAC-2025-0102", DUPONT, 36000, issue="2025-01-20"),
    ]
    book = make.book(*invoices)
    book.reserve("tx-a", [_allocation(invoices[0], 36000)])
    book.reserve("tx-b", [_allocation(invoices[1], 36000)])
    result = engine.decide(make.tx(36000, label="MAISON DUPONT SARL", iban=IBAN_DUPONT), book)
    assert result.status == "suggested"
    assert "amount.tie_unsettled" in result.reasons


def _equal_pair(make: Make) -> InvoiceBook:
    return make.book(
        make.invoice("FAC-2025-0101", DUPONT, 36000, issue="2025-01-10"),
        make.invoice("FAC-2025-0102", DUPONT, 36000, issue="2025-01-20"),
    )


def test_an_order_number_tells_no_equal_invoices_apart(make: Make, run: Any) -> None:
    tx = make.tx(36000, label="MAISON DUPONT SARL", reference="CDE 81941", iban=IBAN_DUPONT)
    result = run(tx, _equal_pair(make))
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0101": 36000}
    assert "amount.tie_oldest_first" in result.reasons


def test_an_unknown_invoice_number_among_equal_invoices_is_a_question(make: Make, run: Any) -> None:
    tx = make.tx(36000, label="MAISON DUPONT SARL", reference="FACT 2025-0777", iban=IBAN_DUPONT)
    result = run(tx, _equal_pair(make))
    assert result.status == "suggested"
    assert "reference.unrecognised" in result.reasons


def test_a_number_after_another_is_not_a_year(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("FAC-2025-1649", DUPONT, 326882, issue="2025-05-17"),
        make.invoice("FAC-2025-1996", DUPONT, 326882, issue="2025-06-16"),
        make.invoice("FAC-2025-2080", DUPONT, 96000, issue="2025-06-23"),
    )
    tx = make.tx(
        422882, label="MAISON DUPONT SARL", reference="FACT 2080 ET 1996", day="2025-07-23"
    )
    result = run(tx, book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-2080": 96000, "FAC-2025-1996": 326882}


def test_a_partial_number_the_candidate_leaves_out_counts_against_it(make: Make, run: Any) -> None:
    """ "1046" names two invoices (two years); "1096" only one: the reading that takes 1096
    explains the whole text."""
    book = make.book(
        make.invoice("FAC-2024-1046", DUPONT, 144000, issue="2024-12-18"),
        make.invoice("FAC-2025-1046", DUPONT, 96000, issue="2025-03-29"),
        make.invoice("FAC-2025-1096", DUPONT, 144000, issue="2025-04-02"),
    )
    tx = make.tx(
        240000, label="MAISON DUPONT SARL", reference="FACT 1046 ET 1096", day="2025-05-28"
    )
    result = run(tx, book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-1046": 96000, "FAC-2025-1096": 144000}


def test_an_invoice_the_text_names_is_searched_however_many_older_ones_are_open(
    make: Make, run: Any
) -> None:
    older = [
        make.invoice(f"FAC-2024-{n:04d}", DUPONT, 10000 + 100 * n, issue="2024-06-01")
        for n in range(1, 41)
    ]
    book = make.book(
        *older,
        make.invoice("FAC-2025-0500", DUPONT, 70000, issue="2025-02-01"),
        make.invoice("FAC-2025-0501", DUPONT, 50000, issue="2025-02-02"),
    )
    tx = make.tx(120000, label="MAISON DUPONT SARL", reference="FACTURES 500 ET 501")
    result = run(tx, book)
    assert make.allocated(result) == {"FAC-2025-0500": 70000, "FAC-2025-0501": 50000}


def test_a_named_invoice_that_does_not_fit_beside_a_typo_that_does_is_a_question(
    make: Make, run: Any
) -> None:
    book = make.book(
        make.invoice("2025/0120", DUPONT, 1078370, issue="2025-05-11"),
        make.invoice("2025/0210", DUPONT, 480000, issue="2025-05-19"),
    )
    tx = make.tx(
        480000,
        label="MAISON DUPONT SARL",
        reference="REGLEMENT 2025/00120",
        iban=IBAN_DUPONT,
        day="2025-06-24",
    )
    result = run(tx, book)
    assert result.status == "suggested"
    readings = [make.allocated(result)] + [
        {a.invoice_number: a.amount_cents for a in alt.allocations} for alt in result.alternatives
    ]
    assert {"2025/0210": 480000} in readings
    assert {"2025/0120": 480000} in readings


def test_a_payment_made_twice_is_not_read_as_a_typo(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("F2024-0938", DUPONT, 853871, issue="2024-11-20", status="paid"),
        make.invoice("F2024-0978", DUPONT, 853871, issue="2024-11-28"),
    )
    result = run(make.tx(853871, label="MAISON DUPONT SARL", reference="F20240938"), book)
    assert result.status != "auto_matched"


def test_a_fee_deducted_from_a_swift_transfer_is_expected(make: Make, run: Any) -> None:
    book = make.book(make.invoice("F2025-0875", "Walker Design Ltd", 144000, issue="2025-03-09"))
    swift = run(make.tx(142000, label="WALKER DESIGN", operation_type="swift_income"), book)
    sepa = run(make.tx(142000, label="WALKER DESIGN"), book)
    assert swift.status == "auto_matched"
    assert swift.residual_cents == -2000
    assert "amount.fee_international" in swift.reasons
    assert sepa.confidence < swift.confidence
    assert "amount.fee_international" not in sepa.reasons
    # a SEPA transfer is credited in full: short of the invoice, it is a question
    assert sepa.status == "suggested"
    assert "amount.shortfall_not_international" in sepa.reasons
    named = run(make.tx(142000, label="WALKER DESIGN", reference="F2025-0875"), book)
    assert named.status == "suggested"


def test_a_payer_name_cut_short_is_the_counterparty_it_starts(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("0001130420", "Total Energies Marketing France", 31000, kind="payable")
    )
    tx = make.tx(
        31000,
        side="debit",
        operation_type="direct_debit",
        label="PRLV SEPA TOTALENERGIES",
        clean="Totalenergies",
        reference="PRLV TOTALENERGIES 032025",
    )
    result = run(tx, book)
    assert result.status == "auto_matched"
    assert "counterparty.name.truncated" in result.reasons


def test_a_glued_invoice_number_is_not_cut_into_another_invoice_s(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("FAC202504-1154", DUPONT, 300000, issue="2025-04-03"),
        make.invoice("AV2025-0004", DUPONT, -20000, issue="2025-04-01"),
    )
    tx = make.tx(
        300000,
        label="MAISON DUPONT SARL",
        reference="FAC202504-1154",
        iban=IBAN_DUPONT,
        day="2025-04-11",
    )
    result = run(tx, book)
    assert result.status == "auto_matched"
    assert "reference.points_elsewhere" not in result.reasons


def test_a_subset_found_among_part_of_many_open_items_is_not_decisive(make: Make, run: Any) -> None:
    """40 open items the payment could hold, more than the search looks at: a combination
    among the newer ones cannot be ruled out, so the one found is only suggested."""
    items = [
        make.invoice(f"INV-{n:04d}", "Smith Ltd", 100000 + n, issue="2025-01-01")
        for n in range(1, 41)
    ]
    few = make.book(*items[:10])
    many = make.book(*items)
    tx = make.tx(100001 + 100002 + 100003, label="SMITH LTD", iban=IBAN_SMITH)
    assert run(tx, few).status == "auto_matched"
    result = run(tx, many)
    assert result.status == "suggested"
    assert "amount.subset_search_bounded" in result.reasons
    assert make.allocated(result) == {"INV-0001": 100001, "INV-0002": 100002, "INV-0003": 100003}


def test_several_round_amounts_adding_up_are_a_suggestion(make: Make, run: Any) -> None:
    """1 200 + 1 200 + 2 400 EUR: round amounts add up by coincidence (a prepayment of an
    invoice still to come); odd amounts that add up do not."""
    book = make.book(
        make.invoice("FAC-2025-0625", DUPONT, 120000, issue="2025-02-18"),
        make.invoice("FAC-2025-0683", DUPONT, 120000, issue="2025-02-24"),
        make.invoice("FAC-2025-0935", DUPONT, 240000, issue="2025-03-13"),
    )
    result = run(make.tx(480000, label="MAISON DUPONT SARL", iban=IBAN_DUPONT), book)
    assert result.status == "suggested"
    assert "amount.round_subset" in result.reasons
    odd = make.book(
        make.invoice("FAC-2025-0625", DUPONT, 120017, issue="2025-02-18"),
        make.invoice("FAC-2025-0683", DUPONT, 120350, issue="2025-02-24"),
        make.invoice("FAC-2025-0935", DUPONT, 240410, issue="2025-03-13"),
    )
    tx = make.tx(120017 + 120350 + 240410, label="MAISON DUPONT SARL", iban=IBAN_DUPONT)
    assert run(tx, odd).status == "auto_matched"


def test_every_new_reason_has_a_french_and_an_english_sentence() -> None:
    for code in (
        "amount.fee_international",
        "amount.round_subset",
        "amount.shortfall_not_international",
        "amount.subset_search_bounded",
        "counterparty.name.truncated",
    ):
        french, english = SENTENCES[code]
        assert french
        assert english


def _allocation(invoice: Any, cents: int) -> Any:
    from qrecon.common.schemas import Allocation

    return Allocation(invoice_id=invoice.id, invoice_number=invoice.number, amount_cents=cents)
