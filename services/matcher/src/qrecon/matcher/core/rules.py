"""The rules an allocation obeys whoever proposes it: the engine's candidates and a
reviewer's manual match both use these functions (one place for each rule).

* **direction**: a credit pays a receivable, a debit a payable; the other way round only
  refunds a credit note (a debit refunding a client's credit note, a credit refunding a
  supplier's).
* **currency**: an invoice is paid in its own currency.
* **sign**: an allocation is in its invoice's sign (negative for a credit note), never 0;
* **invoice_amount**: and never more than the invoice's amount.
* **transaction_amount**: the allocations, netted in the transaction's direction, take
  between one cent and the transaction's amount.

Whether the invoice still has that much open is a question of state (another decision may
have taken it meanwhile): the service checks it under lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

KINDS = ("receivable", "payable")


def direction(kind: str, side: str) -> int:
    """+1 when a ``side`` transaction settles a ``kind`` invoice, -1 when it is a refund."""
    return 1 if (kind == "receivable") == (side == "credit") else -1


def same_currency(invoice_currency: str, transaction_currency: str) -> bool:
    return invoice_currency == transaction_currency


@dataclass(frozen=True, slots=True)
class Proposed:
    """An allocation someone proposes, with the invoice facts the rules need."""

    invoice_id: str
    kind: str
    currency: str
    invoice_amount_cents: int
    amount_cents: int


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str  # direction | currency | sign | invoice_amount | transaction_amount
    detail: str
    invoice_id: str | None = None


def effective_cents(side: str, allocations: Sequence[Proposed]) -> int:
    """What the allocations take of the transaction's amount (credit notes net it down)."""
    return sum(direction(a.kind, side) * a.amount_cents for a in allocations)


def check_allocations(
    side: str, currency: str, amount_cents: int, allocations: Sequence[Proposed]
) -> Violation | None:
    """The first rule the allocations break, or None."""
    for a in allocations:
        if not same_currency(a.currency, currency):
            return Violation(
                "currency",
                f"invoice {a.invoice_id} is in {a.currency}, the transaction in {currency}",
                a.invoice_id,
            )
        if direction(a.kind, side) < 0 and a.invoice_amount_cents > 0:
            return Violation(
                "direction",
                f"a {side} cannot pay {a.kind} invoice {a.invoice_id}: credits pay receivables,"
                " debits pay payables (the other way only refunds a credit note)",
                a.invoice_id,
            )
        if a.amount_cents == 0 or (a.amount_cents > 0) != (a.invoice_amount_cents > 0):
            return Violation(
                "sign",
                f"the amount for invoice {a.invoice_id} must be non-zero, in the invoice's sign",
                a.invoice_id,
            )
        if abs(a.amount_cents) > abs(a.invoice_amount_cents):
            return Violation(
                "invoice_amount",
                f"the amount for invoice {a.invoice_id} exceeds the invoice's amount"
                f" {a.invoice_amount_cents}",
                a.invoice_id,
            )
    taken = effective_cents(side, allocations)
    if not 0 < taken <= amount_cents:
        return Violation(
            "transaction_amount",
            f"the allocations take {taken} cents of the transaction; they must take between"
            f" 1 and its amount, {amount_cents}",
        )
    return None
