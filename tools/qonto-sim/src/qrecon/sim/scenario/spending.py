"""One month of the company, part two: card spend, salaries, and a transfer to the
savings account."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from qrecon.sim.scenario.builder import Builder
from qrecon.sim.scenario.model import Cast, Month
from qrecon.world import vocabulary as V
from qrecon.world.ibans import bic_of


def card_spend(b: Builder, cast: Cast, month: Month) -> None:
    """Card spend: pending, then completed (or declined); receipts attached later."""
    rng = b.rng
    card_digits = cast.card_digits
    scale = cast.scale
    first_day = month.first_day
    last_day = month.last_day
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


def salaries_and_savings(b: Builder, cast: Cast, month: Month) -> None:
    """Salaries on the last business day, and an internal transfer to savings."""
    rng = b.rng
    accounts = cast.accounts
    employees = cast.employees
    employee_ibans = cast.employee_ibans
    last_day = month.last_day
    month_start = month.start
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
