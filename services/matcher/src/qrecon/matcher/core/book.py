"""The invoice book: every known invoice with its residual, indexed for the engine.

Indexes (all dictionaries, so a lookup costs the same with 1k or 1M invoices):

* counterparty: normalised name key -> invoices, IBAN -> name keys, name word -> name keys
  (for fuzzy look-ups), and the *open* items of each counterparty;
* amount: (kind, residual) -> open invoices;
* reference: digit key of the number, its last group, the payment reference.

An invoice stays indexed by number, name and IBAN after it is paid (so a second
payment of it is recognised as a duplicate); only open items (residual != 0) are
candidates for an allocation.

Residuals are in the invoice's own sign: positive for an invoice, negative for a credit
note. An allocation moves a residual towards zero and never past it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from qrecon.common.schemas import Allocation, Invoice
from qrecon.matcher.core.normalize import (
    name_compact,
    name_key,
    name_tokens,
    normalise_iban,
    party_key,
)
from qrecon.matcher.core.references import compact_reference, number_keys

__all__ = ["BookEntry", "InvoiceBook", "OverAllocation"]

MAX_PATTERNS = 6
_BOOK_IDS = itertools.count(1)
NAME_PREFIX_LEN = 4


class OverAllocation(ValueError):
    """An allocation exceeds an invoice's residual (or names an unknown invoice)."""


@dataclass(slots=True)
class BookEntry:
    id: str
    invoice: Invoice
    issue: date
    residual: int
    party: str  # who the counterparty is (party_key: name with legal form)
    name_key: str  # what a bank label is compared with (no legal form)
    iban: str | None
    digit_key: str | None
    last_key: str | None
    prefix: str
    pattern: tuple[int, ...] | None
    payref: str | None
    typo_forms: tuple[str, ...]
    order: tuple[date, date, str, str]  # oldest first: due date, issue date, number, id

    @property
    def is_open(self) -> bool:
        return self.residual != 0 and self.invoice.status != "canceled"


def _add(index: dict[str, dict[str, None]], key: str | None, value: str) -> None:
    if key is None:
        return
    bucket = index.get(key)
    if bucket is None:
        index[key] = {value: None}
    else:
        bucket[value] = None


def _discard(index: dict[str, dict[str, None]], key: str | None, value: str) -> None:
    if key is None:
        return
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(value, None)
        if not bucket:
            del index[key]


class InvoiceBook:
    """The open items and what they are known by; mutable, not thread-safe."""

    def __init__(self, invoices: Iterable[Invoice] = ()) -> None:
        self._entries: dict[str, BookEntry] = {}
        self._by_name: dict[str, dict[str, None]] = {}
        self._open_by_name: dict[str, dict[str, None]] = {}
        self._open_sorted: dict[tuple[str, str], tuple[list[BookEntry], date | None]] = {}
        self._negatives: Counter[tuple[str, str]] = Counter()  # open credit notes per party
        self.currencies: set[str] = set()  # of the invoices ever added
        self._names_by_iban: dict[str, dict[str, None]] = {}
        self._iban_refcount: Counter[tuple[str, str]] = Counter()
        self._names_by_word: dict[str, dict[str, None]] = {}
        self._name_refcount: Counter[str] = Counter()
        self._party_refcount: Counter[str] = Counter()
        self._compact_by_name: dict[str, str] = {}
        self.uid = next(_BOOK_IDS)
        self.names_version = 0  # changes whenever the set of name keys changes
        self._by_amount: dict[tuple[str, int], dict[str, None]] = {}
        self._by_digit_key: dict[str, dict[str, None]] = {}
        self._by_last_key: dict[str, dict[str, None]] = {}
        self._by_payref: dict[str, dict[str, None]] = {}
        self._patterns: Counter[tuple[int, ...]] = Counter()
        self._patterns_cache: tuple[tuple[int, ...], ...] | None = None
        self._claims_by_party: dict[str, dict[str, int]] = {}  # party -> claimed invoice -> claims
        self._reserved: dict[str, dict[str, int]] = {}  # invoice id -> transaction id -> cents
        self._reservations: dict[
            str, list[tuple[str, int]]
        ] = {}  # transaction id -> (invoice, cents)
        for invoice in invoices:
            self.upsert(invoice)

    # ------------------------------------------------------------------ mutations
    def upsert(self, invoice: Invoice, residual_cents: int | None = None) -> None:
        """Add or replace an invoice. The residual defaults to its amount (0 if paid/canceled)."""
        invoice_id = invoice.id
        if invoice_id in self._entries:
            self.remove(invoice_id)
        if residual_cents is None:
            residual_cents = invoice.amount_cents if invoice.status == "open" else 0
        keys = number_keys(invoice.number)
        name = invoice.counterparty_name
        nkey = name_key(name)
        party = party_key(name)
        iban = normalise_iban(invoice.counterparty_iban)
        payref = invoice.payment_reference
        entry = BookEntry(
            id=invoice_id,
            invoice=invoice,
            issue=invoice.issue_date,
            residual=residual_cents,
            party=party,
            name_key=nkey,
            iban=iban,
            digit_key=keys.digit_key,
            last_key=keys.last_key,
            prefix=keys.prefix,
            pattern=keys.pattern,
            payref=compact_reference(payref) if payref else None,
            typo_forms=keys.typo_forms,
            order=(
                invoice.due_date or invoice.issue_date,
                invoice.issue_date,
                invoice.number,
                invoice_id,
            ),
        )
        self._entries[invoice_id] = entry
        self.currencies.add(invoice.currency)
        # refcounts read with .get: a Counter's missing key costs a Python-level __missing__
        party_count = self._party_refcount.get(party, 0)
        if party_count == 0:
            _add(self._by_name, nkey, party)
        self._party_refcount[party] = party_count + 1
        name_count = self._name_refcount.get(nkey, 0)
        if name_count == 0:
            self.names_version += 1
            for word in self._name_index_words(nkey):
                _add(self._names_by_word, word, nkey)
            if nkey not in self._compact_by_name:
                self._compact_by_name[nkey] = name_compact(name)
        self._name_refcount[nkey] = name_count + 1
        if iban:
            _add(self._names_by_iban, iban, party)
            pair = (iban, party)
            self._iban_refcount[pair] = self._iban_refcount.get(pair, 0) + 1
        if entry.digit_key is not None:
            _add(self._by_digit_key, entry.digit_key, invoice_id)
        if entry.last_key is not None:
            _add(self._by_last_key, entry.last_key, invoice_id)
        if entry.payref is not None:
            _add(self._by_payref, entry.payref, invoice_id)
        if entry.pattern is not None:
            self._patterns[entry.pattern] = self._patterns.get(entry.pattern, 0) + 1
            self._patterns_cache = None
        if residual_cents != 0 and invoice.status != "canceled":  # entry.is_open
            self._index_open(entry)

    def remove(self, invoice_id: str) -> None:
        entry = self._entries.pop(invoice_id, None)
        if entry is None:
            return
        if entry.is_open:
            self._unindex_open(entry)
        self._party_refcount[entry.party] -= 1
        if self._party_refcount[entry.party] <= 0:
            del self._party_refcount[entry.party]
            _discard(self._by_name, entry.name_key, entry.party)
        self._name_refcount[entry.name_key] -= 1
        if self._name_refcount[entry.name_key] <= 0:
            del self._name_refcount[entry.name_key]
            self.names_version += 1
            self._compact_by_name.pop(entry.name_key, None)
            for word in self._name_index_words(entry.name_key):
                bucket = self._names_by_word.get(word)
                if bucket is not None:
                    bucket.pop(entry.name_key, None)
                    if not bucket:
                        del self._names_by_word[word]
        if entry.iban:
            pair = (entry.iban, entry.party)
            self._iban_refcount[pair] -= 1
            if self._iban_refcount[pair] <= 0:
                del self._iban_refcount[pair]
                _discard(self._names_by_iban, entry.iban, entry.party)
        _discard(self._by_digit_key, entry.digit_key, invoice_id)
        _discard(self._by_last_key, entry.last_key, invoice_id)
        _discard(self._by_payref, entry.payref, invoice_id)
        if entry.pattern is not None:
            self._patterns[entry.pattern] -= 1
            if self._patterns[entry.pattern] <= 0:
                del self._patterns[entry.pattern]
            self._patterns_cache = None

    def allocate(self, allocations: Sequence[Allocation]) -> None:
        """Reduce residuals; all or nothing. Raises OverAllocation if any would pass zero."""
        totals = self._totals(allocations)
        for invoice_id, amount in totals.items():
            entry = self._entries.get(invoice_id)
            if entry is None:
                raise OverAllocation(f"unknown invoice {invoice_id!r}")
            if entry.invoice.status == "canceled" and amount:
                raise OverAllocation(f"invoice {invoice_id!r} is canceled")
            residual = entry.residual
            if amount and (
                (residual > 0 and not 0 < amount <= residual)
                or (residual < 0 and not residual <= amount < 0)
                or residual == 0
            ):
                raise OverAllocation(
                    f"allocation of {amount} to invoice {invoice_id!r} exceeds its residual "
                    f"{residual}"
                )
        for invoice_id, amount in totals.items():
            if amount:
                self._set_residual(
                    self._entries[invoice_id], self._entries[invoice_id].residual - amount
                )

    def release(self, allocations: Sequence[Allocation]) -> None:
        """Give allocated amounts back to their invoices (undo, revert).

        Unknown invoices (removed since) are ignored; a residual is not checked against the
        invoice amount, so a release after an amount change cannot fail.
        """
        for invoice_id, amount in self._totals(allocations).items():
            entry = self._entries.get(invoice_id)
            if entry is not None and amount:
                self._set_residual(entry, entry.residual + amount)

    def reserve(self, transaction_id: str, allocations: Sequence[Allocation]) -> None:
        """Mark invoices as claimed by a suggestion awaiting review (replaces that
        transaction's previous claim). Residuals are unchanged: a reservation only makes
        the engine prefer other, interchangeable invoices for other transactions."""
        self.unreserve(transaction_id)
        claims = list(self._totals(allocations).items())
        if not claims:
            return
        self._reservations[transaction_id] = claims
        for invoice_id, amount in claims:
            self._reserved.setdefault(invoice_id, {})[transaction_id] = amount
            entry = self._entries.get(invoice_id)
            if entry is not None:
                party_claims = self._claims_by_party.setdefault(entry.party, {})
                party_claims[invoice_id] = party_claims.get(invoice_id, 0) + 1

    def unreserve(self, transaction_id: str) -> None:
        """Drop a transaction's claim (its suggestion was confirmed, rejected or superseded)."""
        for invoice_id, _ in self._reservations.pop(transaction_id, ()):
            claims = self._reserved.get(invoice_id)
            if claims is not None:
                claims.pop(transaction_id, None)
                if not claims:
                    del self._reserved[invoice_id]
            entry = self._entries.get(invoice_id)
            if entry is not None:
                party_claims = self._claims_by_party.get(entry.party)
                if party_claims is not None and invoice_id in party_claims:
                    party_claims[invoice_id] -= 1
                    if party_claims[invoice_id] <= 0:
                        del party_claims[invoice_id]
                    if not party_claims:
                        del self._claims_by_party[entry.party]

    @property
    def has_reservations(self) -> bool:
        return bool(self._reserved)

    def reserved_by_others(self, invoice_id: str, transaction_id: str) -> bool:
        claims = self._reserved.get(invoice_id)
        if not claims:
            return False
        return len(claims) > 1 or transaction_id not in claims

    # ------------------------------------------------------------------ reads
    def get(self, invoice_id: str) -> Invoice | None:
        entry = self._entries.get(invoice_id)
        return entry.invoice if entry else None

    def entry(self, invoice_id: str) -> BookEntry | None:
        return self._entries.get(invoice_id)

    def residual(self, invoice_id: str) -> int:
        """The residual of a known invoice (KeyError otherwise)."""
        return self._entries[invoice_id].residual

    def open_invoices(self) -> Iterable[Invoice]:
        return [e.invoice for e in self._entries.values() if e.is_open]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, invoice_id: object) -> bool:
        return invoice_id in self._entries

    def __iter__(self) -> Iterator[Invoice]:
        return iter([e.invoice for e in self._entries.values()])

    # indexes, for the engine
    def patterns(self) -> tuple[tuple[int, ...], ...]:
        """The most common leading-group lengths of the invoice numbers (learned)."""
        if self._patterns_cache is None:
            ranked = sorted(self._patterns.items(), key=lambda kv: (-kv[1], kv[0]))
            self._patterns_cache = tuple(p for p, _ in ranked[:MAX_PATTERNS])
        return self._patterns_cache

    def ids_by_digit_key(self, key: str) -> Iterable[str]:
        return self._by_digit_key.get(key, ())

    def ids_by_last_key(self, key: str) -> Iterable[str]:
        return self._by_last_key.get(key, ())

    def ids_by_payref(self, ref: str) -> Iterable[str]:
        return self._by_payref.get(ref, ())

    def ids_by_amount(self, kind: str, residual: int) -> dict[str, None]:
        return self._by_amount.get((kind, residual), {})

    def parties_by_iban(self, iban: str) -> Iterable[str]:
        """The parties whose invoices carry this IBAN."""
        return self._names_by_iban.get(iban, ())

    def has_name(self, key: str) -> bool:
        return key in self._by_name

    def parties_of(self, key: str) -> Iterable[str]:
        """The parties a name key (no legal form) stands for; usually one."""
        return self._by_name.get(key, ())

    def name_compact_of(self, key: str) -> str:
        return self._compact_by_name.get(key, "")

    def names_by_word(self, word: str) -> dict[str, None]:
        return self._names_by_word.get(word, {})

    def open_entries_of(self, party: str, kind: str) -> tuple[list[BookEntry], date | None]:
        """A party's open items of one kind, oldest first, and the latest issue date among
        them (cached until they change; do not mutate the list)."""
        cached = self._open_sorted.get((party, kind))
        if cached is None:
            entries = sorted(
                (
                    entry
                    for i in self._open_by_name.get(party, ())
                    if (entry := self._entries[i]).invoice.kind == kind
                ),
                key=lambda e: e.order,
            )
            latest = max((e.invoice.issue_date for e in entries), default=None)
            cached = (entries, latest)
            self._open_sorted[(party, kind)] = cached
        return cached

    def open_credit_notes_of(self, party: str, kind: str) -> list[BookEntry]:
        """A party's open credit notes (negative residuals) of one kind, oldest first."""
        if not self._negatives.get((party, kind)):
            return []
        entries, _ = self.open_entries_of(party, kind)
        return [e for e in entries if e.residual < 0]

    def claimed_by_others(self, party: str, transaction_id: str) -> set[str]:
        """This party's invoices claimed by another transaction's pending suggestion."""
        claims = self._claims_by_party.get(party)
        if not claims:
            return set()
        return {i for i in claims if self.reserved_by_others(i, transaction_id)}

    def open_count_of(self, key: str) -> int:
        return len(self._open_by_name.get(key, ()))

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _name_index_words(key: str) -> set[str]:
        words: set[str] = set()
        for word in name_tokens(key):
            words.add(word)
            if len(word) > NAME_PREFIX_LEN:
                words.add(word[:NAME_PREFIX_LEN] + "*")
        return words

    @staticmethod
    def _totals(allocations: Sequence[Allocation]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for allocation in allocations:
            totals[allocation.invoice_id] = (
                totals.get(allocation.invoice_id, 0) + allocation.amount_cents
            )
        return totals

    def _index_open(self, entry: BookEntry) -> None:
        _add(self._open_by_name, entry.party, entry.id)
        self._open_sorted.pop((entry.party, entry.invoice.kind), None)
        self._index_amount(entry)

    def _unindex_open(self, entry: BookEntry) -> None:
        _discard(self._open_by_name, entry.party, entry.id)
        self._open_sorted.pop((entry.party, entry.invoice.kind), None)
        self._unindex_amount(entry)

    def _index_amount(self, entry: BookEntry) -> None:
        bucket = self._by_amount.setdefault((entry.invoice.kind, entry.residual), {})
        bucket[entry.id] = None
        if entry.residual < 0:
            self._negatives[(entry.party, entry.invoice.kind)] += 1

    def _unindex_amount(self, entry: BookEntry) -> None:
        if entry.residual < 0:
            self._negatives[(entry.party, entry.invoice.kind)] -= 1
        key = (entry.invoice.kind, entry.residual)
        bucket = self._by_amount.get(key)
        if bucket is not None:
            bucket.pop(entry.id, None)
            if not bucket:
                del self._by_amount[key]

    def _set_residual(self, entry: BookEntry, residual: int) -> None:
        was_open = entry.is_open
        if was_open:
            self._unindex_amount(entry)
        entry.residual = residual
        if entry.is_open:
            self._index_amount(entry)
            if not was_open:
                _add(self._open_by_name, entry.party, entry.id)
                self._open_sorted.pop((entry.party, entry.invoice.kind), None)
        elif was_open:
            _discard(self._open_by_name, entry.party, entry.id)
            cached = self._open_sorted.get((entry.party, entry.invoice.kind))
            if cached is not None:  # keep the sorted list: drop the closed item
                cached[0].remove(entry)
