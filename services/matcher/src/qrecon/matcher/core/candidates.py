"""Candidate allocations for one transaction, from the evidence (``evidence.Evidence``).

For every counterparty the evidence points to, and for both directions (a credit pays
receivables or is the refund of a payable credit note, and the other way round for a
debit), candidates over its open items, in this order:

1. the invoices the reference names (with or without extra items such as credit notes,
   found by a bounded subset-sum);
2. a single invoice of the exact amount (the one the text names among equal ones, else
   the oldest), and the groups of other items adding up to it exactly (another reading);
3. a bounded subset-sum (exact, then within the fee tolerance), for a counterparty the
   evidence points to firmly;
4. a partial payment of the oldest item larger than the payment;

and, when nothing else exists, invoices of exactly this amount anywhere (``amount.only``).
``allocate`` (module ``allocation``) turns a candidate into allocations and a residual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from qrecon.matcher.core.allocation import allocate
from qrecon.matcher.core.book import BookEntry
from qrecon.matcher.core.config import EngineConfig
from qrecon.matcher.core.evidence import (
    CP_FUZZY,
    REF_EXACT,
    REF_FUZZY,
    REF_PARTIAL,
    Evidence,
    RefHit,
    typo_hits,
)
from qrecon.matcher.core.rules import KINDS, direction, same_currency
from qrecon.matcher.core.subset import find_subsets

__all__ = ["Proposal", "allocate", "find_candidates", "fit_of"]


@dataclass(slots=True)
class Proposal:
    """A candidate allocation while it is scored (``engine.Candidate`` is its public view)."""

    name: str
    kind: str
    sign: int  # +1: the transaction pays these items; -1: it refunds (credit notes)
    entries: tuple[BookEntry, ...]
    fit: str  # exact | fee | partial | over
    total: int  # sum of the items' residuals seen from the transaction (sign applied)
    tie: bool = False
    tie_unsettled: bool = False  # every equal invoice is claimed by a pending suggestion
    # several items, some of them the oldest of equal ones the text does not tell apart
    twins_left: bool = False
    # found by a subset search over only part of the counterparty's open items (the oldest):
    # another combination of the same amount may exist among the others
    bounded: bool = False
    score: float = 0.0
    features: dict[str, float] = field(default_factory=dict)
    blocked: bool = False
    decisive: bool = False
    reasons: list[str] = field(default_factory=list)

    ids: frozenset[str] = frozenset()  # set by the collector (dedup key)
    # The reading up to interchangeable invoices (set by ``scoring.score``): two candidates
    # of the same shape allocate the same amounts to the same counterparty, differing only
    # by equal invoices the text does not tell apart. None: never the same as another.
    shape: tuple[Any, ...] | None = None

    def sort_key(self) -> tuple[Any, ...]:
        return (-self.score, len(self.entries), [e.order for e in self.entries])


Add = Callable[[Proposal], Proposal]


class _Collector:
    """The candidates found so far, one per set of invoices (the first one found is kept)."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: dict[frozenset[str], Proposal] = {}

    def add(self, candidate: Proposal) -> Proposal:
        key = frozenset([e.id for e in candidate.entries])
        known = self.found.get(key)
        if known is not None:
            return known
        candidate.ids = key
        self.found[key] = candidate
        return candidate


# ---------------------------------------------------------------------- amounts
def fee_range(cfg: EngineConfig, total: int) -> int:
    return min(cfg.fee_tolerance_cents, int(total * cfg.fee_tolerance_ratio))


def fit_of(cfg: EngineConfig, total: int, amount: int) -> str | None:
    """How items totalling ``total`` fit a payment of ``amount`` (None: they cannot)."""
    if total <= 0:
        return None
    if total == amount:
        return "exact"
    if total > amount:
        return "fee" if total - amount <= fee_range(cfg, total) else "partial"
    return "over"


def _pool(limit: int, indices: list[int], values: list[int]) -> list[int]:
    """At most ``limit`` indices for a subset search: every credit note (they are few and
    change what adds up), then the oldest invoices."""
    if len(indices) <= limit:
        return indices
    negatives = [i for i in indices if values[i] < 0][: limit // 2]
    positives = [i for i in indices if values[i] >= 0][: limit - len(negatives)]
    return sorted(negatives + positives)


# ---------------------------------------------------------------------- entry point
def find_candidates(cfg: EngineConfig, ev: Evidence) -> list[Proposal]:
    """Every candidate the evidence supports (unscored, in the order found, deduplicated)."""
    collector = _Collector()
    names = _parties(ev)
    book = ev.book
    for name in names:
        if not book.open_count_of(name):
            continue
        for kind in KINDS:
            sign = direction(kind, ev.tx.side)
            items = usable_items(ev, name, kind, refund=sign < 0)
            if not items:
                continue
            search = _may_search(cfg, ev, name, sign, items)
            _PartySearch(cfg, ev, name, kind, sign, items, collector.add).run(search)
    if ev.noise is None and (not collector.found or not ev.cp_hits):
        _amount_only(cfg, ev, names, collector.add)
    return list(collector.found.values())


def _parties(ev: Evidence) -> dict[str, None]:
    """The counterparties the evidence points to, then those of the invoices it names."""
    names: dict[str, None] = dict.fromkeys(ev.cp_hits)
    for invoice_id, hit in ev.ref_hits.items():
        if hit.level < REF_FUZZY:
            continue  # a partial number adds weight to a party, it does not bring one
        entry = ev.book.entry(invoice_id)
        if entry is not None and entry.is_open:
            names[entry.party] = None
    return names


def _may_search(
    cfg: EngineConfig, ev: Evidence, name: str, sign: int, items: list[BookEntry]
) -> bool:
    """The subset-sum only for a party the evidence points to firmly."""
    cp = ev.cp_hits.get(name)
    if ev.noise is not None or sign < 0:
        return False
    if cp is not None and (cp.level != CP_FUZZY or cp.score >= cfg.name_auto_min_score):
        return True
    hits = ev.ref_hits
    return bool(hits) and any(e.id in hits for e in items)


def _amount_only(cfg: EngineConfig, ev: Evidence, names: dict[str, None], add: Add) -> None:
    """Invoices of exactly this amount, of any other counterparty (a few at most)."""
    amount = ev.amount
    for kind in KINDS:
        sign = direction(kind, ev.tx.side)
        ids = ev.book.ids_by_amount(kind, sign * amount)
        if not ids or len(ids) > cfg.amount_only_max:
            continue
        for invoice_id in ids:
            entry = ev.book.entry(invoice_id)
            if entry is None or entry.party in names:
                continue
            if not _usable(ev, entry):
                continue
            add(Proposal(entry.party, kind, sign, (entry,), "exact", sign * entry.residual))


# ---------------------------------------------------------------------- items
def _usable(ev: Evidence, entry: BookEntry) -> bool:
    if not same_currency(entry.invoice.currency, ev.tx.currency):
        return False
    if ev.knowledge is not None and ev.knowledge.is_rejected(ev.tx.id, entry.id):
        ev.rejected_any = True
        return False
    return True


def usable_items(ev: Evidence, name: str, kind: str, *, refund: bool = False) -> list[BookEntry]:
    """The party's open items of this kind usable for this transaction (never mutate);
    only its credit notes for a refund."""
    book = ev.book
    latest_issue: date | None
    if refund:
        items = book.open_credit_notes_of(name, kind)
        if not items:
            return items
        latest_issue = max(e.issue for e in items)
    else:
        items, latest_issue = book.open_entries_of(name, kind)
    if (ev.knowledge is not None and ev.knowledge.has_rejections) or book.currencies != {
        ev.tx.currency
    }:
        items = [entry for entry in items if _usable(ev, entry)]
    if ev.refs.weak_keys:
        _name_last_digits(ev, items)
    if ev.refs.digit_strings:
        if name not in ev.exactly_named:
            _name_typos(ev, items)
        elif not _names_settled(ev, name) and not _named_fit(ev, items):
            # another reading: a typo of an invoice that fits (not when the text names a
            # settled invoice: a payment made twice is not a typo)
            _name_typos(ev, [e for e in items if abs(e.residual) == ev.amount])
    return _in_preference_order(ev, name, items, latest_issue)


def _name_last_digits(ev: Evidence, items: list[BookEntry]) -> None:
    """A short number ("68 + 42") that ends too many invoices of the book to name any
    still names, among this counterparty's items, those whose number it ends."""
    weak = ev.refs.weak_keys
    hits = ev.ref_hits
    for e in items:
        key = e.last_key
        if key is not None and len(key) >= 2 and key in weak and e.id not in hits:
            hits[e.id] = RefHit(REF_PARTIAL)


def _names_settled(ev: Evidence, name: str) -> bool:
    """Whether the text names exactly a settled invoice of this counterparty."""
    for invoice_id in ev.closed_ref_ids:
        entry = ev.book.entry(invoice_id)
        if entry is not None and entry.party == name:
            return True
    return False


def _named_fit(ev: Evidence, items: list[BookEntry]) -> bool:
    """Whether the invoices the text names exactly pay the amount (alone or together):
    when they do not, a number one typo away from an invoice of exactly the amount may be
    the one meant."""
    hits = ev.ref_hits
    named = [abs(e.residual) for e in items if e.id in hits and hits[e.id].level >= REF_EXACT]
    return ev.amount in named or sum(named) == ev.amount


def _name_typos(ev: Evidence, items: list[BookEntry]) -> None:
    """A number one typo away from one in the text names the invoice (only for this
    counterparty's items, and only when the text names none of its invoices exactly)."""
    hits = ev.ref_hits
    unnamed = [
        e
        for e in items
        if (e.id not in hits or hits[e.id].level < REF_FUZZY) and e.issue <= ev.issued_by
    ]
    for invoice_id in typo_hits(ev, unnamed):
        ev.ref_hits[invoice_id] = RefHit(REF_FUZZY)


def _in_preference_order(
    ev: Evidence, name: str, items: list[BookEntry], latest_issue: date | None
) -> list[BookEntry]:
    """Oldest first, except that invoices issued after the payment, then invoices claimed
    by another transaction's pending suggestion, come last: an equally fitting invoice
    that is neither is preferred (FIFO among those). The sort is stable."""
    limit = ev.issued_by
    later: list[BookEntry] = []
    if latest_issue is not None and latest_issue > limit:
        # invoices issued after the payment: only those the text names are candidates
        hits = ev.ref_hits
        later = [e for e in items if e.issue > limit and e.id in hits]
        items = [e for e in items if e.issue <= limit]
    claimed = ev.book.claimed_by_others(name, ev.tx.id)
    if claimed:
        items = sorted(items, key=lambda e: e.id in claimed)
    return items + later if later else items


# ---------------------------------------------------------------------- one party
class _PartySearch:
    """Candidates over one counterparty's open items of one kind."""

    __slots__ = ("add", "amount", "cfg", "ev", "items", "kind", "name", "sign", "values")

    def __init__(
        self,
        cfg: EngineConfig,
        ev: Evidence,
        name: str,
        kind: str,
        sign: int,
        items: list[BookEntry],
        add: Add,
    ) -> None:
        self.cfg = cfg
        self.ev = ev
        self.name = name
        self.kind = kind
        self.sign = sign
        self.items = items
        self.add = add
        self.amount = ev.amount
        self.values = [sign * e.residual for e in items]

    def run(self, search: bool) -> None:
        """``search`` allows the subset-sum (for a counterparty the evidence points to firmly)."""
        decided_by_reference = self._named_by_reference(search)
        single = self._single_exact()
        if single is not None:
            if search and not decided_by_reference:
                self._competing_groups(single)
            return
        if not search or decided_by_reference:
            return
        if self._subset_sums():
            return
        self._partial()

    def _named_first(self, indices: list[int], limit: int = 0) -> tuple[list[int], int]:
        """At most ``limit`` (``max_subset_items``) of ``indices`` for a subset search,
        the items the text names (at any level, a partial number too) first and always
        kept, the rest after, each part in its order (oldest first): a number in the text
        decides between equal amounts before any date does, and an invoice it names is
        searched however many older ones are open. Also returns how many are named."""
        values = self.values
        limit = limit or self.cfg.max_subset_items
        hits = self.ev.ref_hits
        items = self.items
        named = [i for i in indices if items[i].id in hits] if hits else []
        if not named:
            return _pool(limit, indices, values), 0
        named = named[:limit]
        rest = [i for i in indices if items[i].id not in hits]
        return named + _pool(limit - len(named), rest, values), len(named)

    def _make(self, indices: Sequence[int], fit: str, tie: bool = False) -> Proposal:
        chosen = tuple(self.items[i] for i in indices)
        total = sum(self.values[i] for i in indices)
        return self.add(Proposal(self.name, self.kind, self.sign, chosen, fit, total, tie))

    def _named_by_reference(self, search: bool) -> bool:
        """1. What the reference names, alone or with other items (credit notes, ...).

        True when the reference alone decides (an exact number whose invoices fit)."""
        cfg, items, values, amount = self.cfg, self.items, self.values, self.amount
        hits = self.ev.ref_hits
        referenced = [
            i for i, e in enumerate(items) if e.id in hits and hits[e.id].level >= REF_FUZZY
        ]
        if not referenced:
            return False
        total = sum(values[i] for i in referenced)
        fit = fit_of(cfg, total, amount)
        if fit is not None:
            self._make(referenced, fit)
        if len(referenced) > 1:
            for i in referenced:
                single = fit_of(cfg, values[i], amount)
                if single is not None:
                    self._make([i], single)
        named = set(referenced)
        rest = [i for i in range(len(items)) if i not in named]
        room = cfg.max_subset_size - len(referenced)
        strong = any(hits[items[i].id].level >= REF_EXACT for i in referenced)
        if search and strong and rest and room > 0 and fit != "exact":
            self._complete_reference(referenced, rest, room, total)
        return strong and fit is not None

    def _complete_reference(
        self, referenced: list[int], rest: list[int], room: int, total: int
    ) -> None:
        """The named items plus a few others that make the amount (exact or fee-short)."""
        cfg, values, amount = self.cfg, self.values, self.amount
        rest, named = self._named_first(rest)
        rest_values = [values[i] for i in rest]
        need = amount - total
        for combo in find_subsets(
            rest_values,
            need,
            need + fee_range(cfg, total + max(0, need)),
            max_size=room,
            limit=cfg.max_subset_solutions,
            named=named,
        ):
            indices = sorted([*referenced, *(rest[j] for j in combo)])
            chosen_total = sum(values[i] for i in indices)
            chosen_fit = fit_of(cfg, chosen_total, amount)
            if chosen_fit in ("exact", "fee"):
                self._make(indices, chosen_fit)

    def _single_exact(self) -> Proposal | None:
        """2. One invoice of exactly this amount (the oldest of equal ones), if any."""
        exact = [i for i, v in enumerate(self.values) if v == self.amount]
        if not exact:
            return None
        hits = self.ev.ref_hits
        named = [i for i in exact if self.items[i].id in hits]
        if len(named) == 1:  # the text tells the equal invoices apart
            return self._make(named, "exact")
        exact = named or exact
        oldest = self._make([exact[0]], "exact", tie=len(exact) > 1)
        book = self.ev.book
        if oldest.tie and book.has_reservations:
            # Equal invoices claimed by suggestions awaiting review come last: the one
            # taken is claimed only when all are, and then which is still due is uncertain.
            # One claimed while another is free is no doubt: they are interchangeable.
            oldest.tie_unsettled = book.reserved_by_others(self.items[exact[0]].id, self.ev.tx.id)
        return oldest

    def _subset_sums(self) -> bool:
        """3. Several invoices (credit notes netted), exact then within the fee tolerance.

        True when some subset came close enough (then no partial payment is proposed)."""
        cfg, values, amount = self.cfg, self.values, self.amount
        tolerance = min(
            cfg.fee_tolerance_cents,
            int(amount * cfg.fee_tolerance_ratio / (1 - cfg.fee_tolerance_ratio)),
        )
        # an item larger than the payment and every credit note together cannot be part of it
        cap = amount + tolerance - sum(v for v in values if v < 0)
        pool = [i for i, v in enumerate(values) if v <= cap]
        if sum(values[i] for i in pool if values[i] > 0) < amount:
            pool = []
        bounded = len(pool) > cfg.max_subset_items  # not every combination is searched
        pool, named = self._named_first(pool)
        pool_values = [values[i] for i in pool]
        solutions = find_subsets(
            pool_values,
            amount,
            amount + tolerance,
            max_size=cfg.max_subset_size,
            limit=2 * cfg.max_subset_solutions,
            named=named,
        )
        fits = [
            (combo, fit_of(cfg, sum(pool_values[j] for j in combo), amount)) for combo in solutions
        ]
        if any(fit == "exact" for _, fit in fits):  # exact first: a fee is only a fallback
            fits = [(combo, fit) for combo, fit in fits if fit == "exact"]
        for combo, fit in fits[: cfg.max_subset_solutions]:
            if fit in ("exact", "fee"):
                found = self._make([pool[j] for j in combo], fit)
                if bounded and len(found.entries) > 1:
                    found.bounded = True
                found.twins_left = found.twins_left or _twins_left(pool_values, combo, named)
        return bool(fits)

    def _competing_groups(self, single: Proposal) -> None:
        """2b. Beside a single invoice of exactly this amount, two or more other invoices
        that add up to it exactly: another reading of the same payment (competing
        explanations; the scores and ``scoring.competitor`` weigh them). Searched over up
        to ``max_competing_items`` items; beyond, ``single`` is marked ``bounded``."""
        cfg, values, amount = self.cfg, self.values, self.amount
        pool = [i for i, v in enumerate(values) if 0 < v < amount]
        if len(pool) < 2 or sum(values[i] for i in pool) < amount:
            return
        if len(pool) > cfg.max_competing_items:
            single.bounded = True
        pool, named = self._named_first(pool, cfg.max_competing_items)
        pool_values = [values[i] for i in pool]
        for combo in find_subsets(
            pool_values,
            amount,
            amount,
            max_size=cfg.max_subset_size,
            min_size=2,
            limit=cfg.max_subset_solutions,
            named=named,
        ):
            self._make([pool[j] for j in combo], "exact")

    def _partial(self) -> None:
        """4. A partial payment of the oldest item larger than the payment."""
        for i, value in enumerate(self.values):
            if value > self.amount:
                self._make([i], "partial")
                break


def _twins_left(values: list[int], combo: tuple[int, ...], named: int) -> bool:
    """Whether an item of ``combo`` not named (index >= ``named``) has an equal one left out
    (the subset search keeps the oldest of equal values)."""
    chosen = set(combo)
    taken = {values[j] for j in combo if j >= named}
    return any(values[j] in taken for j in range(named, len(values)) if j not in chosen)
