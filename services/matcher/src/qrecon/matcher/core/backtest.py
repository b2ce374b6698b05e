"""A back-test on the company's own history: what auto-matching would have done.

``backtest`` replays the transactions (in date order) against the invoices with a fresh
book, and compares each of the engine's decisions with what reviewers did:

* a *confirmed* suggestion or a *match by hand* says what the payment paid (the truth);
* a *rejection* says which invoices it did not pay.

After each decision the book follows what really happened: the reviewer's allocation
when there is one, else the engine's own ``auto_matched`` allocation. So one mistake does
not cascade into the next decisions, and the figures are those of each decision alone.

Per reason code (and overall): how many reviewed decisions carry it, how many the engine
would auto-match, their precision (right / auto-matched; an auto-match of a rejected pair
or of other invoices than the reviewer's is wrong) and the coverage (right auto-matches /
payments whose allocation a reviewer gave). Pure: the history comes in, a report out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from qrecon.common.schemas import Allocation, Invoice, MatchResult, QontoTransaction
from qrecon.matcher.core.book import InvoiceBook, OverAllocation
from qrecon.matcher.core.engine import MatchingEngine
from qrecon.matcher.core.knowledge import Knowledge
from qrecon.matcher.core.reliability import Reliability, at_least, reliability

__all__ = ["BacktestReport", "ReasonStats", "Verdict", "backtest"]

CONFIRM, MATCH, REJECT = "confirm", "match", "reject"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What reviewers said about one transaction (their latest decision not undone)."""

    action: str  # confirm | match | reject
    allocations: Mapping[str, int] = field(default_factory=dict)  # confirm, match
    rejected: frozenset[str] = frozenset()  # every invoice a reviewer rejected for it

    @property
    def truth(self) -> dict[str, int] | None:
        return dict(self.allocations) if self.action in (CONFIRM, MATCH) else None


@dataclass(slots=True)
class ReasonStats:
    reason: str
    reviewed: int = 0
    with_truth: int = 0
    auto: int = 0
    auto_correct: int = 0
    suggested: int = 0
    suggested_correct: int = 0

    @property
    def precision(self) -> float | None:
        return self.auto_correct / self.auto if self.auto else None

    @property
    def coverage(self) -> float | None:
        return self.auto_correct / self.with_truth if self.with_truth else None

    def as_dict(self) -> dict[str, object]:
        return {
            "reason": self.reason,
            "reviewed": self.reviewed,
            "with_truth": self.with_truth,
            "auto": self.auto,
            "auto_correct": self.auto_correct,
            "precision": self.precision,
            "coverage": self.coverage,
            "suggested": self.suggested,
            "suggested_correct": self.suggested_correct,
        }


@dataclass(slots=True)
class BacktestReport:
    transactions: int
    would_auto_match: int  # over every transaction, reviewed or not
    overall: ReasonStats
    reasons: list[ReasonStats]  # most frequent first
    reliability: Reliability
    auto_threshold: float
    threshold_n: int
    threshold_precision: float | None
    results: list[MatchResult]

    def as_dict(self) -> dict[str, object]:
        return {
            "transactions": self.transactions,
            "would_auto_match": self.would_auto_match,
            "overall": self.overall.as_dict(),
            "reasons": [r.as_dict() for r in self.reasons],
            "reliability": {
                "n": self.reliability.n,
                "ece": self.reliability.ece,
                "buckets": [b.as_dict() for b in self.reliability.buckets],
                "auto_threshold": self.auto_threshold,
                "at_or_above_threshold": self.threshold_n,
                "precision_at_or_above_threshold": self.threshold_precision,
            },
        }


def _allocation_map(allocations: Iterable[Allocation]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in allocations:
        out[a.invoice_id] = out.get(a.invoice_id, 0) + a.amount_cents
    return out


def _correct(result: MatchResult, verdict: Verdict) -> bool:
    got = _allocation_map(result.allocations)
    if not got:
        return False
    if verdict.rejected & got.keys():
        return False
    truth = verdict.truth
    return truth is not None and got == truth


def _count(stats: ReasonStats, result: MatchResult, verdict: Verdict, correct: bool) -> None:
    stats.reviewed += 1
    stats.with_truth += int(verdict.truth is not None)
    if result.status == "auto_matched":
        stats.auto += 1
        stats.auto_correct += int(correct)
    elif result.status == "suggested":
        stats.suggested += 1
        stats.suggested_correct += int(correct)


def _follow(book: InvoiceBook, result: MatchResult, verdict: Verdict | None) -> None:
    """Move the book as things really went: the reviewer's allocation, else the engine's
    auto-match (an allocation the book cannot take is skipped: history may be partial)."""
    wanted: list[Allocation] = []
    if verdict is not None and verdict.truth is not None:
        wanted = [
            Allocation.model_construct(invoice_id=i, invoice_number="", amount_cents=amount)
            for i, amount in verdict.truth.items()
        ]
    elif result.status == "auto_matched":
        wanted = list(result.allocations)
    if wanted:
        with contextlib.suppress(OverAllocation):
            book.allocate(wanted)


def backtest(
    engine: MatchingEngine,
    invoices: Sequence[Invoice],
    transactions: Sequence[QontoTransaction],
    verdicts: Mapping[str, Verdict],
    knowledge: Knowledge | None = None,
) -> BacktestReport:
    """Replay ``transactions`` (in the order given: by date) and compare with ``verdicts``.

    An invoice the books now say is ``paid`` starts open: its payment is in the history."""
    book = InvoiceBook(
        inv.model_copy(update={"status": "open"}) if inv.status == "paid" else inv
        for inv in invoices
    )
    overall = ReasonStats("(all)")
    per_reason: dict[str, ReasonStats] = {}
    pairs: list[tuple[float, bool]] = []
    results: list[MatchResult] = []
    would = 0
    for tx in transactions:
        result = engine.decide(tx, book, knowledge)
        results.append(result)
        would += int(result.status == "auto_matched")
        verdict = verdicts.get(tx.id)
        if verdict is not None:
            correct = _correct(result, verdict)
            _count(overall, result, verdict, correct)
            for reason in result.reasons:
                stats = per_reason.setdefault(reason, ReasonStats(reason))
                _count(stats, result, verdict, correct)
            if result.status in ("auto_matched", "suggested"):
                pairs.append((result.confidence, correct))
        _follow(book, result, verdict)
    threshold = engine.config.auto_threshold
    n_above, precision_above = at_least(pairs, threshold)
    return BacktestReport(
        transactions=len(transactions),
        would_auto_match=would,
        overall=overall,
        reasons=sorted(per_reason.values(), key=lambda s: (-s.reviewed, s.reason)),
        reliability=reliability(pairs),
        auto_threshold=threshold,
        threshold_n=n_above,
        threshold_precision=precision_above,
        results=results,
    )
