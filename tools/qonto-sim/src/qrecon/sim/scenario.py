"""A seeded, deterministic generator of a French SME's life on Qonto.

``generate(seed=..., months=..., size=...)`` returns a ``Scenario``: bank accounts,
customers and suppliers (valid IBANs), client and supplier invoices, and a timeline of
events (invoice issued, transaction created, transaction updated, invoice paid) shaped
like a real business: clean and messy remittance references, typos, grouped payments,
instalments, bank fees deducted by the payer, direct debits without an invoice number,
card spend (pending, then completed or declined), salaries, Qonto's own fees, internal
transfers, and later edits (note, attachment, category) that move ``updated_at``. Every
payment carries its true invoice allocation (the ground truth).

Same seed and parameters, same scenario: every choice comes from one ``random.Random``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from qrecon.world import names as N
from qrecon.world import vocabulary as V
from qrecon.world.behaviours import behaviour_deck, instalment_amounts
from qrecon.world.ibans import bic_of, foreign_iban, french_iban, qonto_iban
from qrecon.world.ids import uuid4
from qrecon.world.numbering import fac_number, format_number
from qrecon.world.parties import bank_label, person_name, shop_name
from qrecon.world.references import fac_typo, messy_fac_reference, rf_reference
from qrecon.world.text import fold_upper

SIZES: dict[str, float] = {"tiny": 0.3, "small": 1.0, "medium": 10.0, "large": 100.0}
BASE_TRANSACTIONS_PER_MONTH = 70
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)

EventKind = Literal[
    "client_invoice", "supplier_invoice", "tx_create", "tx_update", "invoice_update"
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


def _scale(size: str | int) -> float:
    if isinstance(size, int):
        return max(size, 1) / BASE_TRANSACTIONS_PER_MONTH
    if size.isdigit():
        return max(int(size), 1) / BASE_TRANSACTIONS_PER_MONTH
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)} or a number, got {size!r}")
    return SIZES[size]


def _add_months(start: datetime, months: int) -> datetime:
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    return start.replace(year=year, month=month, day=1)


class _Builder:
    def __init__(self, seed: int, start: datetime, end: datetime) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.end = end
        self.events: list[Event] = []
        self.seq = 0
        self.client_seq: dict[int, int] = {}
        self.supplier_seq = 0

    def uid(self) -> str:
        return uuid4(self.rng)

    def add(self, at: datetime, kind: EventKind, **payload: Any) -> bool:
        if at >= self.end:
            return False
        self.seq += 1
        self.events.append(Event(at, self.seq, kind, payload))
        return True

    def business_time(self, day: date, early: int = 8, late: int = 19) -> datetime:
        seconds = self.rng.randrange(early * 3600, late * 3600)
        ms = self.rng.randrange(1000)
        return datetime.combine(day, time(), tzinfo=UTC) + timedelta(
            seconds=seconds, milliseconds=ms
        )

    def business_day(self, first: date, last: date) -> date:
        span = max((last - first).days, 0)
        for _ in range(10):
            day = first + timedelta(days=self.rng.randint(0, span))
            if day.weekday() < 5:
                return day
        return first

    def amount(self, low: int, high: int, step: int = 1) -> int:
        """Log-uniform-ish amount in cents, rounded to ``step`` cents."""
        value = int(low * (high / low) ** self.rng.random())
        return max(step, value // step * step)


def generate(
    *,
    seed: int = 0,
    months: int = 1,
    size: str | int = "small",
    start: datetime | None = None,
) -> Scenario:
    """Generate a company's life over ``months`` calendar months from ``start``.

    ``size``: ``tiny``/``small``/``medium``/``large`` (about 30/70/700/5,500
    transactions a month) or a number of transactions per month (roughly).
    """
    if months < 1:
        raise ValueError("months must be >= 1")
    scale = _scale(size)
    begin = (start or DEFAULT_START).astimezone(UTC)
    begin = begin.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = _add_months(begin, months)
    b = _Builder(seed, begin, end)
    rng = b.rng

    accounts: dict[str, dict[str, Any]] = {
        "main": {"name": "Compte principal"},
        "secondary": {
            "name": "Compte secondaire",
            "iban": qonto_iban(rng),
            "id": b.uid(),
            "balance_cents": 1_500_000,
        },
    }
    used: set[str] = set()
    n_customers = max(6, round(14 * scale**0.75))
    customers = []
    for _ in range(n_customers):
        name = shop_name(rng, used)
        iban = foreign_iban(rng) if rng.random() < 0.1 else french_iban(rng)
        customers.append(
            Party(
                id=b.uid(),
                name=name,
                iban=iban,
                bic=bic_of(iban),
                label=bank_label(rng, name),
                known_iban=rng.random() < 0.8,
            )
        )
    suppliers = []
    for index in range(min(len(V.NAMED_SUPPLIERS), max(3, round(4 * scale**0.3)))):
        name, _fmt = V.NAMED_SUPPLIERS[index]
        iban = french_iban(rng)
        suppliers.append(Party(b.uid(), name, iban, bic_of(iban), fold_upper(name)))
    employees = [
        person_name(rng, N.COMMON_FIRST_NAMES, N.COMMON_SURNAMES)
        for _ in range(max(2, round(4 * scale**0.6)))
    ]
    employee_ibans = [french_iban(rng) for _ in employees]
    factor_iban = french_iban(rng, "30066")
    creditor_ibans = {creditor: french_iban(rng) for creditor, *_ in V.DIRECT_DEBIT_CREDITORS}
    card_digits = [f"{rng.randrange(10000):04d}" for _ in range(2)]

    for month_index in range(months):
        month_start = _add_months(begin, month_index)
        month_end = _add_months(begin, month_index + 1)
        first_day = month_start.date()
        last_day = (month_end - timedelta(days=1)).date()
        year = month_start.year

        # --- Qonto's own fee, on the first business day
        fee_day = b.business_day(first_day, first_day + timedelta(days=3))
        fee_cents = 4900 if scale < 5 else 24900
        tx_id = b.uid()
        b.add(
            b.business_time(fee_day, 3, 6),
            "tx_create",
            account="main",
            purpose="bank_fee",
            allocations=[],
            fields={
                "id": tx_id,
                "amount_cents": fee_cents,
                "side": "debit",
                "operation_type": "qonto_fee",
                "status": "completed",
                "label": "Qonto",
                "reference": f"Abonnement {'Essential' if scale < 5 else 'Business'} - "
                f"{month_start:%m/%Y}",
                "vat_amount_cents": round(fee_cents / 6),
                "vat_rate": 20.0,
                "category": "fees",
                "attachment_required": False,
            },
        )

        # --- client invoices and how they get paid
        n_invoices = max(1, round(28 * scale * rng.uniform(0.8, 1.2)))
        # Every behaviour at least once a month when there are enough invoices, so that
        # even a small scenario shows each way of paying; the rest drawn by weight.
        deck = behaviour_deck(rng, n_invoices)
        month_invoices: list[tuple[Party, dict[str, Any]]] = []
        for behaviour in deck:
            customer = rng.choice(customers)
            # A grouped payment settles two or three invoices of the same customer.
            for _ in range(rng.choice((2, 3)) if behaviour == "grouped" else 1):
                b.client_seq[year] = b.client_seq.get(year, 0) + 1
                number = fac_number(year, b.client_seq[year])
                issue_day = b.business_day(first_day, last_day)
                net = b.amount(15000, 800000, 1000)
                vat = round(net * 0.2)
                total = net + vat
                due_day = issue_day + timedelta(days=rng.choice((0, 15, 30, 30, 30, 45)))
                # Some invoices carry a structured creditor reference; not every payer uses it.
                with_rf = behaviour == "rf_reference" or rng.random() < 0.12
                reference = rf_reference(number.replace("-", "")) if with_rf else None
                invoice: dict[str, Any] = {
                    "id": b.uid(),
                    "number": number,
                    "client_name": customer.name,
                    "client_iban": customer.iban if customer.known_iban else None,
                    "amount_cents": total,
                    "vat_amount_cents": vat,
                    "issue_date": issue_day.isoformat(),
                    "due_date": due_day.isoformat(),
                    "payment_reference": reference,
                    "status": "unpaid",
                    "_behaviour": behaviour,
                    "_customer": customer.id,
                }
                issued_at = b.business_time(issue_day)
                b.add(issued_at, "client_invoice", invoice=invoice)
                month_invoices.append((customer, invoice))
                if behaviour == "canceled":
                    b.add(
                        issued_at + timedelta(days=rng.randint(1, 5)),
                        "invoice_update",
                        invoice_kind="client",
                        invoice_id=invoice["id"],
                        changes={"status": "canceled"},
                    )

        grouped: dict[str, list[dict[str, Any]]] = {}
        for customer, invoice in month_invoices:
            behaviour = invoice["_behaviour"]
            if behaviour in ("unpaid", "canceled"):
                continue
            if behaviour == "grouped":
                grouped.setdefault(customer.id, []).append(invoice)
                continue
            _pay_invoice(b, customer, invoice, behaviour, factor_iban)
        by_id = {c.id: c for c in customers}
        for customer_id, invoices in grouped.items():
            _pay_grouped(b, by_id[customer_id], invoices)

        # --- supplier invoices: transfers (pending -> completed) and direct debits
        for index, supplier in enumerate(suppliers):
            count = max(1, round(scale**0.7 * rng.uniform(0.5, 1.5)))
            batch: list[dict[str, Any]] = []
            for _ in range(count):
                b.supplier_seq += 1
                fmt = V.NAMED_SUPPLIERS[index][1]
                number = format_number(
                    fmt, year=year, month=month_start.month, n=b.supplier_seq + 100
                )
                issue_day = b.business_day(first_day, last_day)
                total = b.amount(4000, 400000, 1)
                invoice = {
                    "id": b.uid(),
                    "invoice_number": number,
                    "supplier_name": supplier.name,
                    "amount_cents": total,
                    "issue_date": issue_day.isoformat(),
                    "due_date": (issue_day + timedelta(days=30)).isoformat(),
                    "iban": supplier.iban,
                    "status": "to_pay",
                }
                b.add(b.business_time(issue_day), "supplier_invoice", invoice=invoice)
                batch.append(invoice)
            if len(batch) > 1 and rng.random() < 0.3:
                _pay_supplier(b, supplier, batch)
            else:
                for invoice in batch:
                    if rng.random() < 0.9:
                        _pay_supplier(b, supplier, [invoice])

        for creditor, label, creditor_id, dd_format in V.DIRECT_DEBIT_CREDITORS:
            day = b.business_day(first_day + timedelta(days=4), first_day + timedelta(days=12))
            total = b.amount(3000, 60000 if creditor != "URSSAF Île-de-France" else 900000, 1)
            total = round(total * max(1.0, scale**0.5))
            invoice_id: str | None = None
            allocations: list[dict[str, Any]] = []
            if dd_format is not None:
                b.supplier_seq += 1
                number = format_number(
                    dd_format, year=year, month=month_start.month, n=b.supplier_seq * 7919
                )
                invoice_id = b.uid()
                invoice = {
                    "id": invoice_id,
                    "invoice_number": number,
                    "supplier_name": creditor,
                    "amount_cents": total,
                    "issue_date": (day - timedelta(days=10)).isoformat(),
                    "due_date": day.isoformat(),
                    "iban": None,
                    "status": "to_pay",
                }
                b.add(
                    b.business_time(day - timedelta(days=10)), "supplier_invoice", invoice=invoice
                )
                allocations = [
                    {"invoice_id": invoice_id, "invoice_number": number, "amount_cents": total}
                ]
            mandate = f"{creditor_id[-6:]}-{rng.randrange(10**6):06d}"
            at = b.business_time(day, 2, 7)
            created = b.add(
                at,
                "tx_create",
                account="main",
                purpose="direct_debit",
                allocations=allocations,
                fields={
                    "id": b.uid(),
                    "amount_cents": total,
                    "side": "debit",
                    "operation_type": "direct_debit",
                    "status": "completed",
                    "label": label,
                    "reference": f"ECH/{day:%d%m%y} ID EMETTEUR/{creditor_id} MDT/{mandate} "
                    f"REF/{rng.randrange(10**10):010d}",
                    "category": "utility",
                    "counterparty": {
                        "name": creditor,
                        "iban": creditor_ibans[creditor],
                        "bic": bic_of(creditor_ibans[creditor]),
                        "creditor_identifier": creditor_id,
                        "mandate_reference": mandate,
                    },
                },
            )
            if created and invoice_id is not None:
                b.add(
                    at + timedelta(seconds=1),
                    "invoice_update",
                    invoice_kind="supplier",
                    invoice_id=invoice_id,
                    changes={"status": "paid", "payment_date": day.isoformat()},
                )

        # --- card spend: pending, then completed (or declined); receipts attached later
        n_cards = max(1, round(40 * scale * rng.uniform(0.8, 1.2)))
        for _ in range(n_cards):
            day = b.business_day(first_day, last_day)
            at = b.business_time(day, 7, 23)
            tx_id = b.uid()
            fields: dict[str, Any] = {
                "id": tx_id,
                "side": "debit",
                "operation_type": "card",
                "status": "pending",
                "card_last_digits": rng.choice(card_digits),
            }
            if rng.random() < 0.1:
                label, name, currency = rng.choice(V.FOREIGN_CARD_MERCHANTS)
                local = b.amount(500, 20000, 1)
                fields.update(
                    amount_cents=round(local * rng.uniform(0.9, 0.95)),
                    local_amount_cents=local,
                    local_currency=currency,
                    label=label,
                    clean_counterparty_name=name,
                    category="online_service",
                )
            else:
                label, name, category, low, high = rng.choice(V.PRICED_CARD_MERCHANTS)
                fields.update(
                    amount_cents=b.amount(low, high, 1),
                    label=label,
                    clean_counterparty_name=name,
                    category=category,
                )
            declined = rng.random() < 0.05
            if declined and rng.random() < 0.5:
                fields["status"] = "declined"
            b.add(at, "tx_create", account="main", purpose="card", allocations=[], fields=fields)
            if fields["status"] == "declined":
                continue
            settle_at = at + timedelta(hours=rng.randint(20, 72), minutes=rng.randint(0, 59))
            b.add(
                settle_at,
                "tx_update",
                id=tx_id,
                changes={"status": "declined" if declined else "completed"},
            )
            if not declined and rng.random() < 0.5:
                b.add(
                    settle_at + timedelta(hours=rng.randint(1, 96)),
                    "tx_update",
                    id=tx_id,
                    attach=True,
                    changes={},
                )

        # --- salaries on the last business day, internal transfer to savings
        pay_day = last_day
        while pay_day.weekday() >= 5:
            pay_day -= timedelta(days=1)
        for employee, iban in zip(employees, employee_ibans, strict=True):
            at = b.business_time(pay_day, 8, 10)
            tx_id = b.uid()
            created = b.add(
                at,
                "tx_create",
                account="main",
                purpose="salary",
                allocations=[],
                fields={
                    "id": tx_id,
                    "amount_cents": b.amount(220000, 480000, 1),
                    "side": "debit",
                    "operation_type": "transfer",
                    "status": "pending",
                    "label": employee,
                    "reference": f"SALAIRE {month_start:%m/%Y}",
                    "category": "salary",
                    "attachment_required": False,
                    "counterparty": {"name": employee, "iban": iban, "bic": bic_of(iban)},
                },
            )
            if created:
                b.add(
                    at + timedelta(hours=rng.randint(2, 6)),
                    "tx_update",
                    id=tx_id,
                    changes={"status": "completed"},
                )
        if rng.random() < 0.7:
            at = b.business_time(pay_day, 14, 16)
            amount = b.amount(100000, 1000000, 10000)
            secondary = accounts["secondary"]
            main_out, secondary_in = b.uid(), b.uid()
            b.add(
                at,
                "tx_create",
                account="main",
                purpose="internal",
                allocations=[],
                fields={
                    "id": main_out,
                    "amount_cents": amount,
                    "side": "debit",
                    "operation_type": "transfer",
                    "status": "completed",
                    "label": "ACME SAS",
                    "reference": "Epargne",
                    "category": "treasury_and_interco",
                    "attachment_required": False,
                    "counterparty": {
                        "name": "ACME SAS",
                        "iban": secondary["iban"],
                        "bic": "QNTOFRP1XXX",
                    },
                },
            )
            b.add(
                at + timedelta(seconds=2),
                "tx_create",
                account="secondary",
                purpose="internal",
                allocations=[],
                fields={
                    "id": secondary_in,
                    "amount_cents": amount,
                    "side": "credit",
                    "operation_type": "income",
                    "status": "completed",
                    "label": "ACME SAS",
                    "reference": "Epargne",
                    "category": "treasury_and_interco",
                    "counterparty": {"name": "ACME SAS", "bic": "QNTOFRP1XXX"},
                },
            )

    b.events.sort(key=lambda e: (e.at, e.seq))
    return Scenario(
        seed=seed,
        months=months,
        size=size,
        start=begin,
        end=end,
        accounts=accounts,
        customers=customers,
        suppliers=suppliers,
        events=b.events,
    )


def _income(
    b: _Builder,
    at: datetime,
    payer: Party,
    amount: int,
    reference: str | None,
    allocations: list[dict[str, Any]],
    *,
    iban: str | None = None,
    label: str | None = None,
) -> str | None:
    """A customer's transfer arriving (completed at once); maybe edited later."""
    rng = b.rng
    tx_id = b.uid()
    payer_iban = iban or payer.iban
    created = b.add(
        at,
        "tx_create",
        account="secondary" if rng.random() < 0.05 else "main",
        purpose="client_payment",
        allocations=allocations,
        fields={
            "id": tx_id,
            "amount_cents": amount,
            "side": "credit",
            "operation_type": "income",
            "status": "completed",
            "label": label or payer.label,
            "clean_counterparty_name": label or payer.name,
            "reference": reference,
            "category": "sales",
            "counterparty": {
                "name": label or payer.name,
                "iban": payer_iban,
                "bic": bic_of(payer_iban),
            },
        },
    )
    if not created:
        return None
    if rng.random() < 0.25:
        changes: dict[str, Any] = (
            {"note": rng.choice(V.NOTES)}
            if rng.random() < 0.6
            else {"category": "other_income", "label_ids": [b.uid()]}
        )
        b.add(
            at + timedelta(hours=rng.randint(1, 240)),
            "tx_update",
            id=tx_id,
            changes=changes,
        )
    return tx_id


def _allocation(invoice: dict[str, Any], amount: int) -> dict[str, Any]:
    return {
        "invoice_id": invoice["id"],
        "invoice_number": invoice["number"],
        "amount_cents": amount,
    }


def _mark_paid(b: _Builder, at: datetime, invoice: dict[str, Any]) -> None:
    b.add(
        at + timedelta(minutes=b.rng.randint(5, 600)),
        "invoice_update",
        invoice_kind="client",
        invoice_id=invoice["id"],
        changes={"status": "paid", "paid_at": at.isoformat()},
    )


def _pay_date(b: _Builder, invoice: dict[str, Any]) -> datetime:
    due = date.fromisoformat(invoice["due_date"])
    issue = date.fromisoformat(invoice["issue_date"])
    delay = round(b.rng.gauss(3, 9))
    day = max(issue + timedelta(days=1), due + timedelta(days=delay))
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return b.business_time(day, 6, 18)


def _pay_invoice(
    b: _Builder, customer: Party, invoice: dict[str, Any], behaviour: str, factor_iban: str
) -> None:
    rng = b.rng
    number = invoice["number"]
    total = invoice["amount_cents"]
    at = _pay_date(b, invoice)
    if behaviour == "instalments":
        parts = rng.choice((2, 3))
        amounts = instalment_amounts(total, parts)
        for index, amount in enumerate(amounts, 1):
            when = at + timedelta(days=30 * (index - 1))
            part_reference = rng.choice((f"{number} {index}/{parts}", f"Echeance {index} {number}"))
            allocations = [_allocation(invoice, amount)]
            paid = _income(b, when, customer, amount, part_reference, allocations)
            if paid and index == parts:
                _mark_paid(b, when, invoice)
        return
    amount = total
    reference: str | None = number
    iban: str | None = None
    label: str | None = None
    if behaviour == "clean":
        reference = rng.choice((number, number, f"Facture {number}", f"{number} {customer.name}"))
    elif behaviour == "messy":
        reference = messy_fac_reference(rng, number, customer.label)
    elif behaviour == "no_reference":
        reference = rng.choice((None, "VIREMENT", f"PO {rng.randrange(10000, 99999)}", "Paiement"))
    elif behaviour == "typo":
        reference = fac_typo(rng, number)
    elif behaviour == "fees":
        amount = total - rng.randint(100, 1500)
        reference = rng.choice((number, messy_fac_reference(rng, number, customer.label)))
    elif behaviour == "third_party":
        iban, label = factor_iban, "CIC FACTOR"
        reference = f"{customer.label[:18]} {number}"
    elif behaviour == "wrong_amount":
        amount = total - invoice["vat_amount_cents"]  # paid the amount before VAT
    elif behaviour == "rf_reference":
        reference = invoice["payment_reference"]
    allocations = [_allocation(invoice, amount)]
    paid = _income(b, at, customer, amount, reference, allocations, iban=iban, label=label)
    if paid and behaviour != "wrong_amount":
        _mark_paid(b, at, invoice)


def _pay_grouped(b: _Builder, customer: Party, invoices: list[dict[str, Any]]) -> None:
    """One transfer for several invoices of the same customer."""
    rng = b.rng
    for start in range(0, len(invoices), 3):
        group = invoices[start : start + 3]
        at = max(_pay_date(b, inv) for inv in group)
        total = sum(inv["amount_cents"] for inv in group)
        numbers = [inv["number"] for inv in group]
        shorts = [str(int(n.rsplit("-", 1)[1])) for n in numbers]
        if len(group) == 1:
            _pay_invoice(b, customer, group[0], "messy", "")
            continue
        reference = rng.choice(
            (
                " ".join(numbers),
                "Factures " + ", ".join(shorts),
                f"REGLEMENT {len(group)} FACTURES",
                "Relevé " + " + ".join(numbers),
            )
        )
        allocations = [_allocation(inv, inv["amount_cents"]) for inv in group]
        if _income(b, at, customer, total, reference, allocations):
            for invoice in group:
                _mark_paid(b, at, invoice)


def _pay_supplier(b: _Builder, supplier: Party, invoices: list[dict[str, Any]]) -> None:
    """An outgoing transfer (pending, then completed a few hours later)."""
    rng = b.rng
    due = max(date.fromisoformat(inv["due_date"]) for inv in invoices)
    day = due - timedelta(days=rng.randint(0, 6))
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    at = b.business_time(day, 8, 17)
    total = sum(inv["amount_cents"] for inv in invoices)
    numbers = [inv["invoice_number"] for inv in invoices]
    reference = rng.choice((" ".join(numbers), f"Facture {' '.join(numbers)}", " ".join(numbers)))
    tx_id = b.uid()
    created = b.add(
        at,
        "tx_create",
        account="main",
        purpose="supplier_payment",
        allocations=[
            {
                "invoice_id": inv["id"],
                "invoice_number": inv["invoice_number"],
                "amount_cents": inv["amount_cents"],
            }
            for inv in invoices
        ],
        fields={
            "id": tx_id,
            "amount_cents": total,
            "side": "debit",
            "operation_type": "transfer",
            "status": "pending",
            "label": supplier.name,
            "reference": reference,
            "category": rng.choice(V.SUPPLIER_PAYMENT_CATEGORIES),
            "counterparty": {"name": supplier.name, "iban": supplier.iban, "bic": supplier.bic},
        },
    )
    if not created:
        return
    settled = at + timedelta(hours=rng.randint(1, 20))
    b.add(settled, "tx_update", id=tx_id, changes={"status": "completed"})
    for invoice in invoices:
        b.add(
            settled + timedelta(seconds=1),
            "invoice_update",
            invoice_kind="supplier",
            invoice_id=invoice["id"],
            changes={"status": "paid", "payment_date": settled.date().isoformat()},
        )
    if rng.random() < 0.6:
        b.add(
            settled + timedelta(hours=rng.randint(1, 120)),
            "tx_update",
            id=tx_id,
            attach=True,
            changes={},
        )


def bulk_transactions(
    *, seed: int = 0, count: int = 100_000, start: datetime | None = None
) -> list[dict[str, Any]]:
    """``count`` plain transactions (fields for ``Simulator.add_transaction``), one every
    ~30 s of business time from ``start``: for load tests and benchmarks, not realism.
    About 90% completed, 6% pending, 4% declined; credits and debits mixed."""
    rng = random.Random(seed)
    begin = (start or DEFAULT_START).astimezone(UTC)
    ibans = [french_iban(rng) for _ in range(50)]
    names = [f"{rng.choice(N.SHOP_PREFIXES)} {rng.choice(N.COMMON_SURNAMES)}" for _ in range(50)]
    out: list[dict[str, Any]] = []
    at = begin
    for index in range(count):
        at += timedelta(seconds=rng.randint(1, 60), milliseconds=rng.randrange(1000))
        roll = rng.random()
        status = "completed" if roll < 0.9 else ("pending" if roll < 0.96 else "declined")
        credit = rng.random() < 0.4
        who = rng.randrange(50)
        out.append(
            {
                "id": uuid4(rng),
                "at": at,
                "amount_cents": rng.randint(100, 2_000_000),
                "side": "credit" if credit else "debit",
                "operation_type": "income" if credit else rng.choice(("transfer", "card")),
                "status": status,
                "label": fold_upper(names[who]),
                "reference": f"FAC-{at.year}-{index % 10000:04d}" if credit else None,
                "counterparty": {"name": names[who], "iban": ibans[who]},
            }
        )
    return out
