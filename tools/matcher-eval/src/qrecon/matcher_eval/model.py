"""The generator's world: the year simulated, its parties, invoices and payment intents
(what will become a transaction), and how amounts and times are drawn."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

NO_REFERENCE = "none"  # an intent's ref_mode: the payer names no invoice
MAX_UNPAID_PER_PARTY = 8  # invoices a party leaves unpaid over the year
START = date(2025, 1, 1)
DAYS = 365
ROUND_HT = (250, 300, 400, 500, 600, 750, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000)


def draw_amount(rng: random.Random, small: bool = False) -> int:
    """An invoice amount in cents: a subscription price (``small``), a round amount before
    20% VAT, or anything (mostly under 15,000 EUR)."""
    if small:
        return rng.choice((2990, 4500, 5990, 8900, 12000, 15600, 23990, 31000, 42050))
    if rng.random() < 0.45:
        return rng.choice(ROUND_HT) * 120  # round before tax, x1.2 VAT, in cents
    return rng.randint(8000, 1_500_000) if rng.random() < 0.9 else rng.randint(1_500_000, 6_000_000)


def stamp(day: date, rng: random.Random) -> datetime:
    """A time of ``day`` during business hours (UTC)."""
    seconds = rng.randint(7 * 3600, 19 * 3600)
    return datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(seconds=seconds)


@dataclass(slots=True, eq=False)
class Party:
    """A customer, supplier or parent company, and what the generator tracks about it."""

    id: str
    name: str  # as on the invoices
    role: str  # customer | supplier
    iban: str
    iban_on_invoice: bool
    bank_name: str  # how the payer's bank spells it
    clean_name: str | None  # Qonto's clean_counterparty_name
    trade_name: str  # an account holder name unrelated to the invoice name
    weight: float
    country: str = "FR"
    recurring: int | None = None
    uses_rf: bool = False
    numbering: str = ""
    seq: int = 0
    dd_creditor: str | None = None
    code: str = ""
    unpaid: int = 0
    open_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class InvoiceState:
    """An invoice (``data``: the row written out) and its residual as payments arrive."""

    data: dict[str, Any]
    party: Party
    issue: date
    due: date
    seq: int  # creation order
    residual: int = 0

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def amount(self) -> int:
        return int(self.data["amount_cents"])


@dataclass(slots=True)
class Intent:
    """A transaction to be: who pays what for which invoices, how the reference is
    written; or noise (``amount``, ``label``...)."""

    when: datetime
    seq: int
    case: str
    party: Party | None
    targets: list[str] = field(default_factory=list)
    planned: list[int] = field(default_factory=list)
    ref_mode: str = NO_REFERENCE
    extra: int = 0  # overpaid
    fee: int = 0  # deducted by the payer's bank
    status: str = "completed"
    matchable: bool = True
    truth: bool = True
    payer: Party | None = None
    op: str = "income"
    amount: int = 0  # noise: the amount
    label: str | None = None
    reference: str | None = None
    clean_name: str | None = None
    category: str | None = None
    side: str = "credit"
    iban: str | None = None
    tx_id: str | None = None  # the same transaction id across versions (pending -> completed)
