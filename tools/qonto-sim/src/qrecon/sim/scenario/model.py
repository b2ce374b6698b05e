"""What a scenario is: the company's parties, the events of its life, and the sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

SIZES: dict[str, float] = {"tiny": 0.3, "small": 1.0, "medium": 10.0, "large": 100.0}
BASE_TRANSACTIONS_PER_MONTH = 70
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)

EventKind = Literal[
    "client_invoice",
    "supplier_invoice",
    "tx_create",
    "tx_update",
    "invoice_update",
    "payment_link",
    "payment_link_update",
]


@dataclass(frozen=True)
class Party:
    id: str
    name: str
    iban: str
    bic: str | None
    label: str  # how the bank shows it
    known_iban: bool = True  # whether the back office knows the IBAN


@dataclass
class Event:
    """One change in the company's life, at a business time."""

    at: datetime
    seq: int
    kind: EventKind
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "seq": self.seq, "kind": self.kind, **self.payload}


@dataclass
class Scenario:
    seed: int
    months: int
    size: str | int
    start: datetime
    end: datetime
    accounts: dict[str, dict[str, Any]]  # alias ("main", "secondary") -> account fields
    customers: list[Party]
    suppliers: list[Party]
    events: list[Event] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for event in self.events:
            counts[event.kind] = counts.get(event.kind, 0) + 1
        return {
            "seed": self.seed,
            "months": self.months,
            "size": self.size,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "events": len(self.events),
            "by_kind": counts,
            "customers": len(self.customers),
            "suppliers": len(self.suppliers),
        }


def scale_of(size: str | int) -> float:
    if isinstance(size, int):
        return max(size, 1) / BASE_TRANSACTIONS_PER_MONTH
    if size.isdigit():
        return max(int(size), 1) / BASE_TRANSACTIONS_PER_MONTH
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)} or a number, got {size!r}")
    return SIZES[size]


def add_months(start: datetime, months: int) -> datetime:
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    return start.replace(year=year, month=month, day=1)


@dataclass
class Cast:
    """Who the company deals with, drawn once before the first month."""

    scale: float
    accounts: dict[str, dict[str, Any]]
    customers: list[Party]
    suppliers: list[Party]
    employees: list[str]
    employee_ibans: list[str]
    factor_iban: str  # a factoring company paying for some customers
    creditor_ibans: dict[str, str]  # direct-debit creditor -> its IBAN
    card_digits: list[str]


@dataclass(frozen=True)
class Month:
    """A calendar month of the scenario."""

    start: datetime
    first_day: date
    last_day: date

    @property
    def year(self) -> int:
        return self.start.year

    @classmethod
    def of(cls, begin: datetime, index: int) -> Month:
        """The ``index``-th month from ``begin`` (0: ``begin``'s month)."""
        start = add_months(begin, index)
        end = add_months(begin, index + 1)
        return cls(start, start.date(), (end - timedelta(days=1)).date())
