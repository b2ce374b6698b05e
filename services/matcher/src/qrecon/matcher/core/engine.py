"""The matching engine: one Qonto transaction + the invoice book -> one MatchResult.

Pure and deterministic: ``decide`` reads the book and never changes it; the same
transaction, book and knowledge always give the same result (``decided_at`` defaults to
the transaction's version, ``updated_at``).

How a decision is made
----------------------
1. *Gates.* A declined transaction, a Qonto fee, a zero amount: ``unmatched``. A pending
   transaction or *noise* (card spend or refund, salary, a payout from a payment
   processor, a refund) is at best ``suggested``.
2. *Evidence.* References read from ``reference`` and ``label`` (invoice numbers, RF
   creditor references, payment references); the payer's IBAN (validated) and name
   (``clean_counterparty_name``, ``label``, the nested counterparty object) looked up
   exactly, through the reviewers' aliases, then fuzzily.
3. *Candidates.* For every counterparty the evidence points to, and for both directions
   (a credit pays receivables or is the refund of a payable credit note, and the other
   way round for a debit), candidate allocations over its open items: the invoices the
   reference names (with or without extra items such as credit notes), a single invoice
   of the exact amount (the oldest of equal ones), a bounded subset-sum (exact, then
   within the fee tolerance), a partial payment of the oldest item; and, when nothing
   else exists, invoices of exactly this amount anywhere (``amount.only``).
4. *Scores.* Each candidate's score is the sum of the weights of its signals
   (``Weights``, log-odds); its confidence is ``sigmoid(a * score + b)`` with ``(a, b)``
   = ``EngineConfig.calibration`` (Platt scaling fitted on generated tuning seeds).
5. *Decision.* ``auto_matched`` when the best candidate's evidence is decisive (a
   reference, or a known counterparty with an exact or fee-short amount), its confidence
   reaches ``auto_threshold``, no different candidate scores within
   ``competitor_margin``, nothing caps it (status, noise, an invoice issued after the
   payment); otherwise ``suggested`` above ``suggest_threshold``; otherwise ``unmatched``.

The result
----------
* ``allocations``: the best candidate's allocation, also when only suggested (empty when
  unmatched). Amounts are in each invoice's own sign: positive against an invoice,
  negative against a credit note netted in the same payment.
* ``residual_cents`` = transaction amount - |sum of allocations|, in cents:
  ``0`` when the payment is fully allocated; ``> 0`` money not allocated (an
  overpayment: the invoices are settled and the excess is left; the whole amount when
  unmatched); ``< 0`` a shortfall, only with reason ``amount.fee_shortfall``: the
  invoices are allocated in full and ``-residual_cents`` is a bank fee deducted by the
  payer's bank. A partial payment (``amount.partial``) allocates the whole transaction
  to the oldest named invoices and leaves their remaining residual open in the book.
* ``confidence``: the estimated probability that ``allocations`` is right; for
  ``unmatched``, that of the best candidate discarded (0.0 if there was none).
* ``reasons``: machine-readable signals, e.g. ``reference.invoice_number.exact``,
  ``counterparty.iban``, ``amount.subset_sum``, ``competitor.close``, ``noise.card``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from qrecon.common.schemas import Allocation, MatchResult, QontoTransaction
from qrecon.matcher.core.book import BookEntry, InvoiceBook
from qrecon.matcher.core.config import MATCHER_VERSION, EngineConfig
from qrecon.matcher.core.knowledge import Knowledge
from qrecon.matcher.core.normalize import (
    fold,
    label_compact,
    label_name_key,
    name_similarity,
    name_tokens,
    normalise_iban,
)
from qrecon.matcher.core.references import MIN_TYPO_DIGITS, ReferenceQuery, read_references
from qrecon.matcher.core.rules import KINDS, direction, same_currency
from qrecon.matcher.core.subset import find_subsets

__all__ = ["Candidate", "Explanation", "MatchingEngine"]

SIMILAR_CACHE_SIZE = 65536
# Reference evidence levels, strongest first.
REF_PAYREF, REF_EXACT, REF_FUZZY, REF_PARTIAL = 4, 3, 2, 1
CP_IBAN, CP_EXACT, CP_ALIAS, CP_FUZZY = "iban", "exact", "alias", "fuzzy"
_STRONG_CP = frozenset({CP_IBAN, CP_EXACT, CP_ALIAS})

_SALARY_WORDS = frozenset(
    {"SALAIRE", "SALAIRES", "PAIE", "REMUNERATION", "SALARY", "PAYROLL", "NDF", "FRAIS"}
)
_REFUND_WORDS = frozenset({"REMBOURSEMENT", "REMB", "REFUND", "RETOUR", "ANNULATION"})
_PAYOUT_WORDS = frozenset(
    {"STRIPE", "PAYPAL", "SUMUP", "ADYEN", "PAYPLUG", "MOLLIE", "PAYOUT", "PAYOUTS", "LYDIA"}
)
_WORD = re.compile(r"[A-Z]+")
_LEVEL_FEATURES = {
    REF_PAYREF: "ref_payment_reference",
    REF_EXACT: "ref_exact",
    REF_FUZZY: "ref_fuzzy",
    REF_PARTIAL: "ref_partial",
}
_LEVEL_REASONS = {
    REF_PAYREF: "reference.payment_reference.exact",
    REF_EXACT: "reference.invoice_number.exact",
    REF_FUZZY: "reference.invoice_number.fuzzy",
    REF_PARTIAL: "reference.invoice_number.partial",
}
_CP_FEATURES = {CP_IBAN: "cp_iban", CP_EXACT: "cp_exact", CP_ALIAS: "cp_alias"}
_CP_REASONS = {
    CP_IBAN: "counterparty.iban",
    CP_EXACT: "counterparty.name.exact",
    CP_ALIAS: "counterparty.alias",
}
_FIT_FEATURES = {
    "exact": "amount_exact",
    "fee": "amount_fee",
    "partial": "amount_partial",
    "over": "amount_over",
}
_FIT_REASONS = {
    "fee": "amount.fee_shortfall",
    "partial": "amount.partial",
    "over": "amount.overpayment",
}
_COUNTERPARTY_NAME_FIELDS = (
    "counterparty_name",
    "name",
    "creditor_name",
    "debtor_name",
    "beneficiary_name",
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A candidate allocation as the engine scored it (``MatchingEngine.explain``)."""

    allocations: list[Allocation]
    residual_cents: int
    confidence: float
    score: float  # log-odds
    features: dict[str, float]  # Weights field name -> value
    reasons: list[str]
    decisive: bool
    blocked: bool  # an invoice issued after the payment


@dataclass(frozen=True, slots=True)
class Explanation:
    result: MatchResult
    candidates: list[Candidate]  # best first; empty when no candidate was found


@dataclass(slots=True)
class _RefHit:
    level: int
    prefix: bool = False


@dataclass(slots=True)
class _CpHit:
    level: str
    score: float  # name similarity 0..100 (100 for iban/exact/alias)


@dataclass(slots=True)
class _Candidate:
    name: str
    kind: str
    sign: int  # +1: the transaction pays these items; -1: it refunds (credit notes)
    entries: tuple[BookEntry, ...]
    fit: str  # exact | fee | partial | over
    total: int  # sum of the items' residuals seen from the transaction (sign applied)
    tie: bool = False
    tie_unsettled: bool = False  # one of the equal invoices is claimed by a pending suggestion
    score: float = 0.0
    features: dict[str, float] = field(default_factory=dict)
    blocked: bool = False
    decisive: bool = False
    reasons: list[str] = field(default_factory=list)

    ids: frozenset[str] = frozenset()  # set by the collector (dedup key)

    def sort_key(self) -> tuple[Any, ...]:
        return (-self.score, len(self.entries), [e.order for e in self.entries])


@dataclass(slots=True)
class _Context:
    tx: QontoTransaction
    book: InvoiceBook
    knowledge: Knowledge | None
    amount: int
    tx_date: date
    refs: ReferenceQuery
    ref_hits: dict[str, _RefHit]
    closed_ref_ids: list[str]
    cp_hits: dict[str, _CpHit]
    observed_name: bool
    strong_other: set[str]  # counterparties the payer strongly matches
    noise: str | None
    issued_by: date  # an invoice issued after this is issued after the payment
    exactly_named: set[str]  # counterparties of the invoices the text names exactly
    rejected_any: bool = False


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def transaction_date(tx: QontoTransaction) -> date:
    stamp = tx.settled_at or tx.emitted_at or tx.created_at or tx.updated_at
    return stamp.date()


class MatchingEngine:
    """Decides one transaction at a time against an InvoiceBook (see the module doc)."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config if config is not None else EngineConfig()
        self.version = MATCHER_VERSION
        self._similar_cache: dict[tuple[int, int, str, str], list[tuple[str, float]]] = {}

    # ------------------------------------------------------------------ entry point
    def decide(
        self,
        tx: QontoTransaction,
        book: InvoiceBook,
        knowledge: Knowledge | None = None,
        *,
        decided_at: datetime | None = None,
    ) -> MatchResult:
        """The decision for ``tx``; pure (the book is not changed) and deterministic."""
        return self._decide(tx, book, knowledge, decided_at, views=False).result

    def explain(
        self,
        tx: QontoTransaction,
        book: InvoiceBook,
        knowledge: Knowledge | None = None,
        *,
        decided_at: datetime | None = None,
    ) -> Explanation:
        """The decision and every candidate considered, best first (for reviewers, tuning)."""
        return self._decide(tx, book, knowledge, decided_at, views=True)

    def _decide(
        self,
        tx: QontoTransaction,
        book: InvoiceBook,
        knowledge: Knowledge | None,
        decided_at: datetime | None,
        *,
        views: bool,
    ) -> Explanation:
        stamp = decided_at if decided_at is not None else tx.updated_at
        pre: list[str] = []
        cap_suggest = False
        if tx.status != "completed":
            pre += ["status.not_completed", f"status.{tx.status}"]
            if tx.status == "declined":
                return self._explained(tx, stamp, "unmatched", None, 0.0, pre)
            cap_suggest = True
        noise = self._noise(tx)
        if noise == "noise.bank_fee":
            return self._explained(tx, stamp, "unmatched", None, 0.0, [*pre, noise])
        if noise is not None:
            pre.append(noise)
            cap_suggest = True
        if tx.amount_cents <= 0:
            return self._explained(tx, stamp, "unmatched", None, 0.0, [*pre, "amount.zero"])

        ctx = self._context(tx, book, knowledge, noise)
        candidates = self._candidates(ctx)
        if ctx.rejected_any:
            pre.append("knowledge.rejected_pair")
        if not candidates:
            if ctx.closed_ref_ids:
                pre.append("reference.invoice_closed")
                pre.append("duplicate.suspected")
            return self._explained(tx, stamp, "unmatched", None, 0.0, pre)
        for candidate in candidates:
            self._score(ctx, candidate)
        candidates.sort(key=_Candidate.sort_key)
        best = candidates[0]
        confidence = self._confidence(best.score)
        reasons = [*pre, *best.reasons]
        competitor = self._competitor(best, candidates[1:])
        if competitor:
            reasons.append("competitor.close")
        if ctx.closed_ref_ids and not any(
            ctx.ref_hits.get(e.id, _RefHit(0)).level >= REF_EXACT for e in best.entries
        ):
            reasons.append("reference.invoice_closed")
        cfg = self.config
        if (
            not cap_suggest
            and not competitor
            and not best.blocked
            and best.decisive
            and confidence >= cfg.auto_threshold
        ):
            status = "auto_matched"
        elif confidence >= cfg.suggest_threshold:
            status = "suggested"
        else:
            status = "unmatched"
        return self._explained(
            tx,
            stamp,
            status,
            None if status == "unmatched" else best,
            confidence,
            reasons,
            candidates if views else None,
        )

    def _explained(
        self,
        tx: QontoTransaction,
        stamp: datetime,
        status: str,
        best: _Candidate | None,
        confidence: float,
        reasons: list[str],
        candidates: list[_Candidate] | None = None,
    ) -> Explanation:
        result = self._result(tx, stamp, status, best, confidence, reasons)
        views = []
        for c in candidates or ():
            allocations, residual = self._allocate(c, tx.amount_cents)
            views.append(
                Candidate(
                    allocations=allocations,
                    residual_cents=residual,
                    confidence=self._confidence(c.score),
                    score=c.score,
                    features=dict(c.features),
                    reasons=list(dict.fromkeys(c.reasons)),
                    decisive=c.decisive,
                    blocked=c.blocked,
                )
            )
        return Explanation(result=result, candidates=views)

    def _confidence(self, score: float) -> float:
        a, b = self.config.calibration
        return _sigmoid(a * score + b)

    # ------------------------------------------------------------------ gates
    @staticmethod
    def _noise(tx: QontoTransaction) -> str | None:
        op = (tx.operation_type or "").lower()
        subject = (tx.subject_type or "").lower()
        if op == "qonto_fee" or subject == "qonto_fee":
            return "noise.bank_fee"
        if op == "card" or subject == "card":
            return "noise.card"
        text = fold(" ".join(x for x in (tx.label, tx.reference, tx.category) if x))
        words = set(_WORD.findall(text))
        category = (tx.category or "").lower()
        if tx.side == "debit" and (words & _SALARY_WORDS or category in {"salary", "payroll"}):
            return "noise.salary"
        if tx.side == "credit" and words & _PAYOUT_WORDS:
            return "noise.payout"
        if tx.side == "credit" and (words & _REFUND_WORDS or category == "refund"):
            return "noise.refund"
        return None

    # ------------------------------------------------------------------ evidence
    def _context(
        self,
        tx: QontoTransaction,
        book: InvoiceBook,
        knowledge: Knowledge | None,
        noise: str | None,
    ) -> _Context:
        cfg = self.config
        refs = read_references((tx.reference, tx.label), book.patterns())
        ref_hits: dict[str, _RefHit] = {}
        closed: list[str] = []

        def hit(invoice_id: str, level: int, prefix: bool = False) -> None:
            current = ref_hits.get(invoice_id)
            if current is None or level > current.level:
                ref_hits[invoice_id] = _RefHit(level, prefix)
            elif level == current.level and prefix:
                current.prefix = True

        for token in (*refs.rf_valid, *refs.tokens):
            for invoice_id in book.ids_by_payref(token):
                hit(invoice_id, REF_PAYREF)
        for key, prefix in refs.keys.items():
            ids = book.ids_by_digit_key(key)
            if not ids or len(ids) > cfg.reference_max_fanout:  # type: ignore[arg-type]
                continue
            digits = len(key) - key.count("-")
            level = REF_EXACT if digits >= cfg.min_exact_key_digits else REF_PARTIAL
            for invoice_id in ids:
                entry = book.entry(invoice_id)
                same_prefix = bool(
                    prefix and entry is not None and entry.prefix and prefix == entry.prefix
                )
                hit(invoice_id, level, same_prefix)
        for key in refs.weak_keys:
            if len(key) < 2:
                continue
            ids = book.ids_by_last_key(key)
            if not ids or len(ids) > cfg.weak_reference_max_fanout:  # type: ignore[arg-type]
                continue
            for invoice_id in ids:
                hit(invoice_id, REF_PARTIAL)
        for invoice_id, ref in ref_hits.items():
            entry = book.entry(invoice_id)
            if ref.level >= REF_EXACT and entry is not None and not entry.is_open:
                closed.append(invoice_id)

        # counterparty
        nested = tx.counterparty
        iban = None
        account = nested.get("counterparty_account_number")
        if isinstance(account, str) and nested.get("counterparty_account_number_format") in (
            None,
            "IBAN",
            "iban",
        ):
            iban = normalise_iban(account)
        observed: dict[str, str] = {}  # name key -> compact form
        texts = [tx.clean_counterparty_name, tx.label]
        texts += [nested.get(field_name) for field_name in _COUNTERPARTY_NAME_FIELDS]
        for text in texts:
            if isinstance(text, str) and text:
                key = label_name_key(text)
                if key and key not in observed:
                    observed[key] = label_compact(text)
        cp_hits: dict[str, _CpHit] = {}
        if iban:
            for party in book.parties_by_iban(iban):
                cp_hits[party] = _CpHit(CP_IBAN, 100.0)
        for key in observed:
            for party in book.parties_of(key):
                if party not in cp_hits:
                    cp_hits[party] = _CpHit(CP_EXACT, 100.0)
        if knowledge is not None:
            for name in knowledge.aliases(observed, iban):
                for party in book.parties_of(name):
                    if party not in cp_hits:
                        cp_hits[party] = _CpHit(CP_ALIAS, 100.0)
        strong = set(cp_hits)
        fuzzy: dict[str, float] = {}
        # Similar names: not for noise (card, salary, payout...: firm evidence only), nor
        # when the payer's IBAN already says who they are.
        fuzzy_names = noise is None and not any(hit.level == CP_IBAN for hit in cp_hits.values())
        for key, compact in observed.items() if fuzzy_names else ():
            for name, score in self._similar_names(book, key, compact):
                if name not in observed and score > fuzzy.get(name, 0.0):
                    fuzzy[name] = score
        ranked = sorted(fuzzy.items(), key=lambda kv: (-kv[1], kv[0]))
        for name, score in ranked[: cfg.max_name_candidates]:
            for party in book.parties_of(name):
                if party not in cp_hits:
                    # the same letters spaced differently ("SWISSLIFE", "Swiss Life"): exact
                    cp_hits[party] = _CpHit(CP_EXACT if score >= 100.0 else CP_FUZZY, score)
        return _Context(
            tx=tx,
            book=book,
            knowledge=knowledge,
            amount=tx.amount_cents,
            tx_date=transaction_date(tx),
            refs=refs,
            ref_hits=ref_hits,
            closed_ref_ids=closed,
            cp_hits=cp_hits,
            observed_name=bool(observed) or iban is not None,
            strong_other=strong,
            noise=noise,
            issued_by=transaction_date(tx) + timedelta(days=cfg.date_tolerance_days),
            exactly_named={
                entry.party
                for invoice_id, hit in ref_hits.items()
                if hit.level >= REF_EXACT and (entry := book.entry(invoice_id)) is not None
            },
        )

    def _similar_names(self, book: InvoiceBook, key: str, compact: str) -> list[tuple[str, float]]:
        """Name keys of the book like ``key`` (similarity >= name_min_score), best first.

        Memoised per book and version of its set of names (a pure function of both).
        """
        cache_key = (book.uid, book.names_version, key, compact)
        cached = self._similar_cache.get(cache_key)
        if cached is not None:
            return cached
        cfg = self.config
        # candidates: the names sharing the query's rarer words (or their 4-letter stems)
        probes: list[tuple[int, str]] = []
        for word in name_tokens(key):
            for probe in (word, word[:4] + "*" if len(word) > 4 else None):
                if probe is not None:
                    size = len(book.names_by_word(probe))
                    if 0 < size <= cfg.name_word_max_fanout:
                        probes.append((size, probe))
        probes.sort()
        found: dict[str, None] = {}
        for _, probe in probes:
            found.update(book.names_by_word(probe))
            if len(found) >= cfg.name_word_max_fanout:
                break
        found.pop(key, None)
        scores: list[tuple[str, float]] = []
        if found:
            names = list(found)
            # a C-speed filter first: whatever passes one of the scorers is scored in full
            cut = cfg.name_min_score
            keep: dict[str, None] = {}
            for name, _, _ in process.extract(
                key, names, scorer=fuzz.token_set_ratio, score_cutoff=cut, limit=None
            ):
                keep[name] = None
            if compact:
                compacts = [book.name_compact_of(name) for name in names]
                for _, _, index in process.extract(
                    compact, compacts, scorer=fuzz.partial_ratio, score_cutoff=cut, limit=None
                ):
                    keep[names[index]] = None
            for name in keep:
                score = name_similarity(key, name, compact, book.name_compact_of(name))
                if score >= cut:
                    scores.append((name, score))
            scores.sort(key=lambda kv: (-kv[1], kv[0]))
        if len(self._similar_cache) >= SIMILAR_CACHE_SIZE:
            self._similar_cache.pop(next(iter(self._similar_cache)))
        self._similar_cache[cache_key] = scores
        return scores

    # ------------------------------------------------------------------ candidates
    def _candidates(self, ctx: _Context) -> list[_Candidate]:
        cfg = self.config
        book = ctx.book
        tx = ctx.tx
        names: dict[str, None] = dict.fromkeys(ctx.cp_hits)
        for invoice_id, hit in ctx.ref_hits.items():
            if hit.level < REF_FUZZY:
                continue  # a partial number adds weight to a party, it does not bring one
            entry = book.entry(invoice_id)
            if entry is not None and entry.is_open:
                names[entry.party] = None
        out: dict[frozenset[str], _Candidate] = {}

        def add(candidate: _Candidate) -> _Candidate:
            key = frozenset([e.id for e in candidate.entries])
            known = out.get(key)
            if known is not None:
                return known
            candidate.ids = key
            out[key] = candidate
            return candidate

        amount = ctx.amount
        for name in names:
            if not book.open_count_of(name):
                continue
            for kind in KINDS:
                sign = direction(kind, tx.side)
                items = self._items(ctx, name, kind, refund=sign < 0)
                if not items:
                    continue
                # the subset-sum only for a party the evidence points to firmly
                cp = ctx.cp_hits.get(name)
                if ctx.noise is not None or sign < 0:
                    search = False
                elif cp is not None and (
                    cp.level != CP_FUZZY or cp.score >= cfg.name_auto_min_score
                ):
                    search = True
                else:
                    hits = ctx.ref_hits
                    search = bool(hits) and any(e.id in hits for e in items)
                self._candidates_for(ctx, name, kind, sign, items, amount, add, search)
        if ctx.noise is None and (not out or not ctx.cp_hits):
            for kind in KINDS:
                sign = direction(kind, tx.side)
                ids = book.ids_by_amount(kind, sign * amount)
                if not ids or len(ids) > cfg.amount_only_max:
                    continue
                for invoice_id in ids:
                    entry = book.entry(invoice_id)
                    if entry is None or entry.party in names:
                        continue
                    if not self._usable(ctx, entry):
                        continue
                    add(
                        _Candidate(
                            entry.party, kind, sign, (entry,), "exact", sign * entry.residual
                        )
                    )
        return list(out.values())

    def _usable(self, ctx: _Context, entry: BookEntry) -> bool:
        if not same_currency(entry.invoice.currency, ctx.tx.currency):
            return False
        if ctx.knowledge is not None and ctx.knowledge.is_rejected(ctx.tx.id, entry.id):
            ctx.rejected_any = True
            return False
        return True

    def _items(
        self, ctx: _Context, name: str, kind: str, *, refund: bool = False
    ) -> list[BookEntry]:
        """The party's open items of this kind usable for this transaction (never mutate);
        only its credit notes for a refund."""
        book = ctx.book
        latest_issue: date | None
        if refund:
            items = book.open_credit_notes_of(name, kind)
            if not items:
                return items
            latest_issue = max(e.issue for e in items)
        else:
            items, latest_issue = book.open_entries_of(name, kind)
        if (ctx.knowledge is not None and ctx.knowledge.has_rejections) or book.currencies != {
            ctx.tx.currency
        }:
            items = [entry for entry in items if self._usable(ctx, entry)]
        if ctx.refs.digit_strings and name not in ctx.exactly_named:
            # a number one typo away from one in the text (only for this counterparty's items,
            # and only when the text names none of its invoices exactly)
            hits = ctx.ref_hits
            unnamed = [
                e
                for e in items
                if (e.id not in hits or hits[e.id].level < REF_FUZZY) and e.issue <= ctx.issued_by
            ]
            for invoice_id in self._typo_hits(ctx, unnamed):
                ctx.ref_hits[invoice_id] = _RefHit(REF_FUZZY)
        # Oldest first, except that invoices issued after the payment, then invoices claimed
        # by another transaction's pending suggestion, come last: an equally fitting invoice
        # that is neither is preferred (FIFO among those). The sort is stable.
        limit = ctx.issued_by
        later: list[BookEntry] = []
        if latest_issue is not None and latest_issue > limit:
            # invoices issued after the payment: only those the text names are candidates
            hits = ctx.ref_hits
            later = [e for e in items if e.issue > limit and e.id in hits]
            items = [e for e in items if e.issue <= limit]
        claimed = book.claimed_by_others(name, ctx.tx.id)
        if claimed:
            items = sorted(items, key=lambda e: e.id in claimed)
        return items + later if later else items

    def _pool(self, indices: list[int], values: list[int]) -> list[int]:
        """At most max_subset_items indices for a subset search: every credit note (they
        are few and change what adds up), then the oldest invoices."""
        limit = self.config.max_subset_items
        if len(indices) <= limit:
            return indices
        negatives = [i for i in indices if values[i] < 0][: limit // 2]
        positives = [i for i in indices if values[i] >= 0][: limit - len(negatives)]
        return sorted(negatives + positives)

    def _fee_range(self, total: int) -> int:
        cfg = self.config
        return min(cfg.fee_tolerance_cents, int(total * cfg.fee_tolerance_ratio))

    def _fit(self, total: int, amount: int) -> str | None:
        if total <= 0:
            return None
        if total == amount:
            return "exact"
        if total > amount:
            return "fee" if total - amount <= self._fee_range(total) else "partial"
        return "over"

    def _candidates_for(
        self,
        ctx: _Context,
        name: str,
        kind: str,
        sign: int,
        items: list[BookEntry],
        amount: int,
        add: Callable[[_Candidate], _Candidate],
        search: bool,
    ) -> None:
        """Candidates over one counterparty's open items of one kind; ``search`` allows the
        subset-sum (for a counterparty the evidence points to firmly)."""
        cfg = self.config
        values = [sign * e.residual for e in items]
        hits = ctx.ref_hits
        referenced = [
            i for i, e in enumerate(items) if e.id in hits and hits[e.id].level >= REF_FUZZY
        ]

        def make(indices: tuple[int, ...] | list[int], fit: str, tie: bool = False) -> _Candidate:
            chosen = tuple(items[i] for i in indices)
            total = sum(values[i] for i in indices)
            return add(_Candidate(name, kind, sign, chosen, fit, total, tie))

        # 1. what the reference names, alone or with other items (credit notes, ...)
        decided_by_reference = False
        if referenced:
            total = sum(values[i] for i in referenced)
            fit = self._fit(total, amount)
            if fit is not None:
                make(referenced, fit)
            if len(referenced) > 1:
                for i in referenced:
                    single = self._fit(values[i], amount)
                    if single is not None:
                        make([i], single)
            named = set(referenced)
            rest = [i for i in range(len(items)) if i not in named]
            room = cfg.max_subset_size - len(referenced)
            strong = any(ctx.ref_hits[items[i].id].level >= REF_EXACT for i in referenced)
            decided_by_reference = strong and fit is not None
            if search and strong and rest and room > 0 and fit != "exact":
                rest = self._pool(rest, values)
                rest_values = [values[i] for i in rest]
                need = amount - total
                for combo in find_subsets(
                    rest_values,
                    need,
                    need + self._fee_range(total + max(0, need)),
                    max_size=room,
                    limit=cfg.max_subset_solutions,
                ):
                    indices = sorted([*referenced, *(rest[j] for j in combo)])
                    chosen_total = sum(values[i] for i in indices)
                    chosen_fit = self._fit(chosen_total, amount)
                    if chosen_fit in ("exact", "fee"):
                        make(indices, chosen_fit)
        # 2. one invoice of exactly this amount (the oldest of equal ones)
        exact = [i for i, v in enumerate(values) if v == amount]
        if exact:
            oldest = make([exact[0]], "exact", tie=len(exact) > 1)
            if oldest.tie and ctx.book.has_reservations:
                # one of the equal invoices is claimed by a suggestion awaiting review
                tx_id = ctx.tx.id
                oldest.tie_unsettled = any(
                    ctx.book.reserved_by_others(items[i].id, tx_id) for i in exact
                )
            return
        if not search or decided_by_reference:
            return
        # 3. several invoices (credit notes netted), exact then within the fee tolerance
        tolerance = min(
            cfg.fee_tolerance_cents,
            int(amount * cfg.fee_tolerance_ratio / (1 - cfg.fee_tolerance_ratio)),
        )
        if any(v < 0 for v in values):
            pool = list(range(len(values)))
        else:  # without credit notes, an item larger than the payment cannot be part of it
            pool = [i for i, v in enumerate(values) if v <= amount + tolerance]
            if sum(values[i] for i in pool) < amount:
                pool = []
        pool = self._pool(pool, values)
        pool_values = [values[i] for i in pool]
        solutions = find_subsets(
            pool_values,
            amount,
            amount + tolerance,
            max_size=cfg.max_subset_size,
            limit=2 * cfg.max_subset_solutions,
        )
        fits = [
            (combo, self._fit(sum(pool_values[j] for j in combo), amount)) for combo in solutions
        ]
        if any(fit == "exact" for _, fit in fits):  # exact first: a fee is only a fallback
            fits = [(combo, fit) for combo, fit in fits if fit == "exact"]
        for combo, fit in fits[: cfg.max_subset_solutions]:
            if fit in ("exact", "fee"):
                make([pool[j] for j in combo], fit)
        if fits:
            return
        # 4. a partial payment of the oldest item larger than the payment
        for i, value in enumerate(values):
            if value > amount:
                make([i], "partial")
                break

    # ------------------------------------------------------------------ scoring
    def _score(self, ctx: _Context, c: _Candidate) -> None:
        """Features (``Weights`` field names -> values), reasons, score, decisiveness."""
        cfg = self.config
        reasons = c.reasons
        f: dict[str, float] = {}
        # reference: the share of the candidate's invoices named at each level
        positives = [e for e in c.entries if c.sign * e.residual > 0]
        levels = [ctx.ref_hits[e.id].level if e.id in ctx.ref_hits else 0 for e in positives]
        ref_level = 0
        if positives and any(levels):
            ref_level = min(lv for lv in levels if lv)
            named = sum(1 for lv in levels if lv)
            for level, feature in _LEVEL_FEATURES.items():
                share = sum(1 for lv in levels if lv == level) / len(levels)
                if share:
                    f[feature] = share
            if len(levels) > named:
                f["ref_unlisted_item"] = len(levels) - named
                reasons.append("reference.invoice_number.incomplete")
            if ref_level == REF_PAYREF and ctx.refs.rf_valid:
                reasons.append("reference.rf_valid")
            reasons.append(_LEVEL_REASONS[ref_level])
            if any(ctx.ref_hits[e.id].prefix for e in positives if e.id in ctx.ref_hits):
                f["ref_prefix"] = 1.0
                reasons.append("reference.invoice_number.prefix")
            if named > 1:
                reasons.append("reference.invoice_number.several")
        if ctx.refs.rf_invalid and ref_level < REF_PAYREF:
            reasons.append("reference.rf_invalid")
        # the text names other invoices
        chosen = c.ids
        elsewhere_same = elsewhere_other = False
        for invoice_id, ref in ctx.ref_hits.items():
            if ref.level < REF_EXACT or invoice_id in chosen:
                continue
            entry = ctx.book.entry(invoice_id)
            if entry is None:
                continue
            if entry.party == c.name:
                elsewhere_same = True
            else:
                elsewhere_other = True
        if elsewhere_same:  # the payer names another invoice of theirs than these
            f["ref_elsewhere_same"] = 1.0
            reasons.append("reference.points_elsewhere")
        elif elsewhere_other and ref_level < REF_EXACT:
            f["ref_elsewhere_other"] = 1.0
            reasons.append("reference.points_elsewhere")
        unread = ref_level == 0 and ctx.refs.number_like and ctx.tx.operation_type != "direct_debit"
        if unread:
            f["ref_unread"] = 1.0
        # counterparty
        cp = ctx.cp_hits.get(c.name)
        cp_strong = False
        if cp is not None:
            if cp.level == CP_FUZZY:
                span = max(1.0, 100.0 - cfg.name_min_score)
                f["cp_fuzzy"] = max(0.0, cp.score - cfg.name_min_score) / span
                reasons.append("counterparty.name.fuzzy")
                cp_strong = cp.score >= cfg.name_auto_min_score
            else:
                f[_CP_FEATURES[cp.level]] = 1.0
                reasons.append(_CP_REASONS[cp.level])
                cp_strong = True
        elif ctx.strong_other:
            f["cp_conflict"] = 1.0
            reasons.append("counterparty.third_party")
        elif ctx.observed_name:
            f["cp_unknown"] = 1.0
            reasons.append("counterparty.unknown")
        # amount
        n_items = len(c.entries)
        credit_notes = n_items - len(positives)
        if c.sign < 0:
            reasons.append("direction.refund")
        f[_FIT_FEATURES[c.fit]] = 1.0
        if c.fit == "exact":
            reasons.append("amount.exact" if n_items == 1 else "amount.subset_sum")
        else:
            reasons.append(_FIT_REASONS[c.fit])
            if n_items > 1:
                reasons.append("amount.subset_sum")
        if n_items > 1:
            f["amount_subset_item"] = n_items - 1
        if credit_notes:
            f["amount_credit_note"] = credit_notes
            reasons.append("amount.credit_note")
        if c.tie:
            f["amount_tie"] = 1.0
            reasons.append("amount.tie_oldest_first")
        if ref_level == 0 and cp is None:
            f["amount_only"] = 1.0
            reasons.append("amount.only")
        # dates, noise
        if any(e.invoice.issue_date > ctx.issued_by for e in c.entries):
            f["date_future"] = 1.0
            c.blocked = True
            reasons.append("date.invoice_after_payment")
        if ctx.noise is not None:
            f["noise"] = 1.0
        c.features = f
        w = cfg.weights
        c.score = w.bias + sum(getattr(w, name) * value for name, value in f.items())
        # decisive: a reference, or a known payer, with an amount that fits
        if c.fit in ("exact", "fee"):
            c.decisive = (
                ref_level >= REF_EXACT or cp_strong or (ref_level == REF_FUZZY and cp is not None)
            )
            if c.tie and (not cfg.fifo_ties_auto or unread):
                # equal invoices and a number in the text that names none of them: ask
                c.decisive = False
                reasons.append("reference.unrecognised")
            elif c.tie and c.tie_unsettled:
                # equal invoices, one claimed by a suggestion awaiting review: which of
                # them is still due is uncertain
                c.decisive = False
                reasons.append("amount.tie_unsettled")
        else:  # partial or overpaid: the reference and the payer must both be firm
            c.decisive = ref_level >= REF_EXACT and cp_strong
            if c.fit == "over":
                excess = ctx.amount - c.total
                c.decisive = c.decisive and excess <= max(
                    cfg.overpayment_auto_cents, int(cfg.overpayment_auto_ratio * c.total)
                )

    @staticmethod
    def _typo_hits(ctx: _Context, entries: list[BookEntry]) -> dict[str, None]:
        """Invoices whose number is one typo (edit or transposition) from a number in the text."""
        found: dict[str, None] = {}
        strings = [s for s in dict.fromkeys(ctx.refs.digit_strings) if len(s) >= MIN_TYPO_DIGITS]
        if not strings:
            return found
        for entry in entries:
            for form in entry.typo_forms:
                if any(
                    abs(len(s) - len(form)) <= 1 and OSA.distance(s, form, score_cutoff=1) <= 1
                    for s in strings
                ):
                    found[entry.id] = None
                    break
        return found

    def _competitor(self, best: _Candidate, others: list[_Candidate]) -> bool:
        margin = self.config.competitor_margin
        best_ids = best.ids
        for other in others:
            if other.score < best.score - margin:
                return False
            if other.ids == best_ids:
                continue
            return True
        return False

    # ------------------------------------------------------------------ result
    def _result(
        self,
        tx: QontoTransaction,
        decided_at: datetime,
        status: str,
        best: _Candidate | None,
        confidence: float,
        reasons: list[str],
    ) -> MatchResult:
        allocations: list[Allocation] = []
        residual = tx.amount_cents
        if best is not None:
            allocations, residual = self._allocate(best, tx.amount_cents)
        return MatchResult.model_construct(  # built from valid parts: no validation needed
            transaction_id=tx.id,
            transaction_version=tx.updated_at,
            status=status,  # type: ignore[arg-type]
            allocations=allocations,
            residual_cents=residual,
            confidence=round(min(1.0, max(0.0, confidence)), 6),
            reasons=list(dict.fromkeys(reasons)),
            matcher_version=self.version,
            decided_at=decided_at,
        )

    @staticmethod
    def _allocate(c: _Candidate, amount: int) -> tuple[list[Allocation], int]:
        """Allocations in each invoice's sign, and the residual (see the module doc)."""
        out: list[Allocation] = []
        if c.fit in ("exact", "fee", "over"):
            for e in c.entries:
                out.append(
                    Allocation.model_construct(
                        invoice_id=e.id, invoice_number=e.invoice.number, amount_cents=e.residual
                    )
                )
            return out, amount - c.total
        # partial: net what reduces the amount due (credit notes) first, then oldest first
        remaining = amount
        parts: dict[str, int] = {}
        for e in c.entries:
            effective = c.sign * e.residual
            if effective < 0:
                parts[e.id] = effective
                remaining -= effective
        for e in c.entries:
            effective = c.sign * e.residual
            if effective > 0 and remaining > 0:
                take = min(effective, remaining)
                parts[e.id] = take
                remaining -= take
        for e in c.entries:
            if parts.get(e.id):
                out.append(
                    Allocation.model_construct(
                        invoice_id=e.id,
                        invoice_number=e.invoice.number,
                        amount_cents=c.sign * parts[e.id],
                    )
                )
        return out, remaining
