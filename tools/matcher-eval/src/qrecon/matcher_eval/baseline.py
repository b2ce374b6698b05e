"""The baseline: an "Odoo-like" rule engine, for comparison.

What an ERP's default bank-reconciliation rules do:

1. *Invoice matching*: an open invoice whose number (or payment reference) appears as
   written (case-insensitive, separators ignored) in the reference or label is matched;
   the payment is allocated to the named invoices, oldest first (a partial payment or
   an excess is left as is).
2. *Partner + amount*: the partner is found by its bank account (the invoice IBAN) or
   its name appearing in the label (an ``ilike`` on the whole name); then the oldest open
   invoice of exactly the amount, else the oldest invoices greedily while their sum
   equals the amount.

Only completed (booked) lines are considered; there are no suggestions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from qrecon.common.schemas import Allocation, MatchResult, QontoTransaction
from qrecon.matcher.core import InvoiceBook
from qrecon.matcher.core.book import BookEntry
from qrecon.matcher.core.normalize import fold, normalise_iban

VERSION = "baseline-odoo-like/1"
_NON_ALNUM = re.compile(r"[^A-Z0-9]+")
_SPACES = re.compile(r"[^A-Z0-9]+")


def _compact(text: str) -> str:
    return _NON_ALNUM.sub("", fold(text))


def _spaced(text: str) -> str:
    return " ".join(_SPACES.split(fold(text))).strip()


class OdooLikeMatcher:
    def __init__(self, book: InvoiceBook) -> None:
        self.book = book
        self._numbers: dict[str, list[str]] = {}
        self._names: dict[str, list[str]] = {}
        self._ibans: dict[str, list[str]] = {}
        for invoice in book:
            entry = book.entry(invoice.id)
            assert entry is not None
            for key in {_compact(invoice.number), entry.payref or ""}:
                if len(key) >= 3:
                    self._numbers.setdefault(key, []).append(invoice.id)
            self._names.setdefault(_spaced(invoice.counterparty_name), []).append(invoice.id)
            iban = normalise_iban(invoice.counterparty_iban)
            if iban:
                self._ibans.setdefault(iban, []).append(invoice.id)
        self._lengths = sorted({len(k) for k in self._numbers}, reverse=True)

    def _open(self, ids: Iterable[str], kind: str) -> list[BookEntry]:
        out = []
        for invoice_id in dict.fromkeys(ids):
            entry = self.book.entry(invoice_id)
            if entry is not None and entry.is_open and entry.invoice.kind == kind:
                out.append(entry)
        out.sort(key=lambda e: e.order)
        return out

    def decide(self, tx: QontoTransaction) -> MatchResult:
        kind = "receivable" if tx.side == "credit" else "payable"
        allocations: list[Allocation] = []
        reasons: list[str] = []
        if tx.status == "completed" and tx.operation_type != "qonto_fee":
            text = _compact(" ".join(x for x in (tx.reference, tx.label) if x))
            named: list[str] = []
            for start in range(len(text)):
                for length in self._lengths:
                    piece = text[start : start + length]
                    if len(piece) == length and piece in self._numbers:
                        named.extend(self._numbers[piece])
            entries = self._open(named, kind)
            if entries:
                reasons.append("baseline.reference")
                allocations = self._greedy(entries, tx.amount_cents, allow_partial=True)
            else:
                partner_ids: list[str] = []
                iban = normalise_iban(str(tx.counterparty.get("counterparty_account_number") or ""))
                if iban and iban in self._ibans:
                    partner_ids = self._ibans[iban]
                else:
                    shown = " ".join(x for x in (tx.label, tx.clean_counterparty_name) if x)
                    words = _spaced(shown).split()
                    for n in range(min(8, len(words)), 0, -1):
                        for i in range(len(words) - n + 1):
                            phrase = " ".join(words[i : i + n])
                            if phrase in self._names:
                                partner_ids = self._names[phrase]
                                break
                        if partner_ids:
                            break
                entries = self._open(partner_ids, kind)
                if entries:
                    exact = [e for e in entries if e.residual == tx.amount_cents]
                    if exact:
                        reasons.append("baseline.partner_amount")
                        allocations = self._greedy(exact[:1], tx.amount_cents, allow_partial=False)
                    else:
                        greedy = self._greedy(entries, tx.amount_cents, allow_partial=False)
                        if sum(a.amount_cents for a in greedy) == tx.amount_cents:
                            reasons.append("baseline.partner_greedy")
                            allocations = greedy
        total = sum(a.amount_cents for a in allocations)
        return MatchResult(
            transaction_id=tx.id,
            transaction_version=tx.updated_at,
            status="auto_matched" if allocations else "unmatched",
            allocations=allocations,
            residual_cents=tx.amount_cents - total,
            confidence=1.0 if allocations else 0.0,
            reasons=reasons,
            matcher_version=VERSION,
            decided_at=tx.updated_at,
        )

    @staticmethod
    def _greedy(entries: list[BookEntry], amount: int, *, allow_partial: bool) -> list[Allocation]:
        out: list[Allocation] = []
        remaining = amount
        for entry in entries:
            if remaining <= 0 or entry.residual <= 0:
                continue
            if entry.residual > remaining and not allow_partial:
                break
            take = min(entry.residual, remaining)
            out.append(
                Allocation(
                    invoice_id=entry.id, invoice_number=entry.invoice.number, amount_cents=take
                )
            )
            remaining -= take
        return out


def run_baseline(
    book: InvoiceBook, transactions: Iterable[QontoTransaction]
) -> Iterator[MatchResult]:
    matcher = OdooLikeMatcher(book)
    for tx in transactions:
        result = matcher.decide(tx)
        if result.allocations:
            book.allocate(result.allocations)
        yield result
