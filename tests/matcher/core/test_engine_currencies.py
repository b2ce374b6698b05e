"""Payments abroad: Qonto debits the account in euros (``amount``, ``currency``) for what
the supplier was paid (``local_amount``, ``local_currency``). A foreign-currency invoice
is paid from ``local_amount`` when the currencies say so (``evidence.payment_view``):
the local currency differs from the account's and invoices are kept in it."""

from __future__ import annotations

from typing import Any

from qrecon.matcher.core.evidence import payment_view

from .conftest import Make

US_ACCOUNT = {
    "counterparty_account_number": "483920175621",
    "counterparty_account_number_format": "account_number",
    "counterparty_bank_identifier": "CHASUS33",
    "counterparty_bank_identifier_format": "bic",
}


def _figma_book(make: Make) -> Any:
    return make.book(
        make.invoice("INV-048213", "Figma, Inc.", 34_500, kind="payable", currency="USD"),
        make.invoice("FA-2025-0412", "Imprimerie Durand", 31_845, kind="payable"),
    )


def test_a_transfer_abroad_pays_the_foreign_invoice_from_its_local_amount(
    make: Make, run: Any
) -> None:
    tx = make.tx(
        31_845,  # euros debited
        side="debit",
        label="Figma, Inc.",
        reference="INV-048213",
        local_amount_cents=34_500,
        local_currency="USD",
        transfer=US_ACCOUNT,
    )
    result = run(tx, _figma_book(make))
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"INV-048213": 34_500}  # in dollars, the invoice's
    assert result.residual_cents == 0
    assert "amount.exact" in result.reasons


def test_a_card_payment_abroad_is_proposed_for_the_foreign_invoice(make: Make, run: Any) -> None:
    tx = make.tx(
        31_845,
        side="debit",
        label="FIGMA INC.",
        clean="Figma",
        operation_type="card",
        local_amount_cents=34_500,
        local_currency="USD",
        card_last_digits="4821",
    )
    result = run(tx, _figma_book(make))
    assert result.status == "suggested"  # card spend: never matched without a review
    assert make.allocated(result) == {"INV-048213": 34_500}
    assert result.residual_cents == 0


def test_without_invoices_in_the_local_currency_the_euros_are_read(make: Make, run: Any) -> None:
    """No invoice in dollars: the transaction is read in euros, as before."""
    book = make.book(make.invoice("FA-2025-0412", "Imprimerie Durand", 31_845, kind="payable"))
    tx = make.tx(
        31_845,
        side="debit",
        label="Imprimerie Durand",
        reference="FA-2025-0412",
        local_amount_cents=34_500,
        local_currency="USD",
    )
    result = run(tx, book)
    assert make.allocated(result) == {"FA-2025-0412": 31_845}


def test_payment_view_only_when_the_currencies_say_so(make: Make) -> None:
    abroad = make.tx(31_845, side="debit", local_amount_cents=34_500, local_currency="USD")
    view = payment_view(abroad, {"EUR", "USD"})
    assert (view.amount_cents, view.currency) == (34_500, "USD")
    assert (view.id, view.updated_at, view.side) == (abroad.id, abroad.updated_at, abroad.side)
    assert payment_view(abroad, {"EUR"}) is abroad  # no invoice in dollars
    at_home = make.tx(12_000, side="debit")  # local = amount, local_currency = currency
    assert payment_view(at_home, {"EUR", "USD"}) is at_home
    no_local = make.tx(12_000, side="debit", local_currency="USD", local_amount_cents=0)
    assert payment_view(no_local, {"EUR", "USD"}) is no_local
