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
   of the exact amount (the one the text names, partially, among equal ones; else the
   oldest due, ``amount.tie_oldest_first``) and beside it the groups of other open items
   adding up to it exactly (competing readings), a bounded subset-sum (exact, then within
   the fee tolerance), a partial payment of the oldest item; and, when nothing else
   exists, invoices of exactly this amount anywhere (``amount.only``). A number in the
   text, whole or partial, picks among equal amounts before any date does.
4. *Scores.* Each candidate's score is the sum of the weights of its signals
   (``Weights``, log-odds); its confidence is ``sigmoid(a * score + b)`` with ``(a, b)``
   = ``EngineConfig.calibration`` (Platt scaling fitted on generated tuning seeds).
5. *Decision.* ``auto_matched`` when the best candidate's evidence is decisive (a
   reference, or a known counterparty with an exact or fee-short amount), its confidence
   reaches ``auto_threshold``, no different candidate scores within
   ``competitor_margin``, nothing caps it (status, noise, an invoice issued after the
   payment); otherwise ``suggested`` above ``suggest_threshold``; otherwise ``unmatched``.
   A close competitor shares the probability (``scoring.share``); two structurally
   different readings that fit exactly with no reference to tell them apart add
   ``competitor.equal_explanation``. Candidates that differ only by interchangeable
   invoices (same counterparty and amount, not told apart by the text) are one reading,
   not competitors: the oldest due are taken (``amount.tie_oldest_first``). Evidence is
   not decisive when it cannot rule out another reading: an invoice-shaped number naming
   none of equal invoices (``reference.unrecognised``), a SEPA transfer short of invoices
   it does not name (``amount.shortfall_not_international``), unnamed invoices of round
   amounts only (``amount.round_subset``) or found among part of many open items
   (``amount.subset_search_bounded``), equal invoices all claimed by pending suggestions
   (``amount.tie_unsettled``).

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
  ``counterparty.iban``, ``amount.subset_sum``, ``competitor.close``, ``noise.card``;
  each has a French and an English sentence in ``explanations``.
* ``alternatives``: up to ``MAX_ALTERNATIVES`` other credible readings (allocations,
  confidence, reasons), best first, for the review desk; empty when unmatched.

Where each step lives: the gates, scores and status in ``scoring``, the evidence in
``evidence``, the candidates and their allocations in ``candidates``; this module runs
them in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from qrecon.common.schemas import (
    MAX_ALTERNATIVES,
    Allocation,
    Alternative,
    MatchResult,
    QontoTransaction,
)
from qrecon.matcher.core.book import InvoiceBook
from qrecon.matcher.core.candidates import Proposal, allocate, find_candidates
from qrecon.matcher.core.config import MATCHER_VERSION, EngineConfig
from qrecon.matcher.core.evidence import (
    REF_EXACT,
    Evidence,
    RefHit,
    SimilarCache,
    payment_view,
    read_evidence,
    transaction_date,
)
from qrecon.matcher.core.knowledge import Knowledge
from qrecon.matcher.core.payment_links import link_evidence, mark_links, relabel
from qrecon.matcher.core.scoring import (
    competitor,
    confidence,
    equal_explanation,
    noise,
    same_reading,
    score,
    share,
    status_of,
    twins,
)

__all__ = ["Candidate", "Explanation", "MatchingEngine", "transaction_date"]


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
class _Gate:
    """What the transaction's kind alone says (step 1 of the module doc)."""

    reasons: list[str]
    capped: bool = False  # at best suggested (not completed, noise)
    noise: str | None = None
    closed: bool = False  # unmatched whatever the evidence (declined, a fee, no amount)


def _gate(tx: QontoTransaction) -> _Gate:
    gate = _Gate(reasons=[])
    if tx.status != "completed":
        gate.reasons += ["status.not_completed", f"status.{tx.status}"]
        if tx.status == "declined":
            gate.closed = True
            return gate
        gate.capped = True
    gate.noise = noise(tx)
    if gate.noise == "noise.bank_fee":
        gate.reasons = [*gate.reasons, gate.noise]
        gate.closed = True
        return gate
    if gate.noise is not None:
        gate.reasons.append(gate.noise)
        gate.capped = True
    if tx.amount_cents <= 0:
        gate.reasons = [*gate.reasons, "amount.zero"]
        gate.closed = True
    return gate


class MatchingEngine:
    """Decides one transaction at a time against an InvoiceBook (see the module doc)."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config if config is not None else EngineConfig()
        self.version = MATCHER_VERSION
        self._similar_cache: SimilarCache = {}

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
        tx = payment_view(tx, book.currencies)  # a payment abroad: in the currency it paid
        stamp = decided_at if decided_at is not None else tx.updated_at
        gate = _gate(tx)  # 1. gates
        if gate.closed:
            return self._explained(tx, stamp, "unmatched", None, 0.0, gate.reasons)
        cfg = self.config
        ev = read_evidence(cfg, tx, book, knowledge, gate.noise, self._similar_cache)  # 2.
        links = knowledge.payment_links if knowledge is not None else None
        linked = mark_links(ev, link_evidence(links, tx, book))  # a paid payment link
        candidates = find_candidates(cfg, ev)  # 3. candidates
        pre = gate.reasons
        if ev.rejected_any:
            pre.append("knowledge.rejected_pair")
        if not candidates:
            if ev.closed_ref_ids:
                pre.append("reference.invoice_closed")
                pre.append("duplicate.suspected")
            return self._explained(tx, stamp, "unmatched", None, 0.0, pre)
        for candidate in candidates:  # 4. scores
            score(cfg, ev, candidate)
        relabel(candidates, linked)
        candidates.sort(key=Proposal.sort_key)
        best = candidates[0]
        best_confidence = confidence(cfg, best.score)
        close = competitor(cfg, best, candidates[1:])
        if close:  # the readings within the margin share the probability
            best_confidence *= share(cfg, best, candidates[1:])
        warnings = self._warnings(ev, best, close)
        reasons = [*pre, *best.reasons, *warnings]
        if twins(best, candidates[1:]):  # the oldest of interchangeable invoices is taken
            reasons.append("amount.tie_oldest_first")
        if close and equal_explanation(cfg, best, candidates[1:]):
            reasons.append("competitor.equal_explanation")
        # The text names a settled invoice of the same party and amount, and the proposal
        # is another invoice: most likely that invoice paid twice, so a person decides.
        duplicate = "reference.invoice_closed" in warnings and _paid_twice(ev, best, book)
        if duplicate:
            reasons.append("duplicate.suspected")
        capped = gate.capped or duplicate
        status = status_of(cfg, best, best_confidence, capped=capped, close=close)  # 5.
        return self._explained(
            tx,
            stamp,
            status,
            None if status == "unmatched" else best,
            best_confidence,
            reasons,
            candidates if views else None,
            self._alternatives(tx, best, candidates) if status != "unmatched" else (),
        )

    def _alternatives(
        self, tx: QontoTransaction, best: Proposal, candidates: list[Proposal]
    ) -> list[Alternative]:
        """The other credible readings, best first (at most ``MAX_ALTERNATIVES``)."""
        cfg = self.config
        out: list[Alternative] = []
        for c in candidates:
            if c is best or same_reading(best, c):
                continue  # the same reading (over interchangeable invoices or not)
            confidence_ = confidence(cfg, c.score)
            if confidence_ < cfg.suggest_threshold:
                break  # best first: the rest are less credible still
            allocations, residual = allocate(c, tx.amount_cents)
            out.append(
                Alternative.model_construct(
                    allocations=allocations,
                    residual_cents=residual,
                    confidence=round(min(1.0, confidence_), 6),
                    reasons=list(dict.fromkeys(c.reasons)),
                )
            )
            if len(out) >= MAX_ALTERNATIVES:
                break
        return out

    @staticmethod
    def _warnings(ev: Evidence, best: Proposal, close: bool) -> list[str]:
        """A close competitor; a closed invoice named while the best candidate is not."""
        warnings: list[str] = []
        if close:
            warnings.append("competitor.close")
        if ev.closed_ref_ids and not any(
            ev.ref_hits.get(e.id, RefHit(0)).level >= REF_EXACT for e in best.entries
        ):
            warnings.append("reference.invoice_closed")
        return warnings

    # ------------------------------------------------------------------ result
    def _explained(
        self,
        tx: QontoTransaction,
        stamp: datetime,
        status: str,
        best: Proposal | None,
        confidence_: float,
        reasons: list[str],
        candidates: list[Proposal] | None = None,
        alternatives: Sequence[Alternative] = (),
    ) -> Explanation:
        result = self._result(tx, stamp, status, best, confidence_, reasons)
        if alternatives:
            result.alternatives = list(alternatives)
        views = []
        for c in candidates or ():
            allocations, residual = allocate(c, tx.amount_cents)
            views.append(
                Candidate(
                    allocations=allocations,
                    residual_cents=residual,
                    confidence=confidence(self.config, c.score),
                    score=c.score,
                    features=dict(c.features),
                    reasons=list(dict.fromkeys(c.reasons)),
                    decisive=c.decisive,
                    blocked=c.blocked,
                )
            )
        return Explanation(result=result, candidates=views)

    def _result(
        self,
        tx: QontoTransaction,
        decided_at: datetime,
        status: str,
        best: Proposal | None,
        confidence_: float,
        reasons: list[str],
    ) -> MatchResult:
        allocations: list[Allocation] = []
        residual = tx.amount_cents
        if best is not None:
            allocations, residual = allocate(best, tx.amount_cents)
        return MatchResult.model_construct(  # built from valid parts: no validation needed
            transaction_id=tx.id,
            transaction_version=tx.updated_at,
            status=status,  # type: ignore[arg-type]
            allocations=allocations,
            residual_cents=residual,
            confidence=round(min(1.0, max(0.0, confidence_)), 6),
            reasons=list(dict.fromkeys(reasons)),
            matcher_version=self.version,
            decided_at=decided_at,
            alternatives=[],
        )


def _paid_twice(ev: Evidence, best: Proposal, book: InvoiceBook) -> bool:
    """A settled invoice the text names is of the proposal's party and of the payment's
    amount: the payment is likely that invoice's second payment, whatever else fits."""
    amount = abs(ev.tx.amount_cents)
    for invoice_id in ev.closed_ref_ids:
        entry = book.entry(invoice_id)
        if entry is not None and abs(entry.invoice.amount_cents) == amount:
            return True
    return False
