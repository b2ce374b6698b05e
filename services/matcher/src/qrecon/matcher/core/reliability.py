"""Calibration you can see: how often decisions of a given confidence were right.

``reliability(pairs)`` buckets ``(confidence, correct)`` pairs and gives, per bucket, the
count, the mean confidence and the observed precision, and the expected calibration
error (ECE: the count-weighted mean gap between confidence and precision); ``at_least``
the precision of the decisions at or above a threshold (the auto threshold's). Used by
``qonto-matcher evaluate`` (labelled data) and ``qonto-matcher backtest`` (reviewers'
decisions). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["BUCKETS", "Bucket", "Reliability", "at_least", "reliability"]

# bucket edges; the last edge is above 1 so that a confidence of 1.0 has a bucket
BUCKETS: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7, 0.9, 0.964, 0.99, 0.999, 1.0001)


@dataclass(frozen=True, slots=True)
class Bucket:
    low: float
    high: float
    n: int
    mean_confidence: float
    precision: float

    @property
    def label(self) -> str:
        return f"[{self.low:.3f}, {min(1.0, self.high):.3f}{']' if self.high > 1 else ')'}"

    def as_dict(self) -> dict[str, object]:
        return {
            "bin": self.label,
            "n": self.n,
            "mean_confidence": self.mean_confidence,
            "accuracy": self.precision,
        }


@dataclass(frozen=True, slots=True)
class Reliability:
    buckets: list[Bucket]
    n: int
    ece: float  # expected calibration error, 0..1


def reliability(
    pairs: Iterable[tuple[float, bool]], edges: Sequence[float] = BUCKETS
) -> Reliability:
    """Bucket ``(confidence, correct)`` pairs by confidence (empty buckets left out)."""
    counts = [0] * (len(edges) - 1)
    right = [0] * (len(edges) - 1)
    sums = [0.0] * (len(edges) - 1)
    for confidence, correct in pairs:
        for i in range(len(edges) - 1):
            if edges[i] <= confidence < edges[i + 1]:
                counts[i] += 1
                right[i] += int(correct)
                sums[i] += confidence
                break
    total = sum(counts)
    buckets: list[Bucket] = []
    gap = 0.0
    for i, count in enumerate(counts):
        if not count:
            continue
        mean = sums[i] / count
        precision = right[i] / count
        buckets.append(Bucket(edges[i], edges[i + 1], count, mean, precision))
        gap += count * abs(mean - precision)
    return Reliability(buckets=buckets, n=total, ece=gap / total if total else 0.0)


def at_least(pairs: Iterable[tuple[float, bool]], threshold: float) -> tuple[int, float | None]:
    """How many decisions have at least ``threshold`` confidence, and their precision."""
    n = correct = 0
    for confidence, ok in pairs:
        if confidence >= threshold:
            n += 1
            correct += int(ok)
    return n, (correct / n if n else None)
