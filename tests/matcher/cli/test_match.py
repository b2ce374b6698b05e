"""``qonto-matcher match``: JSONL in, one MatchResult per transaction out, in order."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qrecon.common.schemas import MatchResult
from qrecon.matcher.__main__ import build_parser

from .lines import INVOICES, qonto_tx


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run_cli(tmp_path: Path, transactions: list[dict[str, Any]]) -> list[MatchResult]:
    invoices = write_jsonl(tmp_path / "invoices.jsonl", INVOICES)
    txs = write_jsonl(tmp_path / "transactions.jsonl", transactions)
    out = tmp_path / "results.jsonl"
    args = build_parser().parse_args(
        ["match", "--invoices", str(invoices), "--transactions", str(txs), "--out", str(out)]
    )
    assert args.handler(args) == 0
    return [MatchResult.model_validate_json(line) for line in out.read_text().splitlines()]


def test_one_result_per_transaction_in_input_order_with_residuals_carried(tmp_path: Path) -> None:
    results = run_cli(
        tmp_path,
        [
            qonto_tx("t1", "600.00", "MAISON DUPONT", "FAC-2025-0001 acompte"),  # partial
            qonto_tx("t2", "400,00", "MAISON DUPONT", "FAC-2025-0001 solde"),  # the balance
            qonto_tx("t3", "12.34", "CB BOULANGERIE", None, operation_type="card"),
            qonto_tx("t4", "400.00", "MAISON DUPONT", "FAC-2025-0001"),  # already paid
        ],
    )
    assert [r.transaction_id for r in results] == ["t1", "t2", "t3", "t4"]
    assert [r.status for r in results] == ["auto_matched", "auto_matched", "unmatched", "unmatched"]
    assert [a.amount_cents for a in results[0].allocations] == [60000]
    assert [a.amount_cents for a in results[1].allocations] == [40000]  # 1000 - 600 carried


def test_a_suggestion_is_not_applied_to_the_invoices(tmp_path: Path) -> None:
    results = run_cli(
        tmp_path,
        [
            qonto_tx("t1", "500.00", "MAISON DUPONT", "FAC-2025-0002", status="pending"),
            qonto_tx("t2", "500.00", "MAISON DUPONT", "FAC-2025-0002"),
        ],
    )
    assert results[0].status == "suggested"
    assert results[1].status == "auto_matched"  # the invoice was still open
    assert [a.invoice_id for a in results[1].allocations] == ["i2"]


def test_event_envelopes_are_accepted(tmp_path: Path) -> None:
    envelope = {
        "event_id": "e1",
        "source": "webhook",
        "transaction": qonto_tx("t1", "500.00", "MAISON DUPONT", "FAC-2025-0002"),
    }
    webhook = {
        "id": "w1",
        "type": "v1/transactions",
        "data": qonto_tx("t2", "1000.00", "MAISON DUPONT", "FAC-2025-0001"),
    }
    results = run_cli(tmp_path, [envelope, webhook])
    assert [r.transaction_id for r in results] == ["t1", "t2"]
    assert [r.status for r in results] == ["auto_matched", "auto_matched"]


def test_help_says_suggestions_are_not_applied() -> None:
    from qrecon.matcher.cli import match

    parser = argparse.ArgumentParser()
    match.add_arguments(parser)
    assert "NOT applied" in parser.format_help()


@pytest.mark.timeout(60)
def test_console_script_writes_to_stdout_and_fails_cleanly(tmp_path: Path) -> None:
    invoices = write_jsonl(tmp_path / "invoices.jsonl", INVOICES)
    txs = write_jsonl(
        tmp_path / "transactions.jsonl", [qonto_tx("t1", "500.00", "MAISON DUPONT", None)]
    )
    command = [sys.executable, "-m", "qrecon.matcher", "match", "--invoices", str(invoices)]
    ok = subprocess.run(
        [*command, "--transactions", str(txs)], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert len(lines) == 1
    assert MatchResult.model_validate_json(lines[0]).transaction_id == "t1"
    missing = subprocess.run(
        [*command, "--transactions", str(tmp_path / "nope.jsonl")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1
    assert "qonto-matcher match" in missing.stderr


def test_matching_never_crosses_organisations(tmp_path: Path) -> None:
    """Two organisations with the same invoices (ids, numbers, customers): each payment
    settles its own organisation's invoice; one without an organisation settles nothing of
    theirs (it belongs to the default organisation, which holds no invoice)."""
    books = [{**row, "organization_id": org} for org in ("org-a", "org-b") for row in INVOICES[:1]]
    invoices = write_jsonl(tmp_path / "invoices.jsonl", books)
    lines = [
        {**qonto_tx("a1", "1000.00", "MAISON DUPONT", "FAC-2025-0001"), "organization_id": "org-a"},
        {
            "event_id": "e1",
            "source": "webhook",
            "organization_id": "org-b",
            "transaction": qonto_tx("b1", "600.00", "MAISON DUPONT", "FAC-2025-0001"),
        },
        {**qonto_tx("a2", "400.00", "MAISON DUPONT", "FAC-2025-0001"), "organization_id": "org-a"},
        qonto_tx("x1", "1000.00", "MAISON DUPONT", "FAC-2025-0001"),
    ]
    txs = write_jsonl(tmp_path / "transactions.jsonl", lines)
    out = tmp_path / "results.jsonl"
    args = build_parser().parse_args(
        ["match", "--invoices", str(invoices), "--transactions", str(txs), "--out", str(out)]
    )
    assert args.handler(args) == 0
    results = [MatchResult.model_validate_json(line) for line in out.read_text().splitlines()]
    assert [(r.transaction_id, r.organization_id, r.status) for r in results] == [
        ("a1", "org-a", "auto_matched"),
        ("b1", "org-b", "auto_matched"),  # org-a's payment did not settle org-b's invoice
        ("a2", "org-a", "unmatched"),  # org-a's invoice is paid; org-b's is not org-a's
        ("x1", None, "unmatched"),
    ]
    assert [a.amount_cents for a in results[1].allocations] == [60000]
