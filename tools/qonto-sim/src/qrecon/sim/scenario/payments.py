"""How a payment shows up: a customer's transfer (maybe edited later), its allocations,
the invoice marked paid; grouped payments; supplier transfers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from qrecon.sim.scenario.builder import Builder
from qrecon.sim.scenario.model import Party
from qrecon.world import vocabulary as V
from qrecon.world.behaviours import instalment_amounts
from qrecon.world.ibans import bic_of
from qrecon.world.references import fac_typo, messy_fac_reference


def _income(
    b: Builder,
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


def _mark_paid(b: Builder, at: datetime, invoice: dict[str, Any]) -> None:
    b.add(
        at + timedelta(minutes=b.rng.randint(5, 600)),
        "invoice_update",
        invoice_kind="client",
        invoice_id=invoice["id"],
        changes={"status": "paid", "paid_at": at.isoformat()},
    )


def _pay_date(b: Builder, invoice: dict[str, Any]) -> datetime:
    due = date.fromisoformat(invoice["due_date"])
    issue = date.fromisoformat(invoice["issue_date"])
    delay = round(b.rng.gauss(3, 9))
    day = max(issue + timedelta(days=1), due + timedelta(days=delay))
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return b.business_time(day, 6, 18)


def pay_invoice(
    b: Builder, customer: Party, invoice: dict[str, Any], behaviour: str, factor_iban: str
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


def pay_grouped(b: Builder, customer: Party, invoices: list[dict[str, Any]]) -> None:
    """One transfer for several invoices of the same customer."""
    rng = b.rng
    for start in range(0, len(invoices), 3):
        group = invoices[start : start + 3]
        at = max(_pay_date(b, inv) for inv in group)
        total = sum(inv["amount_cents"] for inv in group)
        numbers = [inv["number"] for inv in group]
        shorts = [str(int(n.rsplit("-", 1)[1])) for n in numbers]
        if len(group) == 1:
            pay_invoice(b, customer, group[0], "messy", "")
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


def pay_supplier(b: Builder, supplier: Party, invoices: list[dict[str, Any]]) -> None:
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
