"""The labelled-data generator, the scoring, the baseline and ``qonto-matcher evaluate``
(small sets: the full figures come from the CLI on held-out seeds)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from qrecon.common.schemas import Invoice, QontoTransaction
from qrecon.matcher.__main__ import build_parser
from qrecon.matcher.core import InvoiceBook
from qrecon.matcher_eval import ALL_CASES, generate, pad_open_invoices, read_labels
from qrecon.matcher_eval.baseline import run_baseline
from qrecon.matcher_eval.metrics import score


def test_the_generator_is_seeded_and_deterministic() -> None:
    first, second = generate(11, 400), generate(11, 400)
    assert first.transactions == second.transactions
    assert first.invoices == second.invoices
    assert generate(12, 400).transactions != first.transactions


def test_generated_data_parses_and_labels_are_consistent() -> None:
    dataset = generate(13, 1500)
    invoices = {row["id"]: Invoice.model_validate(row) for row in dataset.invoices}
    assert len(dataset.labels) == len(dataset.transactions)
    for raw, label in zip(dataset.transactions, dataset.labels, strict=True):
        tx = QontoTransaction.model_validate(raw)
        assert label.transaction_id == tx.id
        assert label.case in ALL_CASES
        for allocation in label.truth:
            assert allocation["invoice_id"] in invoices
        if label.matchable and label.truth:
            kind = invoices[label.truth[0]["invoice_id"]].kind
            expected_side = "credit" if kind == "receivable" else "debit"
            net = sum(a["amount_cents"] for a in label.truth)
            signed = net if tx.side == expected_side else -net
            assert tx.amount_cents == signed + label.residual_cents
    cases = {label.case for label in dataset.labels}
    assert {"ref_exact", "name_amount", "noise_card", "direct_debit"} <= cases


def test_scoring_counts_precision_and_coverage() -> None:
    dataset = generate(14, 600)
    book = InvoiceBook(Invoice.model_validate(row) for row in dataset.invoices)
    txs = [QontoTransaction.model_validate(row) for row in dataset.transactions]
    report = score(dataset.labels, list(run_baseline(book, txs))).as_dict()
    overall = report["overall"]
    assert overall["transactions"] == len(txs)
    assert 0.0 <= overall["auto_precision"] <= 1.0
    assert overall["matchable"] + overall["non_matchable"] == len(txs)


def test_padding_adds_open_invoices_only() -> None:
    dataset = generate(15, 300)
    padded = pad_open_invoices(dataset, 1000)
    assert sum(1 for inv in padded.invoices if inv["status"] == "open") >= 1000
    assert padded.transactions is dataset.transactions


def test_evaluate_writes_datasets_match_can_read(tmp_path: Path, capsys: object) -> None:
    args = build_parser().parse_args(
        ["evaluate", "--seed", "21", "--transactions", "800", "--out-dir", str(tmp_path), "--json"]
    )
    assert args.handler(args) == 0
    report = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert report["seed"] == 21
    assert report["held_out"] is True
    assert {"engine", "baseline"} <= report.keys()
    folder = tmp_path / "seed-21"
    labels = read_labels(folder / "labels.jsonl")
    results = (folder / "results.jsonl").read_text().splitlines()
    assert len(labels) == len(results) == report["engine"]["overall"]["transactions"]
    match = build_parser().parse_args(
        [
            "match",
            "--invoices", str(folder / "invoices.jsonl"),
            "--transactions", str(folder / "transactions.jsonl"),
            "--out", str(tmp_path / "again.jsonl"),
        ]
    )  # fmt: skip
    assert match.handler(match) == 0
    assert (tmp_path / "again.jsonl").read_text().splitlines() == results  # same code path


def test_evaluate_says_so_when_the_harness_is_not_installed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The production image installs the matcher without qrecon-matcher-eval."""
    monkeypatch.setitem(sys.modules, "qrecon.matcher_eval", None)  # import fails as if absent
    args = build_parser().parse_args(["evaluate", "--seed", "3"])
    assert args.handler(args) == 2
    error = capsys.readouterr().err
    assert "evaluation harness is not installed" in error
    assert "qrecon-matcher-eval" in error


def test_the_production_matcher_does_not_depend_on_the_harness() -> None:
    """Only the `evaluate` command names the harness, and imports it lazily."""
    root = Path(__file__).resolve().parents[2]
    matcher = root / "services/matcher"
    manifest = (matcher / "pyproject.toml").read_text()
    assert "qrecon-matcher-eval" not in manifest
    assert "qrecon-world" not in manifest
    naming = {
        str(path.relative_to(matcher))
        for path in (matcher / "src").rglob("*.py")
        if re.search(r"qrecon\.(matcher_eval|world)\b", path.read_text())
    }
    assert naming == {"src/qrecon/matcher/cli/evaluate.py"}
