"""An intent written out: the payment reference as the payer typed it, then the Qonto
transaction (label, counterparty, IBAN, timestamps) and its :class:`Label`."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from qrecon.matcher_eval.dataset import Label
from qrecon.matcher_eval.model import NO_REFERENCE, Intent, InvoiceState
from qrecon.world import vocabulary as V
from qrecon.world.ids import uuid4
from qrecon.world.references import digit_groups, digit_typo, messy_number, spaced_in_fours
from qrecon.world.text import fold_upper

if TYPE_CHECKING:
    from qrecon.matcher_eval.generator import Generator

SUBJECT_TYPES = {
    "income": "Income",
    "transfer": "Transfer",
    "direct_debit": "DirectDebit",
    "swift_income": "SwiftIncome",
    "card": "Card",
    "qonto_fee": "QontoFee",
}


def _render_number(rng: random.Random, number: str, mode: str) -> str:
    return number if mode == "exact" else messy_number(rng, number)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _cents_to_amount(cents: int) -> float:
    return round(cents / 100, 2)


def payment_reference(g: Generator, intent: Intent, invoices: list[InvoiceState]) -> str:
    """The reference the payer writes for ``intent`` (``invoices``: its targets)."""
    rng = g.rng
    mode = intent.ref_mode
    numbers = [inv.data["number"] for inv in invoices if inv.amount > 0] or [
        invoices[0].data["number"]
    ]
    if mode == NO_REFERENCE:
        roll = rng.random()
        if roll < 0.45:
            return ""
        if roll < 0.8:
            return rng.choice(V.GENERIC_REFERENCES)
        if roll < 0.9:
            return f"CDE {rng.randint(10000, 99999)}"
        return f"PAIEMENT {intent.when.strftime('%m/%Y')}"
    if mode == "rf":
        ref = str(invoices[0].data.get("payment_reference") or numbers[0])
        if rng.random() < 0.6:
            return spaced_in_fours(ref)
        return ref
    if mode == "partial_multi":
        # only the last digits of each number: "Factures 2633, 2634"
        tails = [(digit_groups(n) or [n])[-1].lstrip("0") or "0" for n in numbers]
        sep = rng.choice((", ", " ET ", " / ", " + "))
        return f"{rng.choice(('Factures ', 'FACT ', 'REGLEMENT FACTURES ', ''))}{sep.join(tails)}"
    if mode == "multi" or len(numbers) > 1:
        if rng.random() < 0.25 and len(numbers) > 1:
            # shorthand: "FAC-2025-0123/0124/0125" or "FACTURES 2025-123, 124 ET 125"
            first = numbers[0]
            tails = []
            for other in numbers[1:]:
                groups = digit_groups(other)
                tails.append(groups[-1] if groups else other)
            sep = rng.choice(("/", ", ", " ET ", " + "))
            return f"{rng.choice(('FACTURES ', 'REGLEMENT ', ''))}{first}{sep}{sep.join(tails)}"
        several = [
            _render_number(rng, n, "messy" if rng.random() < 0.3 else "exact") for n in numbers
        ]
        return rng.choice((" ", ", ", " + ", " ET ", " / ")).join(several)
    rendered = _render_number(rng, numbers[0], "messy" if mode in ("messy", "typo") else "exact")
    if mode == "typo":
        rendered = digit_typo(rng, rendered)
    return rendered


def render(g: Generator, intent: Intent, line: int) -> tuple[dict[str, Any], Label]:
    """``intent`` as the Qonto transaction on line ``line`` and its label."""
    rng = g.rng
    invoices = [g.invoices[i] for i in intent.targets]
    party = intent.party
    if intent.targets:
        sign = 1
        amount = sum(intent.planned)
        if invoices[0].data["kind"] == "receivable" and intent.side == "debit":
            sign = -1
        if invoices[0].data["kind"] == "payable" and intent.side == "credit":
            sign = -1
        amount = sign * amount + intent.extra - intent.fee
    else:
        amount = intent.amount
    reference: str | None = intent.reference
    label = intent.label
    clean = intent.clean_name
    iban = intent.iban
    payer = intent.payer or party
    if intent.targets and payer is not None:
        reference = payment_reference(g, intent, invoices)
        if payer.role == "supplier" and intent.side == "debit":
            # we pay: the label is the beneficiary as we registered it
            label = (
                payer.dd_creditor and f"{V.DIRECT_DEBIT_LABEL_PREFIX} {payer.dd_creditor}"
            ) or payer.bank_name
            clean = payer.clean_name
            iban = None if payer.dd_creditor else payer.iban
            if payer.dd_creditor:
                reference = rng.choice(
                    (
                        f"{payer.dd_creditor} CLIENT {rng.randint(10**8, 10**9)} "
                        f"ECH {intent.when.strftime('%d/%m/%Y')}",
                        f"RUM {rng.randint(10**10, 10**11)} {payer.dd_creditor}",
                        f"PRLV {payer.dd_creditor} {intent.when.strftime('%m%Y')}",
                    )
                )
                if rng.random() < 0.5:
                    label = payer.dd_creditor
        else:
            name = payer.trade_name if intent.label == "trade" else payer.bank_name
            clean = None if intent.label == "trade" else payer.clean_name
            roll = rng.random()
            if roll < 0.72:
                label = name
            elif roll < 0.88 or not reference:
                label = f"{rng.choice(V.TRANSFER_LABEL_PREFIXES)} {name}"
            else:
                label = f"VIR SEPA {name} {fold_upper(reference)}"
                reference = reference if rng.random() < 0.3 else ""
            iban = payer.iban
    subject = SUBJECT_TYPES[intent.op]
    settled: datetime | None = intent.when
    emitted = intent.when - timedelta(minutes=rng.randint(1, 600))
    if intent.status == "pending" or intent.status == "declined":
        settled = None
    tx_uuid = intent.tx_id or uuid4(rng)
    updated = (settled or emitted) + timedelta(seconds=rng.randint(1, 90))
    tx: dict[str, Any] = {
        "id": tx_uuid,
        "transaction_id": f"acme-sas-{g.seed}-transaction-{intent.seq}",
        "amount": _cents_to_amount(amount),
        "amount_cents": amount,
        "local_amount": _cents_to_amount(amount),
        "local_amount_cents": amount,
        "currency": "EUR",
        "local_currency": "EUR",
        "side": intent.side,
        "operation_type": intent.op,
        "status": intent.status,
        "label": label,
        "clean_counterparty_name": clean,
        "reference": reference or None,
        "note": None,
        "category": intent.category,
        "settled_at": _iso(settled),
        "emitted_at": _iso(emitted),
        "created_at": _iso(emitted),
        "updated_at": _iso(updated),
        "subject_type": subject,
        "bank_account_id": "0b9c7c8e-0000-4000-8000-000000000001",
        "attachment_ids": [],
        "label_ids": [],
    }
    if intent.op == "card":
        tx["card_last_digits"] = f"{rng.randint(0, 9999):04d}"
    nested = subject[0].lower() + "".join(
        "_" + ch.lower() if ch.isupper() else ch for ch in subject[1:]
    )
    if intent.op in ("income", "transfer", "swift_income", "direct_debit"):
        obj: dict[str, Any] = {}
        if iban:
            obj = {
                "counterparty_account_number": iban,
                "counterparty_account_number_format": "IBAN",
                "counterparty_bank_identifier": "QNTOFRP1XXX"
                if iban.startswith("FR")
                else "DEUTDEFFXXX",
            }
        tx[nested] = obj
    truth: list[dict[str, Any]] = []
    residual = amount
    if intent.truth and intent.targets:
        truth = [
            {"invoice_id": inv.id, "amount_cents": planned}
            for inv, planned in zip(invoices, intent.planned, strict=True)
        ]
        residual = intent.extra - intent.fee
    label_row = Label(
        line=line,
        transaction_id=tx_uuid,
        case=intent.case,
        matchable=intent.matchable,
        truth=truth,
        residual_cents=residual,
    )
    return tx, label_row


# ------------------------------------------------------------------ simulation
