"""Builders for the engine's specifications: invoices, Qonto transactions, a book.

Tests take the ``make`` fixture: ``make.invoice(...)``, ``make.tx(...)``, ``make.book(...)``.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from qrecon.common.schemas import Invoice, MatchResult, QontoTransaction
from qrecon.matcher.core import InvoiceBook, Knowledge, MatchingEngine

# valid IBANs (mod 97)
IBAN_DUPONT = "FR7630006000011234567890189"
IBAN_MARTIN = "FR1420041010050500013M02606"
IBAN_MULLER = "DE89370400440532013000"
IBAN_SMITH = "GB82WEST12345698765432"


class Make:
    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def invoice(
        self,
        number: str,
        name: str,
        amount: int,
        *,
        kind: str = "receivable",
        iban: str | None = None,
        issue: str = "2025-03-01",
        due: str | None = None,
        status: str = "open",
        payment_reference: str | None = None,
        id: str | None = None,
        currency: str = "EUR",
    ) -> Invoice:
        return Invoice.model_validate(
            {
                "id": id or f"inv-{number}",
                "number": number,
                "kind": kind,
                "counterparty_name": name,
                "counterparty_iban": iban,
                "amount_cents": amount,
                "currency": currency,
                "issue_date": issue,
                "due_date": due or issue,
                "status": status,
                "payment_reference": payment_reference,
            }
        )

    def tx(
        self,
        amount: int,
        *,
        side: str = "credit",
        label: str | None = None,
        reference: str | None = None,
        iban: str | None = None,
        clean: str | None = None,
        operation_type: str | None = None,
        status: str = "completed",
        day: str = "2025-03-20",
        id: str | None = None,
        category: str | None = None,
        **extra: Any,
    ) -> QontoTransaction:
        op = operation_type or ("income" if side == "credit" else "transfer")
        raw: dict[str, Any] = {
            "id": id or f"tx-{next(self._ids)}",
            "amount_cents": amount,
            "currency": "EUR",
            "side": side,
            "operation_type": op,
            "status": status,
            "label": label,
            "clean_counterparty_name": clean,
            "reference": reference,
            "category": category,
            "settled_at": None if status != "completed" else f"{day}T10:00:00.000Z",
            "emitted_at": f"{day}T09:00:00.000Z",
            "updated_at": f"{day}T10:00:01.000Z",
            "subject_type": op,
            **extra,
        }
        if iban:
            raw[op] = {
                "counterparty_account_number": iban,
                "counterparty_account_number_format": "IBAN",
            }
        return QontoTransaction.model_validate(raw)

    @staticmethod
    def book(*invoices: Invoice) -> InvoiceBook:
        return InvoiceBook(invoices)

    @staticmethod
    def allocated(result: MatchResult) -> dict[str, int]:
        """invoice number -> cents allocated."""
        return {a.invoice_number: a.amount_cents for a in result.allocations}


@pytest.fixture
def make() -> Make:
    return Make()


@pytest.fixture
def engine() -> MatchingEngine:
    return MatchingEngine()


def decide(
    engine: MatchingEngine,
    tx: QontoTransaction,
    book: InvoiceBook,
    knowledge: Knowledge | None = None,
) -> MatchResult:
    """Decide, and check on the way that deciding changed nothing in the book."""
    before = {inv.id: book.residual(inv.id) for inv in book}
    result = engine.decide(tx, book, knowledge)
    assert {inv.id: book.residual(inv.id) for inv in book} == before
    return result


@pytest.fixture
def run(engine: MatchingEngine) -> Any:
    def _run(
        tx: QontoTransaction, book: InvoiceBook, knowledge: Knowledge | None = None
    ) -> MatchResult:
        return decide(engine, tx, book, knowledge)

    return _run
