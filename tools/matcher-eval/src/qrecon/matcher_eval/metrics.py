"""Scoring MatchResults against labels: per case and overall."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qrecon.common.schemas import MatchResult
from qrecon.matcher.core import EngineConfig
from qrecon.matcher.core.reliability import BUCKETS, at_least, reliability
from qrecon.matcher_eval.cases import ALL_CASES
from qrecon.matcher_eval.dataset import Label

CALIBRATION_BINS = BUCKETS


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


@dataclass(slots=True)
class CaseStats:
    case: str
    n: int = 0
    matchable: int = 0
    auto: int = 0
    auto_correct: int = 0
    suggested: int = 0
    suggested_with_truth: int = 0
    suggested_correct: int = 0
    unmatched: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "n": self.n,
            "matchable": self.matchable,
            "auto": self.auto,
            "auto_correct": self.auto_correct,
            "auto_precision": _ratio(self.auto_correct, self.auto),
            "coverage": _ratio(self.auto_correct, self.matchable) if self.matchable else None,
            "wrong_auto": self.auto - self.auto_correct,
            "suggested": self.suggested,
            "suggestion_top_correct": _ratio(self.suggested_correct, self.suggested_with_truth),
            "unmatched": self.unmatched,
        }


@dataclass(slots=True)
class Report:
    cases: dict[str, CaseStats] = field(default_factory=dict)
    calibration: list[dict[str, Any]] = field(default_factory=list)
    reliability: dict[str, Any] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, Any]:
        stats = list(self.cases.values())
        auto = sum(s.auto for s in stats)
        auto_correct = sum(s.auto_correct for s in stats)
        matchable = sum(s.matchable for s in stats)
        matchable_auto_correct = sum(s.auto_correct for s in stats if s.matchable)
        non_matchable = sum(s.n - s.matchable for s in stats)
        non_matchable_auto = sum(s.auto for s in stats if not s.matchable)
        suggested_truth = sum(s.suggested_with_truth for s in stats)
        return {
            "transactions": sum(s.n for s in stats),
            "matchable": matchable,
            "non_matchable": non_matchable,
            "auto": auto,
            "auto_precision": _ratio(auto_correct, auto),
            "coverage": _ratio(matchable_auto_correct, matchable),
            "wrong_auto_non_matchable": _ratio(non_matchable_auto, non_matchable),
            "suggested": sum(s.suggested for s in stats),
            "suggestion_top_correct": _ratio(
                sum(s.suggested_correct for s in stats), suggested_truth
            ),
            "unmatched": sum(s.unmatched for s in stats),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.totals,
            "cases": [self.cases[c].as_dict() for c in ALL_CASES if c in self.cases],
            "calibration": self.calibration,
            "reliability": self.reliability,
        }


def allocation_map(result: MatchResult) -> dict[str, int]:
    out: dict[str, int] = {}
    for allocation in result.allocations:
        out[allocation.invoice_id] = out.get(allocation.invoice_id, 0) + allocation.amount_cents
    return out


def score(
    labels: Sequence[Label],
    results: Sequence[MatchResult],
    threshold: float = EngineConfig().auto_threshold,
) -> Report:
    """Compare results (one per line, in order) with the labels of the same lines;
    ``threshold``: the auto threshold whose precision the reliability table reports."""
    if len(labels) != len(results):
        raise ValueError(f"{len(labels)} labels but {len(results)} results")
    report = Report()
    pairs: list[tuple[float, bool]] = []  # (confidence, right) of auto + suggested
    auto_pairs: list[tuple[float, bool]] = []
    for label, result in zip(labels, results, strict=True):
        stats = report.cases.setdefault(label.case, CaseStats(label.case))
        stats.n += 1
        truth = label.truth_map()
        correct = bool(truth) and allocation_map(result) == truth
        if label.matchable:
            stats.matchable += 1
        if result.status == "auto_matched":
            stats.auto += 1
            stats.auto_correct += int(correct and label.matchable)
        elif result.status == "suggested":
            stats.suggested += 1
            if truth:
                stats.suggested_with_truth += 1
                stats.suggested_correct += int(correct)
        else:
            stats.unmatched += 1
        if result.status in ("auto_matched", "suggested"):
            right = correct and (label.matchable or result.status != "auto_matched")
            pairs.append((result.confidence, right))
            if result.status == "auto_matched":
                auto_pairs.append((result.confidence, right))
    table = reliability(pairs)
    report.calibration = [bucket.as_dict() for bucket in table.buckets]
    n_above, precision_above = at_least(pairs, threshold)
    report.reliability = {
        "n": table.n,
        "ece": table.ece,
        "auto_threshold": threshold,
        "at_or_above_threshold": n_above,
        "precision_at_or_above_threshold": precision_above,
        "auto_matched": len(auto_pairs),
        "auto_matched_precision": at_least(auto_pairs, 0.0)[1],
    }
    return report
