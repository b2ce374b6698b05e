"""The invoice book: residuals, allocations, indexes, reservations."""

from __future__ import annotations

import pytest

from qrecon.common.schemas import Allocation
from qrecon.matcher.core import InvoiceBook, OverAllocation

from .conftest import Make


def alloc(invoice_id: str, cents: int) -> Allocation:
    return Allocation(invoice_id=invoice_id, invoice_number=invoice_id, amount_cents=cents)


def test_residual_defaults_to_the_amount_and_to_zero_once_paid_or_canceled(make: Make) -> None:
    book = make.book(
        make.invoice("F-1", "A SAS", 1000, id="a"),
        make.invoice("F-2", "A SAS", 2000, id="b", status="paid"),
        make.invoice("F-3", "A SAS", 3000, id="c", status="canceled"),
    )
    assert [book.residual(i) for i in "abc"] == [1000, 0, 0]
    assert [inv.id for inv in book.open_invoices()] == ["a"]
    book.upsert(make.invoice("F-4", "A SAS", 4000, id="d"), residual_cents=1500)
    assert book.residual("d") == 1500


def test_allocate_reduces_residuals_and_release_restores_them(make: Make) -> None:
    book = make.book(
        make.invoice("F-1", "A SAS", 1000, id="a"), make.invoice("F-2", "A SAS", 500, id="b")
    )
    book.allocate([alloc("a", 400), alloc("b", 500)])
    assert (book.residual("a"), book.residual("b")) == (600, 0)
    assert [inv.id for inv in book.open_invoices()] == ["a"]
    book.release([alloc("b", 500)])
    assert book.residual("b") == 500


def test_an_over_allocation_is_refused_and_changes_nothing(make: Make) -> None:
    book = make.book(
        make.invoice("F-1", "A SAS", 1000, id="a"), make.invoice("F-2", "A SAS", 500, id="b")
    )
    with pytest.raises(OverAllocation):
        book.allocate([alloc("a", 400), alloc("b", 501)])
    with pytest.raises(OverAllocation):
        book.allocate([alloc("a", 600), alloc("a", 600)])  # summed per invoice
    with pytest.raises(OverAllocation):
        book.allocate([alloc("unknown", 1)])
    assert (book.residual("a"), book.residual("b")) == (1000, 500)


def test_a_credit_note_is_allocated_towards_zero_from_below(make: Make) -> None:
    book = make.book(make.invoice("AV-1", "A SAS", -300, id="cn"))
    with pytest.raises(OverAllocation):
        book.allocate([alloc("cn", 300)])  # wrong sign
    book.allocate([alloc("cn", -300)])
    assert book.residual("cn") == 0


def test_a_paid_invoice_cannot_be_allocated_again(make: Make) -> None:
    book = make.book(make.invoice("F-1", "A SAS", 1000, id="a", status="paid"))
    with pytest.raises(OverAllocation):
        book.allocate([alloc("a", 1000)])


def test_upsert_replaces_and_remove_forgets(make: Make) -> None:
    book = make.book(make.invoice("F-1", "A SAS", 1000, id="a"))
    book.upsert(make.invoice("F-1", "A SAS", 1200, id="a"))
    assert book.residual("a") == 1200
    assert book.get("a") is not None
    book.remove("a")
    assert book.get("a") is None
    assert list(book.ids_by_digit_key("1")) == []
    book.remove("a")  # idempotent


def test_indexes_follow_residuals(make: Make) -> None:
    book = make.book(make.invoice("FAC-2025-0007", "Dupont SARL", 1000, id="a"))
    assert list(book.ids_by_amount("receivable", 1000)) == ["a"]
    assert list(book.ids_by_digit_key("2025-7")) == ["a"]
    book.allocate([alloc("a", 400)])
    assert list(book.ids_by_amount("receivable", 1000)) == []
    assert list(book.ids_by_amount("receivable", 600)) == ["a"]
    book.allocate([alloc("a", 600)])
    assert list(book.ids_by_amount("receivable", 600)) == []
    assert list(book.ids_by_digit_key("2025-7")) == ["a"]  # still known by number: duplicates


def test_numbering_patterns_are_learned_from_the_invoices(make: Make) -> None:
    book = make.book(*(make.invoice(f"FAC-2025-{n:04d}", "A SAS", 100) for n in range(1, 5)))
    assert book.patterns()[0] == (4,)


def test_reservations_mark_invoices_claimed_by_other_transactions(make: Make) -> None:
    book = make.book(make.invoice("F-1", "A SAS", 1000, id="a"))
    book.reserve("tx-1", [alloc("a", 1000)])
    assert book.reserved_by_others("a", "tx-2")
    assert not book.reserved_by_others("a", "tx-1")
    assert book.residual("a") == 1000  # a reservation is not an allocation
    book.unreserve("tx-1")
    assert not book.reserved_by_others("a", "tx-2")


def test_an_empty_book_is_valid() -> None:
    book = InvoiceBook()
    assert len(book) == 0
    assert list(book.open_invoices()) == []
