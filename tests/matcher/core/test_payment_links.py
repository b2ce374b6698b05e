"""Qonto payment links as evidence: a paid link names the invoice a credit of its amount pays.

The rule (``core.payment_links``) and the engine with it: a credit of exactly a PAID link's
amount and currency, settled within the window after the link became paid, points to the
link's invoice (decisive, ``payment_link.paid``); several such links, an open or expired
link, another amount, a debit, money outside the window: never a decisive link.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qrecon.matcher.core import Knowledge
from qrecon.matcher.core.explanations import SENTENCES
from qrecon.matcher.core.payment_links import (
    REASON_AMBIGUOUS,
    REASON_PAID,
    PaymentLink,
    PaymentLinks,
    link_evidence,
)

from .conftest import IBAN_MARTIN, Make

PAID_AT = datetime(2025, 3, 19, 16, 30, tzinfo=UTC)  # the day before make.tx's default day


def link(
    link_id: str = "pl-1",
    *,
    invoice_id: str | None = "inv-F-2025-0087",
    number: str | None = "F-2025-0087",
    amount: int = 240000,
    currency: str = "EUR",
    status: str = "paid",
    paid_at: datetime | None = PAID_AT,
    updated_at: datetime | None = None,
) -> PaymentLink:
    return PaymentLink(
        link_id=link_id,
        organization_id="org-1",
        invoice_id=invoice_id,
        invoice_number=number,
        amount_cents=amount,
        currency=currency,
        status=status,
        paid_at=paid_at if status == "paid" else None,
        updated_at=updated_at or paid_at or PAID_AT,
    )


def knowing(*links: PaymentLink) -> Knowledge:
    return Knowledge(PaymentLinks(links))


@pytest.fixture
def book(make: Make) -> Any:
    # Two clients owing the same amount: without evidence, a credit of 2 400 € with no text
    # and no known payer is at best a suggestion.
    return make.book(
        make.invoice("F-2025-0087", "Boulangerie Martin SARL", 240000, issue="2025-03-01"),
        make.invoice("F-2025-0091", "Atelier Roux SAS", 240000, issue="2025-03-03"),
        make.invoice("F-2025-0095", "Garage Petit", 99000, issue="2025-03-05"),
    )


# ---------------------------------------------------------------------- the engine
def test_a_credit_of_a_paid_links_amount_is_auto_matched_to_the_links_invoice(
    make: Make, run: Any, book: Any
) -> None:
    tx = make.tx(240000, label="VIR SEPA")  # no reference, an unknown payer
    assert run(tx, book).status != "auto_matched"  # the baseline: equal amounts, no evidence
    result = run(tx, book, knowing(link()))
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"F-2025-0087": 240000}
    assert REASON_PAID in result.reasons
    assert "reference.payment_reference.exact" not in result.reasons


def test_the_link_names_its_invoice_by_number_when_the_id_is_not_the_books(
    make: Make, run: Any, book: Any
) -> None:
    result = run(make.tx(240000), book, knowing(link(invoice_id="qonto-elsewhere")))
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"F-2025-0087": 240000}


def test_the_money_may_arrive_days_after_the_link_was_paid_but_not_a_week(
    make: Make, run: Any, book: Any
) -> None:
    assert run(make.tx(240000, day="2025-03-24"), book, knowing(link())).status == ("auto_matched")
    late = run(make.tx(240000, day="2025-03-27"), book, knowing(link()))
    assert late.status != "auto_matched"
    assert REASON_PAID not in late.reasons
    early = run(make.tx(240000, day="2025-03-10"), book, knowing(link()))
    assert REASON_PAID not in early.reasons


@pytest.mark.parametrize("status", ["open", "expired", "canceled"])
def test_a_link_that_was_not_paid_is_no_evidence_of_payment(
    make: Make, run: Any, book: Any, status: str
) -> None:
    result = run(make.tx(240000), book, knowing(link(status=status)))
    assert result.status != "auto_matched"
    assert REASON_PAID not in result.reasons


def test_two_paid_links_of_the_same_amount_are_not_decisive(
    make: Make, run: Any, book: Any
) -> None:
    links = knowing(
        link(),
        link("pl-2", invoice_id="inv-F-2025-0091", number="F-2025-0091"),
    )
    result = run(make.tx(240000), book, links)
    assert result.status == "suggested"
    assert REASON_PAID not in result.reasons
    assert REASON_AMBIGUOUS in result.reasons


def test_a_second_paid_link_naming_no_open_invoice_still_makes_it_undecided(
    make: Make, run: Any, book: Any
) -> None:
    links = knowing(link(), link("pl-2", invoice_id="inv-unknown", number="F-1999-0001"))
    result = run(make.tx(240000), book, links)
    assert result.status != "auto_matched"


@pytest.mark.parametrize(
    ("amount", "currency", "side"),
    [(239999, "EUR", "credit"), (240000, "USD", "credit"), (240000, "EUR", "debit")],
)
def test_another_amount_currency_or_a_debit_is_not_the_links_payment(
    make: Make, book: Any, amount: int, currency: str, side: str
) -> None:
    tx = make.tx(amount, side=side)
    tx = tx.model_copy(update={"currency": currency})
    assert link_evidence(PaymentLinks([link()]), tx, book) is None


def test_a_pending_transaction_is_not_the_links_payment(make: Make, book: Any) -> None:
    assert link_evidence(PaymentLinks([link()]), make.tx(240000, status="pending"), book) is None


def test_a_link_whose_invoice_is_no_longer_open_is_ignored(make: Make, run: Any) -> None:
    book = make.book(
        make.invoice("F-2025-0087", "Boulangerie Martin SARL", 240000, status="canceled"),
        make.invoice("F-2025-0091", "Atelier Roux SAS", 240000),
    )
    result = run(make.tx(240000), book, knowing(link()))
    assert REASON_PAID not in result.reasons
    assert "F-2025-0087" not in make.allocated(result)


def test_a_payer_firmly_known_as_someone_else_is_not_overruled_by_a_link(
    make: Make, run: Any
) -> None:
    book = make.book(
        make.invoice("F-2025-0087", "Boulangerie Martin SARL", 240000),
        make.invoice("F-2025-0091", "Atelier Roux SAS", 240000, iban=IBAN_MARTIN),
    )
    result = run(make.tx(240000, iban=IBAN_MARTIN), book, knowing(link()))
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"F-2025-0091": 240000}  # the IBAN's, not the link's
    assert REASON_PAID not in result.reasons


def test_a_payer_whose_name_looks_like_another_client_is_not_decided_by_a_link(
    make: Make, run: Any, book: Any
) -> None:
    result = run(make.tx(240000, label="VIR SEPA ATELIER ROUX"), book, knowing(link()))
    assert not (result.status == "auto_matched" and "F-2025-0087" in make.allocated(result))
    assert REASON_PAID not in result.reasons


def test_a_payer_known_as_the_links_client_is_matched_with_both_signals(
    make: Make, run: Any, book: Any
) -> None:
    result = run(make.tx(240000, label="BOULANGERIE MARTIN"), book, knowing(link()))
    assert result.status == "auto_matched"
    assert make.allocated(result) == {"F-2025-0087": 240000}
    assert REASON_PAID in result.reasons


def test_a_text_that_names_another_invoice_is_not_overruled_by_a_link(
    make: Make, run: Any, book: Any
) -> None:
    result = run(make.tx(240000, reference="Facture F-2025-0091"), book, knowing(link()))
    assert result.status == "suggested"  # two firm signals disagree: a person decides


def test_a_card_credit_through_a_link_is_at_most_suggested(make: Make, run: Any, book: Any) -> None:
    # The engine's noise gate for card operations stays: a person confirms.
    result = run(make.tx(240000, operation_type="card"), book, knowing(link()))
    assert result.status == "suggested"
    assert make.allocated(result) == {"F-2025-0087": 240000}


# ---------------------------------------------------------------------- the index
def test_the_newest_version_of_a_link_is_kept_whatever_the_order() -> None:
    paid = link(updated_at=PAID_AT)
    opened = link(status="open", updated_at=PAID_AT - timedelta(hours=2))
    links = PaymentLinks()
    assert links.upsert(paid)
    assert not links.upsert(opened)  # older: ignored
    assert links.get("pl-1") == paid
    assert [x.link_id for x in links.paid_with(240000, "EUR")] == ["pl-1"]
    canceled = link(status="canceled", updated_at=PAID_AT + timedelta(days=1))
    assert links.upsert(canceled)
    assert links.paid_with(240000, "EUR") == []


def test_the_reasons_have_french_and_english_sentences() -> None:
    for code in (REASON_PAID, REASON_AMBIGUOUS):
        fr, en = SENTENCES[code]
        assert fr
        assert en
        assert fr != en
