"""Calibrate the engine's confidence on generated tuning seeds (Platt scaling).

    uv run python -m qrecon.matcher_eval.calibrate [--seeds 1,2,3,4,5] [--transactions N]

Runs the engine over each tuning dataset exactly as ``match`` does and records, for every
decision that had a candidate, the best candidate's score (log-odds, ``Weights``) and
whether it is the true allocation. Fits ``P(correct) = sigmoid(a * score + b)`` (Newton's
method on the two parameters) and prints ``calibration=(a, b)`` for ``EngineConfig``, the
raw score thresholds the current ``auto_threshold`` / ``suggest_threshold`` stand for,
and a reliability table before and after.

Only tuning seeds (1-5) are accepted; held-out seeds are for ``qonto-matcher evaluate``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import replace

from qrecon.common.schemas import Invoice, QontoTransaction
from qrecon.matcher.core import EngineConfig, InvoiceBook, MatchingEngine
from qrecon.matcher_eval.generator import generate
from qrecon.matcher_eval.metrics import Equivalence, allocation_map

Pair = tuple[float, bool]  # best candidate's score, correct


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-35.0, min(35.0, x))))


def collect(seeds: Sequence[int], transactions: int, config: EngineConfig) -> list[Pair]:
    engine = MatchingEngine(config)
    pairs: list[Pair] = []
    for seed in seeds:
        dataset = generate(seed, transactions)
        book = InvoiceBook(Invoice.model_validate(row) for row in dataset.invoices)
        equivalence = Equivalence(dataset.invoices, dataset.transactions)  # as evaluate scores
        for raw, label in zip(dataset.transactions, dataset.labels, strict=True):
            tx = QontoTransaction.model_validate(raw)
            explanation = engine.explain(tx, book)
            result = explanation.result
            truth = label.truth_map()
            if explanation.candidates:
                best = explanation.candidates[0]
                got: dict[str, int] = {}
                for a in best.allocations:
                    got[a.invoice_id] = got.get(a.invoice_id, 0) + a.amount_cents
                correct = bool(truth) and equivalence.same(tx.id, truth, got)
                # an automatic decision on a transaction that should not be automatic is wrong
                if result.status == "auto_matched" and not label.matchable:
                    correct = False
                pairs.append((best.score, correct))
            applied = allocation_map(result) if result.status == "auto_matched" else {}
            equivalence.settle(tx.id, truth, applied)
            book.unreserve(tx.id)  # carry residuals as match does (reconcile)
            if result.status == "auto_matched" and result.allocations:
                book.allocate(result.allocations)
            elif result.status == "suggested" and result.confidence >= config.reserve_threshold:
                book.reserve(tx.id, result.allocations)
    return pairs


def fit_platt(pairs: Sequence[Pair], iterations: int = 100) -> tuple[float, float]:
    """(a, b) maximising the likelihood of ``sigmoid(a * score + b)`` (damped Newton)."""
    a, b = 1.0, 0.0

    def loss(a: float, b: float) -> float:
        total = 0.0
        for score, correct in pairs:
            z = a * score + b
            softplus = z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))
            total += softplus - (z if correct else 0.0)
        return total

    current = loss(a, b)
    for _ in range(iterations):
        ga = gb = haa = hab = hbb = 0.0
        for score, correct in pairs:
            p = _sigmoid(a * score + b)
            g = p - (1.0 if correct else 0.0)
            h = max(p * (1 - p), 1e-12)
            ga += g * score
            gb += g
            haa += h * score * score
            hab += h * score
            hbb += h
        det = haa * hbb - hab * hab
        if abs(det) < 1e-12:
            break
        step_a = (hbb * ga - hab * gb) / det
        step_b = (haa * gb - hab * ga) / det
        scale = 1.0
        while scale > 1e-6:
            trial = loss(a - scale * step_a, b - scale * step_b)
            if trial <= current:
                break
            scale /= 2
        a, b = a - scale * step_a, b - scale * step_b
        if current - trial < 1e-9:
            current = trial
            break
        current = trial
    return a, b


def reliability(pairs: Sequence[Pair], a: float, b: float) -> list[str]:
    bins: dict[int, list[float]] = {}
    for score, correct in pairs:
        p = _sigmoid(a * score + b)
        row = bins.setdefault(min(9, int(p * 10)), [0.0, 0.0, 0.0])
        row[0] += 1
        row[1] += correct
        row[2] += p
    return [
        f"  [{k / 10:.1f}, {(k + 1) / 10:.1f}): n={int(n):6d} "
        f"predicted={s / n:.3f} observed={c / n:.3f}"
        for k, (n, c, s) in sorted(bins.items())
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--transactions", type=int, default=5000)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if any(seed > 5 for seed in seeds):
        parser.error("calibrate only on the tuning seeds 1-5")
    config = EngineConfig()
    a0, b0 = config.calibration
    pairs = collect(seeds, args.transactions, replace(config))
    a, b = fit_platt(pairs)
    print(f"decisions with a candidate: {len(pairs)}")
    print(f"calibration=({a:.3f}, {b:.3f})  (current: ({a0:.3f}, {b0:.3f}))")
    for name in ("auto_threshold", "suggest_threshold"):
        threshold = getattr(config, name)
        raw = (math.log(threshold / (1 - threshold)) - b0) / a0
        print(
            f"{name}={threshold} is a raw score of {raw:.3f} -> {_sigmoid(a * raw + b):.4f} after"
        )
    print("reliability, current calibration:")
    print("\n".join(reliability(pairs, a0, b0)))
    print("reliability, fitted calibration:")
    print("\n".join(reliability(pairs, a, b)))


if __name__ == "__main__":
    main()
