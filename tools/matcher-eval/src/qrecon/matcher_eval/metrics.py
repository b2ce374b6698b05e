"""Scoring MatchResults against labels: per case and overall.

An allocation is right when it allocates what the label says, up to *interchangeable*
invoices: open items of the same counterparty, kind and currency, with the same amount
still open (the invoice's amount less what earlier lines paid: in the real books for the
label's invoice, in the engine's for the one it took) and the same amount allocated, that
the transaction's text does not tell apart (no
number in it that is, ends, or is one typo away from either invoice's number). Which of
such twins a payment settles is an accounting policy (the engine takes the oldest due,
``amount.tie_oldest_first``), not a fact the bank data holds: the customer's balance, each
invoice's amount and what stays open are the same either way. Without ``invoices`` the
comparison is by invoice id only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import OSA

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


_DIGITS = re.compile(r"[0-9]+")
_TEXT_FIELDS = ("reference", "label", "note")


def _tail(number: str) -> str:
    """The last group of digits of an invoice number, without leading zeros."""
    groups = _DIGITS.findall(number)
    return groups[-1].lstrip("0") if groups else ""


class Equivalence:
    """Whether a result's allocations equal the label's, up to interchangeable invoices
    (see the module doc). ``invoices``: the dataset's invoice rows; ``transactions``: its
    transaction rows (their text tells invoices apart)."""

    def __init__(
        self, invoices: Sequence[dict[str, Any]], transactions: Sequence[dict[str, Any]]
    ) -> None:
        self._invoices = {str(row["id"]): row for row in invoices}
        self._texts = {
            str(row["id"]): " ".join(str(row[k]) for k in _TEXT_FIELDS if row.get(k))
            for row in transactions
        }
        self._completed = {
            str(row["id"]) for row in transactions if row.get("status", "completed") == "completed"
        }
        # invoice id -> what the labels (really), and the engine's automatic decisions,
        # settled so far
        self._paid: tuple[dict[str, int], dict[str, int]] = ({}, {})

    def settle(self, transaction_id: str, truth: dict[str, int], applied: dict[str, int]) -> None:
        """Record, in order, what a line really paid (its label) and what the engine
        applied to its book (an automatic decision's allocations): an invoice's open amount
        at a later line is its amount less what earlier lines paid, in each of the two
        books (the engine's may have taken one twin where the customer paid another)."""
        if transaction_id in self._completed:
            for invoice_id, amount in truth.items():
                self._paid[0][invoice_id] = self._paid[0].get(invoice_id, 0) + amount
        for invoice_id, amount in applied.items():
            self._paid[1][invoice_id] = self._paid[1].get(invoice_id, 0) + amount

    def _open(self, invoice: dict[str, Any], book: int) -> int:
        return int(invoice["amount_cents"]) - self._paid[book].get(str(invoice["id"]), 0)

    def _named(self, invoice: dict[str, Any], numbers: list[str], digits: str) -> bool:
        """Whether the text could be naming this invoice (its number, its last group of
        digits, or one typo away from either)."""
        full = "".join(_DIGITS.findall(str(invoice.get("number") or "")))
        tail = _tail(str(invoice.get("number") or ""))
        if full and full in digits:
            return True
        reference = invoice.get("payment_reference")
        if reference and "".join(_DIGITS.findall(str(reference))) in digits:
            return True
        for number in numbers:
            stripped = number.lstrip("0")
            if len(stripped) < 2 or not tail:
                continue
            if stripped == tail or stripped.endswith(tail):
                return True
            if len(stripped) >= 3 and tail.endswith(stripped):
                return True
            # typos as the engine reads them: in numbers of five digits or more
            if min(len(stripped), len(full)) >= 5 and OSA.distance(stripped, full) <= 1:
                return True
            if min(len(stripped), len(tail)) >= 5 and OSA.distance(stripped, tail) <= 1:
                return True
        return False

    def same(self, transaction_id: str, truth: dict[str, int], got: dict[str, int]) -> bool:
        if got == truth:
            return True
        if not truth or set(got.values()) - set(truth.values()):
            return False
        missing = {k: v for k, v in truth.items() if got.get(k) != v}
        extra = {k: v for k, v in got.items() if truth.get(k) != v}
        if len(missing) != len(extra):
            return False
        text = self._texts.get(transaction_id, "")
        numbers = _DIGITS.findall(text)
        digits = "".join(numbers)
        keys: list[list[tuple[Any, ...]]] = [[], []]
        for side, part in ((0, missing), (1, extra)):
            for invoice_id, amount in part.items():
                invoice = self._invoices.get(invoice_id)
                if invoice is None or self._named(invoice, numbers, digits):
                    return False
                keys[side].append(
                    (
                        invoice["counterparty_name"],
                        invoice["kind"],
                        invoice["currency"],
                        self._open(invoice, side),
                        amount,
                    )
                )
        return sorted(keys[0]) == sorted(keys[1])


def score(
    labels: Sequence[Label],
    results: Sequence[MatchResult],
    threshold: float = EngineConfig().auto_threshold,
    *,
    equivalence: Equivalence | None = None,
) -> Report:
    """Compare results (one per line, in order) with the labels of the same lines;
    ``threshold``: the auto threshold whose precision the reliability table reports;
    ``equivalence``: counts interchangeable invoices as the same (else ids must match)."""
    if len(labels) != len(results):
        raise ValueError(f"{len(labels)} labels but {len(results)} results")
    report = Report()
    pairs: list[tuple[float, bool]] = []  # (confidence, right) of auto + suggested
    auto_pairs: list[tuple[float, bool]] = []
    for label, result in zip(labels, results, strict=True):
        stats = report.cases.setdefault(label.case, CaseStats(label.case))
        stats.n += 1
        truth = label.truth_map()
        got = allocation_map(result)
        if equivalence is None:
            correct = bool(truth) and got == truth
        else:
            correct = bool(truth) and equivalence.same(label.transaction_id, truth, got)
            applied = got if result.status == "auto_matched" else {}
            equivalence.settle(label.transaction_id, truth, applied)
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
