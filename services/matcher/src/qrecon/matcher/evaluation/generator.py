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
"""

from __future__ import annotations

import json
import random
import unicodedata
import uuid
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from stdnum.iso7064 import mod_97_10

from qrecon.matcher.evaluation import vocabulary as V

# --------------------------------------------------------------------------- cases
MATCHABLE_CASES = (
    "ref_exact",
    "ref_messy",
    "ref_typo",
    "ref_multi",
    "rf_reference",
    "name_amount",
    "iban_only",
    "subset_no_ref",
    "credit_note",
    "instalment",
    "partial",
    "fee_shortfall",
    "overpayment",
    "third_party",
    "supplier_transfer",
    "direct_debit",
    "supplier_refund",
)
NON_MATCHABLE_CASES = (
    "duplicate_payment",
    "prepayment",
    "declined",
    "pending",
    "noise_card",
    "noise_card_refund",
    "noise_bank_fee",
    "noise_salary",
    "noise_payout",
    "noise_refund",
    "noise_tax",
    "unknown_payer",
)
ALL_CASES = MATCHABLE_CASES + NON_MATCHABLE_CASES

# scenario -> weight (how often it is drawn); each draws one or more transactions
SCENARIO_WEIGHTS: dict[str, float] = {
    "ref_exact": 13.0,
    "ref_messy": 10.0,
    "ref_typo": 2.0,
    "ref_multi": 3.0,
    "rf_reference": 2.5,
    "name_amount": 9.0,
    "iban_only": 2.0,
    "subset_no_ref": 2.0,
    "credit_note": 1.5,
    "instalment": 1.0,
    "partial": 1.0,
    "fee_shortfall": 1.5,
    "overpayment": 0.7,
    "third_party": 1.0,
    "supplier_transfer": 9.0,
    "direct_debit": 6.0,
    "supplier_refund": 0.5,
    "duplicate_payment": 0.8,
    "prepayment": 0.8,
    "declined": 0.8,
    "noise_card": 16.0,
    "noise_card_refund": 1.0,
    "noise_bank_fee": 2.0,
    "noise_salary": 5.0,
    "noise_payout": 2.0,
    "noise_refund": 1.5,
    "noise_tax": 2.0,
    "unknown_payer": 1.5,
}
NO_REFERENCE = "none"
MAX_UNPAID_PER_PARTY = 8  # invoices a party leaves unpaid over the year
MONTHS_FR = (
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
)

START = date(2025, 1, 1)
DAYS = 365
ROUND_HT = (250, 300, 400, 500, 600, 750, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000)


# --------------------------------------------------------------------------- records
@dataclass(slots=True)
class Label:
    """The truth about one transaction line (``labels.jsonl``)."""

    line: int
    transaction_id: str
    case: str
    matchable: bool
    truth: list[dict[str, Any]]  # [{"invoice_id", "amount_cents"}]
    residual_cents: int

    def truth_map(self) -> dict[str, int]:
        return {str(a["invoice_id"]): int(a["amount_cents"]) for a in self.truth}


@dataclass(slots=True)
class Dataset:
    seed: int
    invoices: list[dict[str, Any]]
    transactions: list[dict[str, Any]]
    labels: list[Label]

    def write(self, out_dir: Path) -> dict[str, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {
            "invoices": out_dir / "invoices.jsonl",
            "transactions": out_dir / "transactions.jsonl",
            "labels": out_dir / "labels.jsonl",
        }
        _write_jsonl(paths["invoices"], self.invoices)
        _write_jsonl(paths["transactions"], self.transactions)
        _write_jsonl(paths["labels"], [asdict(label) for label in self.labels])
        return paths


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")


def read_labels(path: Path) -> list[Label]:
    with path.open(encoding="utf-8") as handle:
        return [Label(**json.loads(line)) for line in handle if line.strip()]


@dataclass(slots=True, eq=False)
class Party:
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
class _Invoice:
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
class _Intent:
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


# --------------------------------------------------------------------------- helpers
def _iban(rng: random.Random, country: str) -> str:
    lengths = {"FR": 23, "DE": 18, "GB": 18, "BE": 12, "NL": 14, "ES": 20}
    n = lengths.get(country, 23)
    if country == "GB" or country == "NL":
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
        bban += "".join(rng.choice("0123456789") for _ in range(n - 4))
    else:
        bban = "".join(rng.choice("0123456789") for _ in range(n))
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def _rf(body: str) -> str:
    return "RF" + mod_97_10.calc_check_digits(body + "RF") + body


def _fold_upper(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _stamp(day: date, rng: random.Random) -> datetime:
    seconds = rng.randint(7 * 3600, 19 * 3600)
    return datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(seconds=seconds)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _cents_to_amount(cents: int) -> float:
    return round(cents / 100, 2)


# --------------------------------------------------------------------------- generator
class Generator:
    """``Generator(seed, n_transactions).build()`` -> a :class:`Dataset`."""

    def __init__(self, seed: int, n_transactions: int = 5000, noise_factor: float = 1.0) -> None:
        self.seed = seed
        self.target = max(50, n_transactions)
        self.noise_factor = noise_factor
        self.rng = random.Random(seed)
        self.invoices: dict[str, _Invoice] = {}
        self.intents: list[_Intent] = []
        self._seq = 0
        self._inv_seq = 0
        rng = self.rng
        # our own numbering (one scheme per company, sometimes changed mid-year)
        self.scheme = rng.choice(
            (
                "FAC-{Y}-{n:04d}",
                "F{Y}-{n:04d}",
                "FA{Y}{n:05d}",
                "{Y}-{n:04d}",
                "FAC{Y}{M:02d}-{n:03d}",
            )
        )
        self.credit_scheme = rng.choice(("AV-{Y}-{n:04d}", "AV{Y}-{n:04d}", "AVOIR-{Y}-{n:03d}"))
        self.customers: list[Party] = []
        self.suppliers: list[Party] = []
        self.dd_suppliers: list[Party] = []
        self.parents: list[Party] = []
        self._cum_customers: list[float] = []
        self._created: list[_Invoice] = []
        self._recent: list[_Invoice] = []

    # ------------------------------------------------------------------ parties
    def _company_name(self, surname: str) -> tuple[str, str]:
        rng = self.rng
        activity = rng.choice(V.ACTIVITIES)
        pattern = rng.random()
        if pattern < 0.25:
            base = f"{surname} {activity}"
        elif pattern < 0.40:
            base = f"Maison {surname}"
        elif pattern < 0.52:
            base = f"{activity} {surname}"
        elif pattern < 0.60:
            base = f"{surname} & Fils"
        elif pattern < 0.67:
            base = f"Ets {surname}"
        elif pattern < 0.75:
            base = f"{surname} {activity} {rng.choice(V.CITIES)}"
        elif pattern < 0.82:
            base = f"Groupe {surname}"
        elif pattern < 0.89:
            base = f"Atelier {surname}"
        elif pattern < 0.94:
            base = f"{surname}-{rng.choice(V.SURNAMES)}"
        else:
            letters = "".join(rng.choice("ABCDEFGHIJKLMNOPRSTV") for _ in range(rng.randint(3, 4)))
            base = f"{letters} {activity}"
        forms, weights = zip(*V.FR_LEGAL_FORMS, strict=True)
        form = rng.choices(forms, weights=weights)[0]
        return f"{base} {form}".strip(), form

    def _bank_spelling(self, name: str, form: str) -> str:
        """How the payer's bank writes the account holder (upper, no accents, variants)."""
        rng = self.rng
        base = name[: -len(form)].strip() if form and name.endswith(form) else name
        spelled = rng.choice(V.LEGAL_FORM_SPELLINGS.get(form, ("",))) if form else ""
        roll = rng.random()
        if roll < 0.15 and spelled:
            text = f"{spelled} {base}"
        elif roll < 0.30:
            text = base  # no legal form
        elif roll < 0.38:
            words = base.split()
            text = " ".join(words[::-1]) + (f" {spelled}" if spelled else "")
        else:
            text = f"{base} {spelled}".strip()
        text = _fold_upper(text) if rng.random() < 0.85 else text
        if len(text) > 24 and rng.random() < 0.25:
            text = text[: rng.randint(20, 24)].rstrip()  # truncated by the bank
        return text

    def _make_parties(self) -> None:
        rng = self.rng
        n_customers = max(12, self.target // 14)
        n_suppliers = max(6, self.target // 80)
        # surnames drawn from a small pool: families of similar names
        pool = list(V.SURNAMES)
        rng.shuffle(pool)
        pool = pool[: max(10, min(len(pool), n_customers // 3))]
        for i in range(n_customers):
            foreign = rng.random() < 0.05
            if foreign:
                country, form, words = rng.choice(V.FOREIGN)
                name = f"{rng.choice(words)} {rng.choice(V.FOREIGN_ACTIVITIES)} {form}"
            else:
                country = "FR"
                name, form = self._company_name(rng.choice(pool))
            iban = _iban(rng, country)
            bank_name = self._bank_spelling(name, form)
            first = rng.choice(V.FIRST_NAMES)
            trade = rng.choice(
                (
                    f"M {first} {rng.choice(V.SURNAMES)}",
                    f"HOLDING {rng.choice(V.SURNAMES)}",
                    f"{rng.choice(V.SURNAMES)} {rng.choice(V.SURNAMES)} PATRIMOINE",
                    f"SCI {rng.choice(V.CITIES)} {rng.randint(1, 9)}",
                )
            )
            party = Party(
                id=f"c{i}",
                name=name,
                role="customer",
                iban=iban,
                iban_on_invoice=rng.random() < 0.6,
                bank_name=_fold_upper(bank_name),
                clean_name=(name.rsplit(" ", 1)[0] if form else name)
                if rng.random() < 0.8
                else None,
                trade_name=_fold_upper(trade),
                weight=min(25.0, rng.paretovariate(1.3)),
                country=country,
                recurring=self._amount(rng) if rng.random() < 0.3 else None,
                uses_rf=rng.random() < 0.08,
                code=f"{i:05d}",
            )
            self.customers.append(party)
        total = 0.0
        for party in self.customers:
            total += party.weight
            self._cum_customers.append(total)
        for i in range(n_suppliers):
            name, form = self._company_name(rng.choice(pool))
            activity = rng.choice(V.SUPPLIER_ACTIVITIES)
            if rng.random() < 0.5:
                name = f"{activity} {name}"
            scheme = rng.choice(
                (
                    "INV-{n:05d}",
                    "F{Y}/{n:04d}",
                    "{n:06d}",
                    "FA-{y}-{n:04d}",
                    "{Y}{n:05d}",
                    "FC{n:07d}",
                    "N{n:04d}-{y}",
                )
            )
            self.suppliers.append(
                Party(
                    id=f"s{i}",
                    name=name,
                    role="supplier",
                    iban=_iban(rng, "FR"),
                    iban_on_invoice=rng.random() < 0.9,
                    bank_name=_fold_upper(self._bank_spelling(name, form)),
                    clean_name=name,
                    trade_name=_fold_upper(name),
                    weight=rng.paretovariate(1.5),
                    numbering=scheme,
                    seq=rng.randint(10, 5000),
                )
            )
        dd = list(V.DIRECT_DEBIT_SUPPLIERS)
        rng.shuffle(dd)
        for i, (name, creditor) in enumerate(dd[: max(3, min(len(dd), self.target // 300))]):
            self.dd_suppliers.append(
                Party(
                    id=f"d{i}",
                    name=name,
                    role="supplier",
                    iban=_iban(rng, "FR"),
                    iban_on_invoice=False,
                    bank_name=creditor,
                    clean_name=creditor.title(),
                    trade_name=creditor,
                    weight=1.0,
                    numbering=rng.choice(("{n:010d}", "{Y}{n:06d}", "FM{n:08d}")),
                    seq=rng.randint(10**5, 10**7),
                    dd_creditor=creditor,
                    recurring=rng.choice((None, self._amount(rng, small=True))),
                )
            )
        for i in range(max(3, n_customers // 20)):
            name = f"Holding {rng.choice(V.SURNAMES)} Participations"
            self.parents.append(
                Party(
                    id=f"p{i}",
                    name=name,
                    role="parent",
                    iban=_iban(rng, "FR"),
                    iban_on_invoice=False,
                    bank_name=_fold_upper(name + " SAS"),
                    clean_name=name,
                    trade_name=_fold_upper(name),
                    weight=1.0,
                )
            )

    def _customer(self, predicate: Callable[[Party], bool] | None = None) -> Party:
        for _ in range(50):
            pick = self.rng.random() * self._cum_customers[-1]
            party = self.customers[
                min(len(self.customers) - 1, bisect_left(self._cum_customers, pick))
            ]
            if predicate is None or predicate(party):
                return party
        candidates = [p for p in self.customers if predicate is None or predicate(p)]
        return self.rng.choice(candidates or self.customers)

    def _supplier(self) -> Party:
        weights = [p.weight for p in self.suppliers]
        return self.rng.choices(self.suppliers, weights=weights)[0]

    # ------------------------------------------------------------------ amounts, invoices
    @staticmethod
    def _amount(rng: random.Random, small: bool = False) -> int:
        if small:
            return rng.choice((2990, 4500, 5990, 8900, 12000, 15600, 23990, 31000, 42050))
        if rng.random() < 0.45:
            return rng.choice(ROUND_HT) * 120  # round before tax, x1.2 VAT, in cents
        return (
            rng.randint(8000, 1_500_000)
            if rng.random() < 0.9
            else rng.randint(1_500_000, 6_000_000)
        )

    def _day(self, lo: int = 0, hi: int = DAYS - 20) -> date:
        return START + timedelta(days=self.rng.randint(lo, hi))

    def _invoice(
        self,
        party: Party,
        issue: date,
        amount: int | None = None,
        *,
        credit_note: bool = False,
        status: str = "open",
    ) -> _Invoice:
        rng = self.rng
        if amount is None:
            amount = (
                party.recurring if party.recurring and rng.random() < 0.85 else self._amount(rng)
            )
        kind = "receivable" if party.role == "customer" else "payable"
        if credit_note:
            amount = -abs(amount)
        due = issue + timedelta(days=rng.choice((0, 15, 30, 30, 30, 45, 60)))
        self._inv_seq += 1
        data: dict[str, Any] = {
            "id": _uuid(rng),
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
        inv = _Invoice(
            data, party, issue, due, self._inv_seq, residual=amount if status == "open" else 0
        )
        if party.role == "supplier":
            party.seq += rng.randint(1, 40)
            data["number"] = party.numbering.format(
                n=party.seq, Y=issue.year, y=issue.year % 100, M=issue.month
            )
        self.invoices[inv.id] = inv
        self._created.append(inv)
        return inv

    def _number_receivables(self) -> None:
        ordered = sorted(
            (inv for inv in self.invoices.values() if inv.party.role == "customer"),
            key=lambda inv: (inv.issue, inv.seq),
        )
        counters: dict[tuple[str, int], int] = {}
        switch = START + timedelta(days=self.rng.randint(120, 300))
        second = self.rng.choice(("FAC-{Y}-{n:05d}", "F{Y}{M:02d}{n:04d}", "{Y}/{n:04d}"))
        for inv in ordered:
            credit = inv.amount < 0
            scheme = self.credit_scheme if credit else self.scheme
            if not credit and inv.issue >= switch and self.seed % 3 == 0:
                scheme = second  # the company changed its numbering mid-year
            key = (scheme, inv.issue.year)
            counters[key] = counters.get(key, 0) + 1
            n = counters[key] + (0 if inv.issue.year >= START.year else 900)
            inv.data["number"] = scheme.format(Y=inv.issue.year, M=inv.issue.month, n=n)
            if inv.party.uses_rf and not credit:
                inv.data["payment_reference"] = _rf(f"{inv.party.code}{n:06d}")

    # ------------------------------------------------------------------ intents
    def _intent(self, when: date, case: str, party: Party | None, **kw: Any) -> _Intent:
        self._seq += 1
        intent = _Intent(when=_stamp(when, self.rng), seq=self._seq, case=case, party=party, **kw)
        self.intents.append(intent)
        return intent

    def _pay_day(self, inv: _Invoice) -> date:
        delay = max(0, int(self.rng.gauss(28, 14)))
        return max(inv.issue, inv.issue + timedelta(days=delay))

    def _background(self, party: Party, near: date) -> None:
        """An invoice of the same party that stays open (several open items per party)."""
        if party.unpaid < MAX_UNPAID_PER_PARTY and self.rng.random() < 0.45:
            party.unpaid += 1
            lo = max(-40, (near - START).days - 90)
            day = START + timedelta(days=self.rng.randint(lo, max(lo, (near - START).days)))
            self._invoice(party, day)

    def _payment(
        self, case: str, party: Party, invoices: list[_Invoice], ref_mode: str, **kw: Any
    ) -> _Intent:
        day = max(self._pay_day(inv) for inv in invoices)
        return self._intent(
            day,
            case,
            party,
            targets=[inv.id for inv in invoices],
            planned=[inv.amount for inv in invoices],
            ref_mode=ref_mode,
            **kw,
        )

    def _scenario(self, case: str) -> int:
        rng = self.rng
        if case in ("ref_exact", "ref_messy", "ref_typo", "name_amount", "rf_reference"):
            predicate = (lambda p: p.uses_rf) if case == "rf_reference" else None
            party = self._customer(predicate)
            inv = self._invoice(party, self._day())
            self._background(party, inv.issue)
            mode = {
                "ref_exact": "exact",
                "ref_messy": "messy",
                "ref_typo": "typo",
                "name_amount": NO_REFERENCE,
                "rf_reference": "rf",
            }[case]
            self._payment(case, party, [inv], mode)
            return 1
        if case == "iban_only":
            party = self._customer(lambda p: p.iban_on_invoice)
            inv = self._invoice(party, self._day())
            self._background(party, inv.issue)
            self._payment(case, party, [inv], NO_REFERENCE, payer=None, label="trade")
            return 1
        if case in ("ref_multi", "subset_no_ref", "credit_note"):
            party = self._customer()
            first = self._day()
            count = rng.randint(2, 3) if case != "credit_note" else 1
            invs = [
                self._invoice(party, first + timedelta(days=rng.randint(0, 25)))
                for _ in range(count)
            ]
            if case == "credit_note":
                base = invs[0].amount
                cn = self._invoice(
                    party,
                    invs[0].issue + timedelta(days=rng.randint(1, 10)),
                    -rng.randint(max(1, base // 20), max(2, base // 3)),
                    credit_note=True,
                )
                invs.append(cn)
            self._background(party, first)
            mode = (
                "multi"
                if case == "ref_multi"
                else (
                    rng.choice(("multi", NO_REFERENCE)) if case == "credit_note" else NO_REFERENCE
                )
            )
            self._payment(case, party, invs, mode)
            return 1
        if case == "instalment":
            party = self._customer()
            inv = self._invoice(
                party,
                self._day(0, DAYS - 100),
                amount=rng.choice(ROUND_HT) * 120 * rng.randint(2, 5),
            )
            parts = rng.randint(2, 4)
            share = inv.amount // parts
            day = inv.issue + timedelta(days=rng.randint(0, 20))
            mode = rng.choice(("exact", "messy"))
            for k in range(parts):
                amount = share if k < parts - 1 else inv.amount - share * (parts - 1)
                self._intent(day, case, party, targets=[inv.id], planned=[amount], ref_mode=mode)
                day += timedelta(days=rng.randint(25, 35))
            return parts
        if case == "partial":
            party = self._customer()
            inv = self._invoice(party, self._day(0, DAYS - 80))
            if inv.amount < 2000:
                inv.data["amount_cents"] = inv.residual = inv.amount + 50000
            first_part = rng.randint(inv.amount // 5, inv.amount * 3 // 4)
            day = self._pay_day(inv)
            self._intent(
                day,
                case,
                party,
                targets=[inv.id],
                planned=[first_part],
                ref_mode=rng.choice(("exact", "messy")),
            )
            self._intent(
                day + timedelta(days=rng.randint(10, 40)),
                case,
                party,
                targets=[inv.id],
                planned=[inv.amount - first_part],
                ref_mode=rng.choice(("exact", "messy", "exact")),
            )
            return 2
        if case == "fee_shortfall":
            party = (
                self._customer(lambda p: p.country != "FR")
                if rng.random() < 0.8
                else self._customer()
            )
            inv = self._invoice(party, self._day())
            fee = rng.choice((500, 800, 1000, 1200, 1500, 1800, 2000, 2500))
            fee = min(fee, inv.amount // 25)
            if fee <= 0:
                inv.data["amount_cents"] = inv.residual = inv.amount + 100000
                fee = 1500
            self._payment(
                case,
                party,
                [inv],
                rng.choice(("exact", "messy", "exact", NO_REFERENCE)),
                fee=fee,
                op="swift_income",
            )
            return 1
        if case == "overpayment":
            party = self._customer()
            inv = self._invoice(party, self._day())
            self._payment(
                case,
                party,
                [inv],
                rng.choice(("exact", "messy")),
                extra=rng.choice((100, 500, 1000, 2000, 5000, 10000)),
            )
            return 1
        if case == "third_party":
            party = self._customer()
            inv = self._invoice(party, self._day())
            self._payment(
                case,
                party,
                [inv],
                rng.choice(("exact", "messy", "rf" if party.uses_rf else "exact")),
                payer=rng.choice(self.parents),
            )
            return 1
        if case in ("supplier_transfer", "declined"):
            party = self._supplier()
            count = 1 if rng.random() < 0.88 else 2
            invs = [self._invoice(party, self._day()) for _ in range(count)]
            self._background(party, invs[0].issue)
            mode = rng.choices(("exact", "messy", NO_REFERENCE), weights=(60, 30, 10))[0]
            if count > 1:
                mode = "multi" if mode != NO_REFERENCE else mode
            if case == "declined":
                day = max(self._pay_day(inv) for inv in invs)
                self._intent(
                    day,
                    "declined",
                    party,
                    targets=[i.id for i in invs],
                    planned=[i.amount for i in invs],
                    ref_mode=mode,
                    op="transfer",
                    side="debit",
                    status="declined",
                    matchable=False,
                    truth=False,
                )
                retry = self._intent(
                    day + timedelta(days=rng.randint(1, 5)),
                    "supplier_transfer",
                    party,
                    targets=[i.id for i in invs],
                    planned=[i.amount for i in invs],
                    ref_mode=mode,
                    op="transfer",
                    side="debit",
                )
                del retry
                return 2
            intent = self._payment(case, party, invs, mode, op="transfer", side="debit")
            if rng.random() < 0.3:  # seen pending first, then completed
                intent.tx_id = _uuid(rng)
                self._intent(
                    intent.when.date() - timedelta(days=1),
                    "pending",
                    party,
                    targets=list(intent.targets),
                    planned=list(intent.planned),
                    ref_mode=mode,
                    op="transfer",
                    side="debit",
                    status="pending",
                    matchable=False,
                    tx_id=intent.tx_id,
                )
                return 2
            return 1
        if case == "direct_debit":
            party = rng.choice(self.dd_suppliers)
            inv = self._invoice(party, self._day())
            self._payment(case, party, [inv], NO_REFERENCE, op="direct_debit", side="debit")
            return 1
        if case == "supplier_refund":
            party = self._supplier()
            cn = self._invoice(party, self._day(), -rng.randint(2000, 80000), credit_note=True)
            self._payment(
                case, party, [cn], rng.choice(("exact", "messy")), op="income", side="credit"
            )
            return 1
        if case == "duplicate_payment":
            party = self._customer()
            if rng.random() < 0.5:
                inv = self._invoice(
                    party, START - timedelta(days=rng.randint(20, 60)), status="paid"
                )
                day = self._day(0, 40)
            else:
                inv = self._invoice(party, self._day(0, DAYS - 90))
                mode = rng.choice(("exact", "messy"))
                original = self._payment(
                    "ref_exact" if mode == "exact" else "ref_messy", party, [inv], mode
                )
                day = original.when.date() + timedelta(days=rng.randint(3, 40))
            self._intent(
                day,
                case,
                party,
                targets=[inv.id],
                planned=[inv.amount],
                ref_mode=rng.choice(("exact", "messy")),
                matchable=False,
                truth=False,
            )
            return 2
        if case == "prepayment":
            party = self._customer()
            day = self._day(0, DAYS - 40)
            inv = self._invoice(party, day + timedelta(days=rng.randint(2, 20)))
            self._intent(
                day,
                case,
                party,
                targets=[inv.id],
                planned=[inv.amount],
                ref_mode=rng.choice(("exact", "messy", NO_REFERENCE)),
                matchable=False,
            )
            return 1
        return self._noise(case)

    def _collide(self, kind: str) -> int | None:
        """An amount equal to a random open invoice (of anyone), to test collisions."""
        pool = [inv for inv in self._recent if (inv.amount > 0 and inv.data["kind"] == kind)]
        if not pool:
            return None
        return self.rng.choice(pool).amount

    def _noise(self, case: str) -> int:
        rng = self.rng
        day = self._day(0, DAYS - 1)
        kw: dict[str, Any] = {"matchable": False, "truth": False}
        if case == "noise_card":
            merchant = rng.choice(V.CARD_MERCHANTS)
            amount = (self._collide("payable") if rng.random() < 0.15 else None) or rng.randint(
                300, 60000
            )
            self._intent(
                day,
                case,
                None,
                op="card",
                side="debit",
                amount=amount,
                label=merchant,
                clean_name=merchant.title(),
                **kw,
            )
        elif case == "noise_card_refund":
            merchant = rng.choice(V.CARD_MERCHANTS)
            amount = (self._collide("receivable") if rng.random() < 0.3 else None) or rng.randint(
                300, 30000
            )
            self._intent(
                day,
                case,
                None,
                op="card",
                side="credit",
                amount=amount,
                label=merchant,
                clean_name=merchant.title(),
                **kw,
            )
        elif case == "noise_bank_fee":
            amount = rng.choice((900, 2900, 4900, 9900, 150, 100, 500))
            self._intent(
                day,
                case,
                None,
                op="qonto_fee",
                side="debit",
                amount=amount,
                label="Qonto",
                reference=f"Frais {day.month:02d}/{day.year}",
                **kw,
            )
        elif case == "noise_salary":
            person = f"{rng.choice(V.FIRST_NAMES)} {rng.choice(V.SURNAMES)}"
            amount = (self._collide("payable") if rng.random() < 0.2 else None) or rng.randint(
                1500, 4500
            ) * 100
            reference = rng.choice(
                (
                    f"SALAIRE {day.month:02d}/{day.year}",
                    f"PAIE {day.month:02d} {day.year}",
                    "SALAIRE",
                    f"Salaire {MONTHS_FR[day.month - 1]}",
                    "VIREMENT",
                    "",
                )
            )
            self._intent(
                day,
                case,
                None,
                op="transfer",
                side="debit",
                amount=amount,
                label=_fold_upper(person),
                clean_name=person,
                reference=reference,
                category="salary" if rng.random() < 0.5 else None,
                iban=_iban(rng, "FR"),
                **kw,
            )
        elif case == "noise_payout":
            source, ref = rng.choice(V.PAYOUT_SOURCES)
            amount = (self._collide("receivable") if rng.random() < 0.25 else None) or rng.randint(
                2000, 500000
            )
            self._intent(
                day,
                case,
                None,
                op="income",
                side="credit",
                amount=amount,
                label=source,
                clean_name=source.title(),
                reference=f"{ref} {rng.randint(10**6, 10**7)}",
                iban=_iban(rng, "FR"),
                **kw,
            )
        elif case == "noise_refund":
            source = rng.choice(V.REFUND_SOURCES)
            amount = (self._collide("receivable") if rng.random() < 0.3 else None) or rng.randint(
                1000, 100000
            )
            reference = rng.choice(
                (
                    f"REMBOURSEMENT {rng.randint(1000, 99999)}",
                    f"REMB DOSSIER {day.year}-{rng.randint(100, 2000)}",
                    f"REFUND {rng.randint(10**5, 10**6)}",
                    "REMBOURSEMENT TROP PERCU",
                )
            )
            self._intent(
                day,
                case,
                None,
                op="income",
                side="credit",
                amount=amount,
                label=source,
                clean_name=source.title(),
                reference=reference,
                iban=_iban(rng, "FR"),
                **kw,
            )
        elif case == "noise_tax":
            creditor, what = rng.choice(V.TAX_CREDITORS)
            amount = (self._collide("payable") if rng.random() < 0.1 else None) or rng.randint(
                10000, 900000
            )
            self._intent(
                day,
                case,
                None,
                op=rng.choice(("direct_debit", "transfer")),
                side="debit",
                amount=amount,
                label=creditor,
                clean_name=creditor.title(),
                reference=f"{what} {day.month:02d}/{day.year} REF {rng.randint(10**8, 10**9)}",
                **kw,
            )
        elif case == "unknown_payer":
            form = rng.choice(("SAS", "SARL", ""))
            name = f"{rng.choice(V.SURNAMES)} {rng.choice(V.ACTIVITIES)} {form}".strip()
            amount = (self._collide("receivable") if rng.random() < 0.4 else None) or rng.randint(
                5000, 500000
            )
            self._intent(
                day,
                case,
                None,
                op="income",
                side="credit",
                amount=amount,
                label=_fold_upper(name),
                clean_name=name,
                reference=rng.choice(V.GENERIC_REFERENCES),
                iban=_iban(rng, "FR"),
                **kw,
            )
        return 1

    # ------------------------------------------------------------------ rendering
    def _render_number(self, number: str, mode: str) -> str:
        rng = self.rng
        if mode == "exact":
            return number
        text = number
        roll = rng.random()
        digits_groups = [g for g in "".join(ch if ch.isdigit() else " " for ch in number).split()]
        prefix = "".join(ch for ch in number.split("-")[0] if ch.isalpha())
        if roll < 0.18:
            compact = "".join(ch for ch in number if ch.isalnum())
            if len(digits_groups) > 1 and rng.random() < 0.6:
                compact = (
                    prefix
                    + digits_groups[0]
                    + "".join(g.lstrip("0") or "0" for g in digits_groups[1:])
                )
            text = compact
        elif roll < 0.32:
            text = number.lower()
        elif roll < 0.46:
            text = number.replace("-", rng.choice((" ", "/", ".", "_", " - ")))
        elif roll < 0.58 and len(digits_groups) > 1:
            text = number.replace(digits_groups[-1], "0" + digits_groups[-1], 1)
        elif roll < 0.72 and len(digits_groups) > 1:
            text = "-".join([digits_groups[0], *(g.lstrip("0") or "0" for g in digits_groups[1:])])
        elif roll < 0.82:
            text = "".join(digits_groups)
        else:
            text = number.replace("-", "")
        wrap = rng.choice(
            (
                "Facture n° {}",
                "FACTURE {}",
                "REGLEMENT {}",
                "Fact. {}",
                "VIR {}",
                "{}",
                "{}",
                "Paiement facture {}",
                "N°{}",
                "REF {}",
                "Règlement de la facture {}",
            )
        )
        return wrap.format(text)

    def _typo(self, text: str) -> str:
        rng = self.rng
        positions = [i for i, ch in enumerate(text) if ch.isdigit()]
        if len(positions) < 2:
            return text
        for _ in range(10):
            kind = rng.random()
            i = rng.choice(positions)
            if kind < 0.4:
                j = i + 1
                if j < len(text) and text[j].isdigit() and text[j] != text[i]:
                    return text[:i] + text[j] + text[i] + text[j + 1 :]
            elif kind < 0.75:
                new = rng.choice([d for d in "0123456789" if d != text[i]])
                return text[:i] + new + text[i + 1 :]
            elif kind < 0.9:
                return text[:i] + text[i + 1 :]
            else:
                return text[:i] + text[i] + text[i:]
        return text

    def _reference(self, intent: _Intent, invoices: list[_Invoice]) -> str:
        rng = self.rng
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
                return " ".join(ref[i : i + 4] for i in range(0, len(ref), 4))
            return ref
        if mode == "multi" or len(numbers) > 1:
            if rng.random() < 0.25 and len(numbers) > 1:
                # shorthand: "FAC-2025-0123/0124/0125" or "FACTURES 2025-123, 124 ET 125"
                first = numbers[0]
                tails = []
                for other in numbers[1:]:
                    groups = "".join(ch if ch.isdigit() else " " for ch in other).split()
                    tails.append(groups[-1] if groups else other)
                sep = rng.choice(("/", ", ", " ET ", " + "))
                return f"{rng.choice(('FACTURES ', 'REGLEMENT ', ''))}{first}{sep}{sep.join(tails)}"
            several = [
                self._render_number(n, "messy" if rng.random() < 0.3 else "exact") for n in numbers
            ]
            return rng.choice((" ", ", ", " + ", " ET ", " / ")).join(several)
        rendered = self._render_number(
            numbers[0], "messy" if mode in ("messy", "typo") else "exact"
        )
        if mode == "typo":
            rendered = self._typo(rendered)
        return rendered

    def _render(self, intent: _Intent, line: int) -> tuple[dict[str, Any], Label]:
        rng = self.rng
        invoices = [self.invoices[i] for i in intent.targets]
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
            reference = self._reference(intent, invoices)
            if payer.role == "supplier" and intent.side == "debit":
                # we pay: the label is the beneficiary as we registered it
                label = (payer.dd_creditor and f"PRLV SEPA {payer.dd_creditor}") or payer.bank_name
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
                    label = f"{rng.choice(('VIR SEPA', 'VIR INST', 'VIREMENT DE', 'VIR'))} {name}"
                else:
                    label = f"VIR SEPA {name} {_fold_upper(reference)}"
                    reference = reference if rng.random() < 0.3 else ""
                iban = payer.iban
        subject = {
            "income": "Income",
            "transfer": "Transfer",
            "direct_debit": "DirectDebit",
            "swift_income": "SwiftIncome",
            "card": "Card",
            "qonto_fee": "QontoFee",
        }[intent.op]
        settled: datetime | None = intent.when
        emitted = intent.when - timedelta(minutes=rng.randint(1, 600))
        if intent.status == "pending" or intent.status == "declined":
            settled = None
        tx_uuid = intent.tx_id or _uuid(rng)
        updated = (settled or emitted) + timedelta(seconds=rng.randint(1, 90))
        tx: dict[str, Any] = {
            "id": tx_uuid,
            "transaction_id": f"acme-sas-{self.seed}-transaction-{intent.seq}",
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
    def _fifo(self, intent: _Intent, index: int, by_invoice: dict[str, list[int]]) -> bool:
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
        self._make_parties()
        # recurring and older open invoices: monthly invoices of subscription clients
        for party in self.customers:
            if party.recurring and rng.random() < 0.5:
                for month in range(rng.randint(2, 6)):
                    self._invoice(party, START + timedelta(days=30 * month + rng.randint(0, 5)))
        for party in self.dd_suppliers:
            for month in range(2):
                self._invoice(party, START - timedelta(days=30 * (month + 1)))
        # last year's unpaid items (open) and paid ones
        for party in rng.sample(self.customers, k=max(1, len(self.customers) // 5)):
            self._invoice(party, START - timedelta(days=rng.randint(10, 80)))
        cases = list(SCENARIO_WEIGHTS)
        weights = [
            SCENARIO_WEIGHTS[c] * (self.noise_factor if c.startswith("noise_") else 1.0)
            for c in cases
        ]
        count = 0
        while count < self.target:
            case = rng.choices(cases, weights=weights)[0]
            count += self._scenario(case)
            if not self._recent or rng.random() < 0.02:
                self._recent = [inv for inv in self._created[-300:] if inv.amount > 0]
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
            tx, label = self._render(intent, len(transactions))
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


def pad_open_invoices(dataset: Dataset, total_open: int, seed: int = 0) -> Dataset:
    """Add never-paid invoices of extra counterparties until ``total_open`` are open.

    Used by the benchmark to grow the book without changing the transactions.
    """
    rng = random.Random(seed * 7919 + 17)
    invoices = list(dataset.invoices)
    open_now = sum(1 for inv in invoices if inv["status"] == "open")
    missing = max(0, total_open - open_now)
    parties = max(1, missing // 12)
    names = []
    for i in range(parties):
        names.append(
            (
                f"{rng.choice(V.SURNAMES)} {rng.choice(V.ACTIVITIES)} "
                f"{rng.choice(V.CITIES)} {i} SAS",
                _iban(rng, "FR") if rng.random() < 0.5 else None,
            )
        )
    for k in range(missing):
        name, iban = names[k % parties]
        day = START + timedelta(days=rng.randint(-60, DAYS))
        kind = "receivable" if rng.random() < 0.75 else "payable"
        invoices.append(
            {
                "id": _uuid(rng),
                "number": f"PAD-{day.year}-{k:06d}" if kind == "receivable" else f"SUP{k:07d}",
                "kind": kind,
                "counterparty_name": name,
                "counterparty_iban": iban,
                "amount_cents": Generator._amount(rng),
                "currency": "EUR",
                "issue_date": day.isoformat(),
                "due_date": (day + timedelta(days=30)).isoformat(),
                "status": "open",
                "payment_reference": None,
            }
        )
    return Dataset(
        seed=dataset.seed,
        invoices=invoices,
        transactions=dataset.transactions,
        labels=dataset.labels,
    )
