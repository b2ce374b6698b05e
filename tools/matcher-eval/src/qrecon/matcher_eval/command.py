"""``qonto-matcher evaluate``'s work: generate labelled data, run the engine exactly as
``qonto-matcher match`` does, score it (and the baseline), print or write the report.

The command line itself (``qrecon.matcher.cli.evaluate``) stays with the matcher and
imports this module only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from qrecon.common.schemas import Invoice, MatchResult, QontoTransaction
from qrecon.matcher.cli.match import run_match, write_results
from qrecon.matcher.core import InvoiceBook
from qrecon.matcher_eval.baseline import run_baseline
from qrecon.matcher_eval.dataset import Dataset
from qrecon.matcher_eval.generator import generate
from qrecon.matcher_eval.metrics import Equivalence, score

TUNING_SEEDS = (1, 2, 3, 4, 5)  # the engine's thresholds were fitted on these (calibrate.py)
HELD_OUT_SEEDS = (1001, 1002)


def evaluate_dataset(dataset: Dataset, *, baseline: bool = True) -> dict[str, Any]:
    invoices = [Invoice.model_validate(row) for row in dataset.invoices]
    transactions = [QontoTransaction.model_validate(row) for row in dataset.transactions]
    started = time.perf_counter()
    results = list(run_match(invoices, transactions))
    elapsed = time.perf_counter() - started
    equivalence = Equivalence(dataset.invoices, dataset.transactions)
    report = score(dataset.labels, results, equivalence=equivalence)
    out: dict[str, Any] = {
        "seed": dataset.seed,
        "held_out": dataset.seed not in TUNING_SEEDS,
        "invoices": len(invoices),
        "engine": report.as_dict(),
        "engine_seconds": round(elapsed, 3),
        "results": results,
    }
    if baseline:
        book = InvoiceBook(invoices)
        base_results = list(run_baseline(book, transactions))
        out["baseline"] = score(dataset.labels, base_results, equivalence=equivalence).as_dict()
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _pct4(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def print_report(evaluation: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(140, Console().width))
    seed = evaluation["seed"]
    held = "held-out seed" if evaluation["held_out"] else "TUNING seed"
    engine = evaluation["engine"]
    table = Table(
        title=f"seed {seed} ({held}): {engine['overall']['transactions']} transactions, "
        f"{evaluation['invoices']} invoices, engine {evaluation['engine_seconds']} s"
    )
    for column in ("case", "n", "matchable", "auto", "auto precision", "coverage",
                   "wrong auto", "suggested", "top suggestion ok", "unmatched"):  # fmt: skip
        table.add_column(column, justify="left" if column == "case" else "right")
    for row in engine["cases"]:
        table.add_row(
            row["case"],
            str(row["n"]),
            str(row["matchable"]),
            str(row["auto"]),
            _pct(row["auto_precision"]),
            _pct(row["coverage"]),
            str(row["wrong_auto"]),
            str(row["suggested"]),
            _pct(row["suggestion_top_correct"]),
            str(row["unmatched"]),
        )
    console.print(table)
    summary = Table(title=f"seed {seed}: overall")
    for column in ("engine", "auto precision", "coverage (matchable)", "wrong auto (non-matchable)",
                   "suggested", "top suggestion ok", "unmatched"):  # fmt: skip
        summary.add_column(column, justify="right")
    rows = [("qrecon engine", engine["overall"])]
    if "baseline" in evaluation:
        rows.append(("baseline (Odoo-like)", evaluation["baseline"]["overall"]))
    for name, overall in rows:
        summary.add_row(
            name,
            _pct(overall["auto_precision"]),
            _pct(overall["coverage"]),
            _pct(overall["wrong_auto_non_matchable"]),
            str(overall["suggested"]),
            _pct(overall["suggestion_top_correct"]),
            str(overall["unmatched"]),
        )
    console.print(summary)
    rel = engine["reliability"]
    calibration = Table(
        title=f"seed {seed}: reliability (auto + suggested, {rel['n']} decisions)",
        caption=f"expected calibration error {100 * rel['ece']:.2f} points; "
        f"confidence ≥ auto threshold {rel['auto_threshold']}: {rel['at_or_above_threshold']} "
        f"decisions, precision {_pct4(rel['precision_at_or_above_threshold'])}; "
        f"auto_matched: {rel['auto_matched']}, precision "
        f"{_pct4(rel['auto_matched_precision'])}",
    )
    for column in ("confidence", "n", "mean confidence", "observed precision", "gap"):
        calibration.add_column(column, justify="right")
    for row in engine["calibration"]:
        calibration.add_row(
            row["bin"],
            str(row["n"]),
            f"{row['mean_confidence']:.3f}",
            f"{row['accuracy']:.3f}",
            f"{row['mean_confidence'] - row['accuracy']:+.3f}",
        )
    console.print(calibration)
    goals = engine["overall"]
    ok = (
        (goals["auto_precision"] or 0) >= 0.999
        and (goals["coverage"] or 0) >= 0.98
        and (goals["wrong_auto_non_matchable"] or 0) <= 0.001
    )
    console.print(
        f"goals (precision ≥ 99.9%, coverage ≥ 98%, wrong auto on non-matchable ≤ 0.1%): "
        f"{'MET' if ok else 'NOT MET'}"
    )


def main(args: argparse.Namespace) -> int:
    """Run ``qonto-matcher evaluate`` with its parsed arguments (see its ``--help``)."""
    seeds: list[int] = args.seed or list(HELD_OUT_SEEDS)
    reports: list[dict[str, Any]] = []
    for seed in seeds:
        dataset = generate(seed, args.transactions)
        evaluation = evaluate_dataset(dataset, baseline=not args.no_baseline)
        results: list[MatchResult] = evaluation.pop("results")
        if args.out_dir is not None:
            directory = args.out_dir / f"seed-{seed}"
            dataset.write(directory)
            with (directory / "results.jsonl").open("w", encoding="utf-8") as out:
                write_results(results, out)
            (directory / "report.json").write_text(json.dumps(evaluation, indent=2) + "\n")
        reports.append(evaluation)
        if not args.json:
            print_report(evaluation)
    if args.json:
        json.dump(reports if len(reports) > 1 else reports[0], sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0
