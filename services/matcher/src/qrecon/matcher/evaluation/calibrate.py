"""Fit the engine's evidence weights (``Weights``) on generated tuning seeds.

    uv run python -m qrecon.matcher.evaluation.calibrate [--seeds 1,2,3,4,5] [--transactions N]

Runs the engine over each tuning dataset exactly as ``match`` does, records every
candidate it considered (its features) and whether it is the true allocation, and fits
a logistic regression (L2-regularised, Newton's method, rows grouped by identical
feature vectors) of correctness on the features. Prints the fitted ``Weights(...)``, to
be pasted into ``qrecon.matcher.core.config``, and a reliability table.

Only tuning seeds (1-5) are used here; held-out seeds are for ``qonto-matcher evaluate``.
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from dataclasses import fields, replace
from typing import Any

from qrecon.common.schemas import Invoice, QontoTransaction
from qrecon.matcher.core import EngineConfig, InvoiceBook, MatchingEngine, Weights
from qrecon.matcher.evaluation.generator import generate

FEATURES = tuple(f.name for f in fields(Weights) if f.name != "bias")
Row = tuple[float, ...]


def collect(seeds: list[int], transactions: int, config: EngineConfig) -> dict[Row, list[int]]:
    """Feature vector -> [correct, wrong] counts over every candidate of every decision."""
    engine = MatchingEngine(config)
    rows: dict[Row, list[int]] = defaultdict(lambda: [0, 0])
    for seed in seeds:
        dataset = generate(seed, transactions)
        book = InvoiceBook(Invoice.model_validate(row) for row in dataset.invoices)
        for raw, label in zip(dataset.transactions, dataset.labels, strict=True):
            tx = QontoTransaction.model_validate(raw)
            explanation = engine.explain(tx, book)
            truth = label.truth_map()
            for candidate in explanation.candidates:
                got: dict[str, int] = {}
                for a in candidate.allocations:
                    got[a.invoice_id] = got.get(a.invoice_id, 0) + a.amount_cents
                correct = bool(truth) and got == truth
                key = tuple(round(candidate.features.get(name, 0.0), 2) for name in FEATURES)
                rows[key][0 if correct else 1] += 1
            # carry residuals as match does
            result = explanation.result
            book.unreserve(tx.id)
            if result.status == "auto_matched" and result.allocations:
                book.allocate(result.allocations)
            elif result.status == "suggested" and result.confidence >= config.reserve_threshold:
                book.reserve(tx.id, result.allocations)
    return rows


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (small dense systems)."""
    n = len(vector)
    a = [[*row[:], vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        if abs(a[col][col]) < 1e-12:
            continue
        for r in range(n):
            if r != col and a[r][col]:
                factor = a[r][col] / a[col][col]
                for k in range(col, n + 1):
                    a[r][k] -= factor * a[col][k]
    return [a[i][n] / a[i][i] if abs(a[i][i]) > 1e-12 else 0.0 for i in range(n)]


def _loss(data: list[tuple[Row, int, int]], w: list[float], w0: list[float], l2: float) -> float:
    total = 0.0
    for x, pos, neg in data:
        z = sum(wi * xi for wi, xi in zip(w, x, strict=True))
        # log(1 + e^z) computed stably
        softplus = z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))
        total += pos * (softplus - z) + neg * softplus
    return total + 0.5 * l2 * sum((a - b) ** 2 for a, b in zip(w[1:], w0[1:], strict=True))


def fit(
    rows: dict[Row, list[int]], prior: Weights, l2: float = 0.5, iterations: int = 50
) -> list[float]:
    """Weights [bias, *FEATURES] maximising the log-likelihood penalised by
    ``l2/2 * |w - prior|^2`` (damped Newton): a feature seldom seen keeps about its
    prior (hand-set) value."""
    dim = len(FEATURES) + 1
    data = [((1.0, *key), pos, neg) for key, (pos, neg) in rows.items()]
    w0 = [prior.bias, *(getattr(prior, name) for name in FEATURES)]
    w = list(w0)
    loss = _loss(data, w, w0, l2)
    for _ in range(iterations):
        grad = [0.0] * dim
        hess = [[0.0] * dim for _ in range(dim)]
        for x, pos, neg in data:
            z = sum(wi * xi for wi, xi in zip(w, x, strict=True))
            p = 1.0 / (1.0 + math.exp(-max(-35.0, min(35.0, z))))
            n = pos + neg
            g = p * n - pos
            h = max(p * (1 - p), 1e-9) * n
            nz = [(i, xi) for i, xi in enumerate(x) if xi]
            for i, xi in nz:
                grad[i] += g * xi
                row = hess[i]
                for j, xj in nz:
                    row[j] += h * xi * xj
        for i in range(1, dim):
            grad[i] += l2 * (w[i] - w0[i])
            hess[i][i] += l2
        hess[0][0] += 1e-3
        step = _solve(hess, grad)
        scale = 1.0
        while scale > 1e-4:
            trial = [wi - scale * si for wi, si in zip(w, step, strict=True)]
            trial_loss = _loss(data, trial, w0, l2)
            if trial_loss <= loss:
                break
            scale /= 2
        else:
            break
        improvement = loss - trial_loss
        w, loss = trial, trial_loss
        if improvement < 1e-6:
            break
    return w


def reliability(rows: dict[Row, list[int]], w: list[float]) -> list[dict[str, Any]]:
    bins: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for key, (pos, neg) in rows.items():
        z = w[0] + sum(wi * xi for wi, xi in zip(w[1:], key, strict=True))
        p = 1.0 / (1.0 + math.exp(-max(-35.0, min(35.0, z))))
        b = min(9, int(p * 10))
        bins[b][0] += pos + neg
        bins[b][1] += pos
        bins[b][2] += p * (pos + neg)
    return [
        {
            "bin": f"{b / 10:.1f}-{(b + 1) / 10:.1f}",
            "n": int(n),
            "predicted": s / n,
            "observed": c / n,
        }
        for b, (n, c, s) in sorted(bins.items())
        if n
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--transactions", type=int, default=5000)
    parser.add_argument("--l2", type=float, default=0.5)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if any(seed > 5 for seed in seeds):
        parser.error("calibrate only on the tuning seeds 1-5")
    config = EngineConfig()
    rows = collect(seeds, args.transactions, config)
    w = fit(rows, Weights(), args.l2)
    weights = Weights(
        bias=round(w[0], 2), **{n: round(v, 2) for n, v in zip(FEATURES, w[1:], strict=True)}
    )
    print(f"candidates: {sum(p + n for p, n in rows.values())}, distinct rows: {len(rows)}")
    print(replace(weights))
    for row in reliability(rows, w):
        print(row)


if __name__ == "__main__":
    main()
