"""One month of the company, part one: Qonto's fee, client invoices and how they get
paid, supplier invoices paid by transfer, direct debits.

Each function draws from the scenario's one ``random.Random`` (``b.rng``); ``generate``
calls them in a fixed order, the same seed gives the same month.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from qrecon.sim.scenario.builder import Builder
from qrecon.sim.scenario.model import Cast, Month, Party
from qrecon.sim.scenario.payments import pay_grouped, pay_invoice, pay_supplier
from qrecon.world import vocabulary as V
from qrecon.world.behaviours import behaviour_deck
from qrecon.world.ibans import bic_of
from qrecon.world.numbering import fac_number, format_number
from qrecon.world.references import rf_reference


def qonto_fee(b: Builder, cast: Cast, month: Month) -> None:
    """Qonto's own fee, on the first business day."""
    scale = cast.scale
    first_day = month.first_day
    month_start = month.start
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


def client_invoices(b: Builder, cast: Cast, month: Month) -> None:
    """Client invoices, each with a way of being paid (``behaviours``), and their payments."""
    rng = b.rng
    customers = cast.customers
    factor_iban = cast.factor_iban
    scale = cast.scale
    first_day = month.first_day
    last_day = month.last_day
    year = month.year
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
        pay_invoice(b, customer, invoice, behaviour, factor_iban)
    by_id = {c.id: c for c in customers}
    for customer_id, invoices in grouped.items():
        pay_grouped(b, by_id[customer_id], invoices)


def supplier_invoices(b: Builder, cast: Cast, month: Month) -> None:
    """Supplier invoices, paid by transfer (pending, then completed), alone or together."""
    rng = b.rng
    suppliers = cast.suppliers
    scale = cast.scale
    first_day = month.first_day
    last_day = month.last_day
    month_start = month.start
    year = month.year
    for index, supplier in enumerate(suppliers):
        count = max(1, round(scale**0.7 * rng.uniform(0.5, 1.5)))
        batch: list[dict[str, Any]] = []
        for _ in range(count):
            b.supplier_seq += 1
            fmt = V.NAMED_SUPPLIERS[index][1]
            number = format_number(fmt, year=year, month=month_start.month, n=b.supplier_seq + 100)
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
            pay_supplier(b, supplier, batch)
        else:
            for invoice in batch:
                if rng.random() < 0.9:
                    pay_supplier(b, supplier, [invoice])


def direct_debits(b: Builder, cast: Cast, month: Month) -> None:
    """The month's direct debits, most with their supplier invoice."""
    rng = b.rng
    creditor_ibans = cast.creditor_ibans
    scale = cast.scale
    first_day = month.first_day
    month_start = month.start
    year = month.year
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
            b.add(b.business_time(day - timedelta(days=10)), "supplier_invoice", invoice=invoice)
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
