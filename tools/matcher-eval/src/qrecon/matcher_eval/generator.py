"""A seeded generator of realistic, labelled reconciliation data.

One French SME over a year: its client invoices (receivables) and credit notes, its
supplier invoices (payables), and its Qonto account activity — client transfers with
references written every possible way, supplier transfers, SEPA direct debits, SWIFT
payments with a fee deducted, instalments, batches, and the noise around them (card
spend, Qonto fees, salaries, payouts, refunds, taxes, unknown payers), with realistic
collisions (round and recurring amounts, several open invoices per client, families of
similar company names).

The simulation runs in time order, so the labels are consistent with how residuals evolve.
A payment that names no invoice pays, by French law (Code civil art. 1342-10), the
oldest due of equal debts: when a client pays an amount without a reference while an
older open invoice of the same amount exists, the label is the older invoice (the
generator re-points the later plans accordingly).

Every transaction gets a :class:`Label`: its case, whether it is *matchable* (a
payment whose correct allocation should be made automatically) and the true allocation.

The generator's parts: :mod:`.parties` (who), :mod:`.scenarios` (payments and their
invoices), :mod:`.noise` (everything else on the statement), :mod:`.render` (an intent
written out as a Qonto transaction and its label); the words, names, IBANs and
references come from :mod:`qrecon.world`.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from qrecon.matcher_eval.cases import SCENARIO_WEIGHTS
from qrecon.matcher_eval.dataset import Dataset, Label
from qrecon.matcher_eval.model import (
    DAYS,
    MAX_UNPAID_PER_PARTY,
    NO_REFERENCE,
    START,
    Intent,
    InvoiceState,
    Party,
    draw_amount,
    stamp,
)
from qrecon.matcher_eval.parties import make_parties
from qrecon.matcher_eval.render import render
from qrecon.matcher_eval.scenarios import draw_scenario
from qrecon.world.ids import uuid4
from qrecon.world.numbering import (
    CLIENT_SCHEMES,
    CREDIT_NOTE_SCHEMES,
    SECOND_CLIENT_SCHEMES,
    format_number,
)
from qrecon.world.references import rf_reference


class Generator:
    """``Generator(seed, n_transactions).build()`` -> a :class:`Dataset`."""

    def __init__(self, seed: int, n_transactions: int = 5000, noise_factor: float = 1.0) -> None:
        self.seed = seed
        self.target = max(50, n_transactions)
        self.noise_factor = noise_factor
        self.rng = random.Random(seed)
        self.invoices: dict[str, InvoiceState] = {}
        self.intents: list[Intent] = []
        self._seq = 0
        self._inv_seq = 0
        rng = self.rng
        # our own numbering (one scheme per company, sometimes changed mid-year)
        self.scheme = rng.choice(CLIENT_SCHEMES)
        self.credit_scheme = rng.choice(CREDIT_NOTE_SCHEMES)
        self.customers: list[Party] = []
        self.suppliers: list[Party] = []
        self.dd_suppliers: list[Party] = []
        self.parents: list[Party] = []
        self.cum_weights: list[float] = []
        self.created: list[InvoiceState] = []
        self.recent: list[InvoiceState] = []

    # ------------------------------------------------------------------ parties
    def pick_customer(self, predicate: Callable[[Party], bool] | None = None) -> Party:
        for _ in range(50):
            pick = self.rng.random() * self.cum_weights[-1]
            party = self.customers[
                min(len(self.customers) - 1, bisect_left(self.cum_weights, pick))
            ]
            if predicate is None or predicate(party):
                return party
        candidates = [p for p in self.customers if predicate is None or predicate(p)]
        return self.rng.choice(candidates or self.customers)

    def pick_supplier(self) -> Party:
        weights = [p.weight for p in self.suppliers]
        return self.rng.choices(self.suppliers, weights=weights)[0]

    # ------------------------------------------------------------------ amounts, invoices
    def random_day(self, lo: int = 0, hi: int = DAYS - 20) -> date:
        return START + timedelta(days=self.rng.randint(lo, hi))

    def add_invoice(
        self,
        party: Party,
        issue: date,
        amount: int | None = None,
        *,
        credit_note: bool = False,
        status: str = "open",
    ) -> InvoiceState:
        rng = self.rng
        if amount is None:
            amount = (
                party.recurring if party.recurring and rng.random() < 0.85 else draw_amount(rng)
            )
        kind = "receivable" if party.role == "customer" else "payable"
        if credit_note:
            amount = -abs(amount)
        due = issue + timedelta(days=rng.choice((0, 15, 30, 30, 30, 45, 60)))
        self._inv_seq += 1
        data: dict[str, Any] = {
            "id": uuid4(rng),
            "number": "",  # numbered in issue order once all invoices exist
            "kind": kind,
            "counterparty_name": party.name,
            "counterparty_iban": party.iban if party.iban_on_invoice else None,
            "amount_cents": amount,
            "currency": "EUR",
            "issue_date": issue.isoformat(),
            "due_date": due.isoformat(),
            "status": status,
            "payment_reference": None,
        }
        inv = InvoiceState(
            data, party, issue, due, self._inv_seq, residual=amount if status == "open" else 0
        )
        if party.role == "supplier":
            party.seq += rng.randint(1, 40)
            data["number"] = format_number(
                party.numbering, year=issue.year, month=issue.month, n=party.seq
            )
        self.invoices[inv.id] = inv
        self.created.append(inv)
        return inv

    def _number_receivables(self) -> None:
        ordered = sorted(
            (inv for inv in self.invoices.values() if inv.party.role == "customer"),
            key=lambda inv: (inv.issue, inv.seq),
        )
        counters: dict[tuple[str, int], int] = {}
        switch = START + timedelta(days=self.rng.randint(120, 300))
        second = self.rng.choice(SECOND_CLIENT_SCHEMES)
        for inv in ordered:
            credit = inv.amount < 0
            scheme = self.credit_scheme if credit else self.scheme
            if not credit and inv.issue >= switch and self.seed % 3 == 0:
                scheme = second  # the company changed its numbering mid-year
            key = (scheme, inv.issue.year)
            counters[key] = counters.get(key, 0) + 1
            n = counters[key] + (0 if inv.issue.year >= START.year else 900)
            inv.data["number"] = format_number(
                scheme, year=inv.issue.year, month=inv.issue.month, n=n
            )
            if inv.party.uses_rf and not credit:
                inv.data["payment_reference"] = rf_reference(f"{inv.party.code}{n:06d}")

    # ------------------------------------------------------------------ intents
    def add_intent(self, when: date, case: str, party: Party | None, **kw: Any) -> Intent:
        self._seq += 1
        intent = Intent(when=stamp(when, self.rng), seq=self._seq, case=case, party=party, **kw)
        self.intents.append(intent)
        return intent

    def pay_day(self, inv: InvoiceState) -> date:
        delay = max(0, int(self.rng.gauss(28, 14)))
        return max(inv.issue, inv.issue + timedelta(days=delay))

    def add_background_invoice(self, party: Party, near: date) -> None:
        """An invoice of the same party that stays open (several open items per party)."""
        if party.unpaid < MAX_UNPAID_PER_PARTY and self.rng.random() < 0.45:
            party.unpaid += 1
            lo = max(-40, (near - START).days - 90)
            day = START + timedelta(days=self.rng.randint(lo, max(lo, (near - START).days)))
            self.add_invoice(party, day)

    def add_payment(
        self, case: str, party: Party, invoices: list[InvoiceState], ref_mode: str, **kw: Any
    ) -> Intent:
        day = max(self.pay_day(inv) for inv in invoices)
        return self.add_intent(
            day,
            case,
            party,
            targets=[inv.id for inv in invoices],
            planned=[inv.amount for inv in invoices],
            ref_mode=ref_mode,
            **kw,
        )

    def _fifo(self, intent: Intent, index: int, by_invoice: dict[str, list[int]]) -> bool:
        """A payment naming no invoice pays the oldest of equal open debts (art. 1342-10)."""
        swapped = False
        for pos, invoice_id in enumerate(list(intent.targets)):
            inv = self.invoices[invoice_id]
            if intent.planned[pos] != inv.residual or inv.residual == 0:
                continue
            older = None
            for other_id in inv.party.open_ids:
                other = self.invoices[other_id]
                if (
                    other_id not in intent.targets
                    and other.residual == inv.residual
                    and other.data["kind"] == inv.data["kind"]
                    and other.issue <= intent.when.date()
                    and (other.due, other.issue, other.data["number"], other.id)
                    < (inv.due, inv.issue, inv.data["number"], inv.id)
                    and (
                        older is None
                        or (other.due, other.issue, other.data["number"], other.id)
                        < (older.due, older.issue, older.data["number"], older.id)
                    )
                ):
                    older = other
            if older is None:
                continue
            swapped = True
            a, b = inv.id, older.id
            for other_index in set(by_invoice.get(a, [])) | set(by_invoice.get(b, [])):
                if other_index < index:
                    continue
                other_intent = self.intents[other_index]
                other_intent.targets = [
                    b if t == a else a if t == b else t for t in other_intent.targets
                ]
            by_invoice[a], by_invoice[b] = (
                [i for i in by_invoice.get(b, []) if i >= index]
                + [i for i in by_invoice.get(a, []) if i < index],
                [i for i in by_invoice.get(a, []) if i >= index]
                + [i for i in by_invoice.get(b, []) if i < index],
            )
        return swapped

    def build(self) -> Dataset:
        rng = self.rng
        make_parties(self)
        # recurring and older open invoices: monthly invoices of subscription clients
        for party in self.customers:
            if party.recurring and rng.random() < 0.5:
                for month in range(rng.randint(2, 6)):
                    self.add_invoice(party, START + timedelta(days=30 * month + rng.randint(0, 5)))
        for party in self.dd_suppliers:
            for month in range(2):
                self.add_invoice(party, START - timedelta(days=30 * (month + 1)))
        # last year's unpaid items (open) and paid ones
        for party in rng.sample(self.customers, k=max(1, len(self.customers) // 5)):
            self.add_invoice(party, START - timedelta(days=rng.randint(10, 80)))
        cases = list(SCENARIO_WEIGHTS)
        weights = [
            SCENARIO_WEIGHTS[c] * (self.noise_factor if c.startswith("noise_") else 1.0)
            for c in cases
        ]
        count = 0
        while count < self.target:
            case = rng.choices(cases, weights=weights)[0]
            count += draw_scenario(self, case)
            if not self.recent or rng.random() < 0.02:
                self.recent = [inv for inv in self.created[-300:] if inv.amount > 0]
        self._number_receivables()
        # simulate in time order
        order = sorted(
            range(len(self.intents)), key=lambda i: (self.intents[i].when, self.intents[i].seq)
        )
        self.intents = [self.intents[i] for i in order]
        by_invoice: dict[str, list[int]] = {}
        for index, intent in enumerate(self.intents):
            for invoice_id in intent.targets:
                by_invoice.setdefault(invoice_id, []).append(index)
        for inv in self.invoices.values():
            if inv.residual:
                inv.party.open_ids.append(inv.id)
        transactions: list[dict[str, Any]] = []
        labels: list[Label] = []
        for index, intent in enumerate(self.intents):
            if (
                intent.ref_mode == NO_REFERENCE
                and intent.truth
                and intent.status == "completed"
                and intent.targets
                and self._fifo(intent, index, by_invoice)
                and intent.case == "prepayment"
            ):
                # paid before its invoice, naming nothing: it pays an older equal debt
                intent.case, intent.matchable = "name_amount", True
            if intent.truth and intent.status == "completed":
                for invoice_id, planned in zip(intent.targets, intent.planned, strict=True):
                    inv = self.invoices[invoice_id]
                    inv.residual -= planned
                    if inv.residual == 0 and invoice_id in inv.party.open_ids:
                        inv.party.open_ids.remove(invoice_id)
            tx, label = render(self, intent, len(transactions))
            transactions.append(tx)
            labels.append(label)
        invoices = [i.data for i in sorted(self.invoices.values(), key=lambda i: (i.issue, i.seq))]
        # a few invoices canceled (never paid): the engine must ignore them
        for row in invoices:
            if row["status"] == "open" and row["id"] not in by_invoice and rng.random() < 0.03:
                row["status"] = "canceled"
        return Dataset(seed=self.seed, invoices=invoices, transactions=transactions, labels=labels)


def generate(seed: int, n_transactions: int = 5000, noise_factor: float = 1.0) -> Dataset:
    """A labelled dataset of about ``n_transactions`` transactions (seeded, deterministic).

    ``noise_factor`` scales how often noise (card spend, salaries, fees...) is drawn.
    """
    return Generator(seed, n_transactions, noise_factor).build()
