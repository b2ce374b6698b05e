"""How much: several invoices, instalments, fees, credit notes, overpayments, duplicates,
and which side pays what."""

from __future__ import annotations

from typing import Any

from qrecon.matcher.core import reconcile

from .conftest import IBAN_DUPONT, IBAN_SMITH, Make


def test_one_payment_for_several_invoices_found_by_subset_sum(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("F-1", "Maison Dupont SARL", 120000, issue="2025-01-10"),
        make.invoice("F-2", "Maison Dupont SARL", 45000, issue="2025-02-10"),
        make.invoice("F-3", "Maison Dupont SARL", 33000, issue="2025-02-20"),
    )
    result = run(make.tx(153000, label="MAISON DUPONT"), book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"F-1": 120000, "F-3": 33000}
    assert "amount.subset_sum" in result.reasons


def test_equal_invoices_are_paid_oldest_first(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("F-3", "Maison Dupont SARL", 60000, issue="2025-03-01"),
        make.invoice("F-1", "Maison Dupont SARL", 60000, issue="2025-01-01"),
        make.invoice("F-2", "Maison Dupont SARL", 60000, issue="2025-02-01"),
    )
    result = run(make.tx(120000, label="MAISON DUPONT"), book)
    assert make.allocated(result) == {"F-1": 60000, "F-2": 60000}
    single = run(make.tx(60000, label="MAISON DUPONT"), book)
    assert make.allocated(single) == {"F-1": 60000}
    assert "amount.tie_oldest_first" in single.reasons


def test_instalments_carry_the_residual_across_transactions(make: Make, engine: Any) -> None:
    book = make.book(make.invoice("FAC-2025-0300", "Maison Dupont SARL", 300000))
    txs = [
        make.tx(100000, label="MAISON DUPONT", reference="FAC-2025-0300 ECHEANCE 1/3"),
        make.tx(100000, label="MAISON DUPONT", reference="FAC-2025-0300 ECHEANCE 2/3"),
        make.tx(100000, label="MAISON DUPONT", reference="FAC-2025-0300 ECHEANCE 3/3"),
        make.tx(100000, label="MAISON DUPONT", reference="FAC-2025-0300"),  # one too many
    ]
    results = list(reconcile(txs, book, engine))
    assert [r.status for r in results[:3]] == ["auto_matched"] * 3
    assert "amount.partial" in results[0].reasons
    assert "amount.exact" in results[2].reasons
    assert [make.allocated(r) for r in results[:3]] == [{"FAC-2025-0300": 100000}] * 3
    assert book.residual("inv-FAC-2025-0300") == 0
    assert results[3].status == "unmatched"  # never against an already paid invoice
    assert "reference.invoice_closed" in results[3].reasons


def test_a_deducted_bank_fee_settles_the_invoice_with_a_negative_residual(
    make: Make, run: Any
) -> None:
    book = make.book(make.invoice("FAC-2025-0400", "Smith Trading Ltd", 250000, iban=IBAN_SMITH))
    result = run(
        make.tx(248500, label="SMITH TRADING", iban=IBAN_SMITH, operation_type="swift_income"), book
    )
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0400": 250000}  # the whole invoice is settled
    assert result.residual_cents == -1500  # the shortfall: the fee
    assert "amount.fee_shortfall" in result.reasons


def test_a_shortfall_beyond_the_fee_tolerance_is_a_partial_payment(make: Make, run: Any) -> None:
    book = make.book(make.invoice("FAC-2025-0401", "Smith Trading Ltd", 250000))
    result = run(make.tx(200000, label="SMITH TRADING", reference="FAC-2025-0401"), book)
    assert make.allocated(result) == {"FAC-2025-0401": 200000}
    assert result.residual_cents == 0
    assert "amount.partial" in result.reasons


def test_a_credit_note_of_the_same_customer_is_netted(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("FAC-2025-0500", "Maison Dupont SARL", 150000),
        make.invoice("AV-2025-0007", "Maison Dupont SARL", -20000),
        make.invoice("AV-2025-0008", "Martin Plomberie SAS", -20000),
    )
    result = run(make.tx(130000, label="MAISON DUPONT", reference="FAC-2025-0500"), book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0500": 150000, "AV-2025-0007": -20000}
    assert result.residual_cents == 0
    assert "amount.credit_note" in result.reasons


def test_a_small_overpayment_is_allocated_and_the_excess_left_in_the_residual(
    make: Make, run: Any
) -> None:
    book = make.book(make.invoice("FAC-2025-0600", "Maison Dupont SARL", 100000))
    result = run(make.tx(100500, label="MAISON DUPONT", reference="FAC-2025-0600"), book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"FAC-2025-0600": 100000}
    assert result.residual_cents == 500
    assert "amount.overpayment" in result.reasons


def test_a_duplicate_payment_is_never_allocated_to_the_paid_invoice(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("FAC-2025-0700", "Maison Dupont SARL", 90000, status="paid"),
        make.invoice("FAC-2025-0701", "Maison Dupont SARL", 90000),
    )
    result = run(make.tx(90000, label="MAISON DUPONT", reference="FAC-2025-0700"), book)
    assert result.status != "auto_matched"
    assert "reference.invoice_closed" in result.reasons


def test_a_paid_invoice_named_with_the_payments_amount_makes_a_fuzzy_reading_a_question(
    make: Make, run: Any
) -> None:
    """The payer paid "FACTURE N° 2024919" (2024-0919, settled, 3,600.00) again; another
    Lambert's open 2024-0914 of the same amount is one typo away. Likely a second payment
    of the settled invoice: a person decides, whatever else fits."""
    book = make.book(
        make.invoice("2024-0914", "Atelier Lambert SAS", 360000, issue="2024-11-06"),
        make.invoice("2024-0919", "Ets Lambert SAS", 360000, issue="2024-11-19", status="paid"),
    )
    result = run(make.tx(360000, label="VIR SEPA SAS ETS LAMBERT FACTURE N° 2024919"), book)
    assert result.status != "auto_matched"
    assert "reference.invoice_closed" in result.reasons
    assert "duplicate.suspected" in result.reasons


def test_a_paid_invoice_named_with_another_amount_leaves_the_typo_reading_decisive(
    make: Make, run: Any
) -> None:
    """A typo of an open invoice's number that happens to be a settled invoice of another
    amount is no second payment: the typo's reading stands."""
    book = make.book(
        make.invoice("FAC-2025-0914", "Maison Dupont SARL", 360000, issue="2025-01-06"),
        make.invoice("FAC-2025-0919", "Maison Dupont SARL", 125000, status="paid"),
    )
    result = run(make.tx(360000, label="MAISON DUPONT SARL", reference="FAC-2025-0919"), book)
    assert "duplicate.suspected" not in result.reasons


def test_debits_pay_payables_and_credits_receivables(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("INV-00981", "Imprimerie Martin SARL", 45600, kind="payable"),
        make.invoice("FAC-2025-0800", "Imprimerie Martin SARL", 45600),
    )
    debit = run(
        make.tx(45600, side="debit", label="IMPRIMERIE MARTIN", reference="INV-00981"), book
    )
    assert make.allocated(debit) == {"INV-00981": 45600}
    credit = run(make.tx(45600, label="IMPRIMERIE MARTIN"), book)
    assert make.allocated(credit) == {"FAC-2025-0800": 45600}


def test_a_sepa_direct_debit_is_matched_on_the_creditor_and_amount(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("0005648078", "EDF Entreprises", 31990, kind="payable", issue="2025-03-02"),
        make.invoice("0005648079", "Orange Business", 31990, kind="payable", issue="2025-03-02"),
    )
    tx = make.tx(
        31990,
        side="debit",
        operation_type="direct_debit",
        label="PRLV SEPA EDF",
        reference="EDF CLIENT 382122313 ECH 15/03/2025",
    )
    result = run(tx, book)
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"0005648078": 31990}


def test_a_refund_to_a_customer_settles_their_credit_note(make: Make, run: Any) -> None:
    book = make.book(make.invoice("AV-2025-0009", "Maison Dupont SARL", -25000, iban=IBAN_DUPONT))
    result = run(
        make.tx(
            25000, side="debit", label="MAISON DUPONT", iban=IBAN_DUPONT, reference="AV-2025-0009"
        ),
        book,
    )
    assert make.allocated(result) == {"AV-2025-0009": -25000}
    assert "direction.refund" in result.reasons
    assert result.residual_cents == 0
