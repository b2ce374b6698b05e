"""One month of the company, part three: suppliers abroad, invoiced in their currency.

A foreign supplier's invoice (USD, GBP) is paid either by an international transfer to
an account number (not an IBAN: the nested ``transfer`` object says ``account_number``)
or by card. Qonto books both in the account's currency: ``amount``/``currency`` are the
euros debited, ``local_amount``/``local_currency`` what the supplier was paid (the
invoice's amount and currency). The ground truth allocates the invoice in its own
currency, from ``local_amount`` (purpose ``foreign_supplier_payment``).

Draws from a generator of its own (seeded from the scenario's seed and the month), so
adding this part changed nothing else a seed generates.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any

from qrecon.sim.scenario.builder import Builder
from qrecon.sim.scenario.model import Cast, Month
from qrecon.world.ids import uuid4

# name, currency, account number, BIC, invoice number format, euros per unit (about)
FOREIGN_SUPPLIERS: tuple[tuple[str, str, str, str, str, float], ...] = (
    ("Figma, Inc.", "USD", "483920175621", "CHASUS33", "INV-{n:06d}", 0.92),
    ("Shutterstock, Inc.", "USD", "004471920388", "BOFAUS3N", "SSTK-{year}-{n:05d}", 0.92),
    ("Monotype Ltd", "GBP", "41926819", "BARCGB22", "MT{n:07d}", 1.17),
)


def foreign_suppliers(b: Builder, cast: Cast, month: Month) -> None:
    """Zero to a few foreign invoices a month, each paid by transfer or by card."""
    rng = random.Random(f"{b.seed}:foreign:{month.start.date().isoformat()}")
    count = rng.choice((0, 1, 1, 2)) + round(cast.scale**0.5) - 1
    for _ in range(max(0, count)):
        name, currency, account, bic, fmt, rate = rng.choice(FOREIGN_SUPPLIERS)
        span = max((month.last_day - month.first_day).days - 10, 0)
        issue_day = month.first_day + timedelta(days=rng.randint(0, span))
        issued = datetime.combine(issue_day, time(9), tzinfo=UTC) + timedelta(
            seconds=rng.randrange(8 * 3600)
        )
        local = rng.randrange(2_000, 250_000)
        invoice = {
            "id": uuid4(rng),
            "invoice_number": fmt.format(n=rng.randrange(10**5), year=issue_day.year),
            "supplier_name": name,
            "amount_cents": local,
            "currency": currency,
            "issue_date": issue_day.isoformat(),
            "due_date": (issue_day + timedelta(days=14)).isoformat(),
            "iban": None,
            "status": "to_pay",
        }
        b.add(issued, "supplier_invoice", invoice=invoice)
        paid_at = issued + timedelta(days=rng.randint(1, 9), hours=rng.randint(0, 8))
        euros = round(local * rate * rng.uniform(0.97, 1.03))
        fields: dict[str, Any] = {
            "id": uuid4(rng),
            "amount_cents": euros,
            "local_amount_cents": local,
            "local_currency": currency,
            "side": "debit",
            "status": "pending",
            "label": name,
            "clean_counterparty_name": name,
        }
        if rng.random() < 0.5:
            fields.update(
                operation_type="transfer",
                reference=invoice["invoice_number"],
                counterparty={"name": name, "account_number": account, "bic": bic},
            )
        else:
            fields.update(
                operation_type="card",
                card_last_digits=rng.choice(cast.card_digits),
                label=name.upper().replace(",", ""),
            )
        allocation = {
            "invoice_id": invoice["id"],
            "invoice_number": invoice["invoice_number"],
            "amount_cents": local,  # in the invoice's currency: the local amount
        }
        created = b.add(
            paid_at,
            "tx_create",
            account="main",
            purpose="foreign_supplier_payment",
            allocations=[allocation],
            fields=fields,
        )
        if not created:
            continue
        settled = paid_at + timedelta(hours=rng.randint(2, 48))
        b.add(settled, "tx_update", id=fields["id"], changes={"status": "completed"})
        b.add(
            settled + timedelta(seconds=1),
            "invoice_update",
            invoice_kind="supplier",
            invoice_id=invoice["id"],
            changes={"status": "paid", "payment_date": settled.date().isoformat()},
        )
