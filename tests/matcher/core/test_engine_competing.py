"""Competing explanations: two readings that both fit exactly are not decisive evidence.

A payment naming no invoice that equals one open invoice of the customer *and* the sum of
two or three others of the same customer is only ``suggested``, the other reading offered
as an alternative; a number in the reference, whole or partial, decides between equal
amounts before any date rule does; truly interchangeable invoices go oldest-due first, and
the reasons say so.
"""

from __future__ import annotations

from typing import Any

from qrecon.common.schemas import MAX_ALTERNATIVES

from .conftest import IBAN_DUPONT, Make


def _numbers(allocations: Any) -> set[str]:
    return {a.invoice_number for a in allocations}


def test_one_invoice_or_two_that_add_up_is_a_suggestion_with_the_group_as_alternative(
    make: Make, run: Any
) -> None:
    book = make.book(
        make.invoice("FAC-2025-0101", "Maison Dupont SARL", 60000, issue="2025-02-01"),
        make.invoice("FAC-2025-0102", "Maison Dupont SARL", 20000, issue="2025-02-10"),
        make.invoice("FAC-2025-0103", "Maison Dupont SARL", 40000, issue="2025-02-20"),
    )
    result = run(make.tx(60000, label="MAISON DUPONT SARL", iban=IBAN_DUPONT), book)
    assert result.status == "suggested"
    assert "competitor.equal_explanation" in result.reasons
    readings = [_numbers(result.allocations)] + [
        _numbers(a.allocations) for a in result.alternatives
    ]
    assert {"FAC-2025-0101"} in readings
    assert {"FAC-2025-0102", "FAC-2025-0103"} in readings


def test_three_invoices_that_add_up_compete_with_one_too(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("FAC-2025-0101", "Maison Dupont SARL", 90000, issue="2025-02-01"),
        make.invoice("FAC-2025-0102", "Maison Dupont SARL", 20000, issue="2025-02-10"),
        make.invoice("FAC-2025-0103", "Maison Dupont SARL", 30000, issue="2025-02-20"),
        make.invoice("FAC-2025-0104", "Maison Dupont SARL", 40000, issue="2025-02-25"),
    )
    result = run(make.tx(90000, label="MAISON DUPONT SARL"), book)
    assert result.status == "suggested"
    alternatives = [_numbers(a.allocations) for a in result.alternatives]
    assert {"FAC-2025-0102", "FAC-2025-0103", "FAC-2025-0104"} in alternatives


def test_the_reference_settles_the_competition(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("FAC-2025-0101", "Maison Dupont SARL", 60000, issue="2025-02-01"),
        make.invoice("FAC-2025-0102", "Maison Dupont SARL", 20000, issue="2025-02-10"),
        make.invoice("FAC-2025-0103", "Maison Dupont SARL", 40000, issue="2025-02-20"),
    )
    result = run(make.tx(60000, label="MAISON DUPONT SARL", reference="FACTURES 102 ET 103"), book)
    assert _numbers(result.allocations) == {"FAC-2025-0102", "FAC-2025-0103"}
    single = run(make.tx(60000, label="MAISON DUPONT SARL", reference="FAC-2025-0101"), book)
    assert single.status == "auto_matched"
    assert _numbers(single.allocations) == {"FAC-2025-0101"}


def test_a_single_invoice_with_no_group_that_adds_up_is_still_auto_matched(
    make: Make, run: Any
) -> None:
    book = make.book(
        make.invoice("FAC-2025-0101", "Maison Dupont SARL", 60000, issue="2025-02-01"),
        make.invoice("FAC-2025-0102", "Maison Dupont SARL", 25000, issue="2025-02-10"),
        make.invoice("FAC-2025-0103", "Maison Dupont SARL", 40000, issue="2025-02-20"),
    )
    result = run(make.tx(60000, label="MAISON DUPONT SARL", iban=IBAN_DUPONT), book)
    assert result.status == "auto_matched"
    assert _numbers(result.allocations) == {"FAC-2025-0101"}


def test_a_partial_number_in_the_reference_beats_the_oldest_of_equal_amounts(
    make: Make, run: Any
) -> None:
    book = make.book(
        make.invoice("FAC-2025-2442", "Maison Dupont SARL", 30000, issue="2025-01-05"),
        make.invoice("FAC-2025-2633", "Maison Dupont SARL", 50000, issue="2025-03-01"),
        make.invoice("FAC-2025-2634", "Maison Dupont SARL", 30000, issue="2025-03-02"),
    )
    result = run(make.tx(80000, label="MAISON DUPONT SARL", reference="Factures 2633, 2634"), book)
    assert _numbers(result.allocations) == {"FAC-2025-2633", "FAC-2025-2634"}
    assert result.status == "auto_matched"
    shorthand = run(
        make.tx(80000, label="MAISON DUPONT SARL", reference="FAC-2025-2633/2634"), book
    )
    assert _numbers(shorthand.allocations) == {"FAC-2025-2633", "FAC-2025-2634"}


def test_interchangeable_invoices_go_oldest_due_first_and_the_reasons_say_so(
    make: Make, run: Any
) -> None:
    book = make.book(
        make.invoice("FAC-2025-0201", "Maison Dupont SARL", 30000, issue="2025-02-01"),
        make.invoice("FAC-2025-0202", "Maison Dupont SARL", 30000, issue="2025-01-15"),
    )
    result = run(make.tx(30000, label="MAISON DUPONT SARL", iban=IBAN_DUPONT), book)
    assert result.status == "auto_matched"
    assert _numbers(result.allocations) == {"FAC-2025-0202"}
    assert "amount.tie_oldest_first" in result.reasons


def test_alternatives_are_other_readings_best_first_and_at_most_three(make: Make, run: Any) -> None:
    book = make.book(
        *(
            make.invoice(
                f"FAC-2025-03{n:02d}", "Maison Dupont SARL", amount, issue=f"2025-02-{n:02d}"
            )
            for n, amount in enumerate((10000, 20000, 30000, 40000, 50000, 60000), start=1)
        )
    )
    result = run(make.tx(60000, label="MAISON DUPONT SARL", iban=IBAN_DUPONT), book)
    assert result.status == "suggested"
    assert 1 <= len(result.alternatives) <= MAX_ALTERNATIVES
    proposal = _numbers(result.allocations)
    confidences = [a.confidence for a in result.alternatives]
    assert confidences == sorted(confidences, reverse=True)
    for alternative in result.alternatives:
        assert _numbers(alternative.allocations) != proposal
        assert alternative.reasons


def test_a_number_that_reads_like_a_date_still_tells_equal_invoices_apart(
    make: Make, run: Any
) -> None:
    book = make.book(
        make.invoice("F2024-0978", "Roy Etudes Grenoble EURL", 853871, issue="2024-11-28"),
        make.invoice("F2025-0012", "Roy Etudes Grenoble EURL", 853871, issue="2025-01-02"),
    )
    tx = make.tx(
        853871, label="ROY ETUDES GRENOBLE EURL", reference="Règlement de la facture 2025-12"
    )
    result = run(tx, book)
    assert _numbers(result.allocations) == {"F2025-0012"}
    assert "reference.invoice_number.partial" in result.reasons
    assert "amount.tie_oldest_first" not in result.reasons
