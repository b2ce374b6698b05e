"""``qonto-matcher match`` reads each line once and writes what it decided, even on an error.

A transaction line is parsed once (its ``organization_id`` is one of the transaction's
extra keys); an envelope is read as JSON for its organisation. A bad line stops the run
with its number, and the results decided before it are in the output.
"""

from __future__ import annotations

import gc
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qrecon.common.schemas import MatchResult
from qrecon.matcher.__main__ import build_parser
from qrecon.matcher.cli.match import parse_scoped, write_results, write_results_binary

from . import lines
from .lines import INVOICES

INVOICE = INVOICES[0]


def qonto_tx(tx_id: str, amount: str, reference: str | None, **extra: Any) -> dict[str, Any]:
    return lines.qonto_tx(tx_id, amount, "MAISON DUPONT", reference, **extra)


def line(row: dict[str, Any]) -> bytes:
    return json.dumps(row).encode()


def run(tmp_path: Path, rows: list[dict[str, Any] | str]) -> tuple[int, list[MatchResult]]:
    invoices = tmp_path / "invoices.jsonl"
    invoices.write_text(json.dumps(INVOICE) + "\n")
    txs = tmp_path / "transactions.jsonl"
    txs.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    out = tmp_path / "results.jsonl"
    args = build_parser("match").parse_args(
        ["match", "--invoices", str(invoices), "--transactions", str(txs), "--out", str(out)]
    )
    code = args.handler(args)
    return code, [MatchResult.model_validate_json(x) for x in out.read_text().splitlines()]


def test_a_transaction_line_names_its_organisation_or_none() -> None:
    assert parse_scoped(line(qonto_tx("t1", "1.00", None)))[0] is None
    organization, tx = parse_scoped(line(qonto_tx("t1", "1.00", None, organization_id="org-a")))
    assert (organization, tx.id) == ("org-a", "t1")


def test_an_envelope_names_its_organisation_at_its_top_level() -> None:
    envelope = {
        "event_id": "e1",
        "organization_id": "org-b",
        "transaction": qonto_tx("t1", "1.00", None),
    }
    organization, tx = parse_scoped(line(envelope))
    assert (organization, tx.id) == ("org-b", "t1")


@pytest.mark.parametrize("value", ["", 5, ["org"]])
def test_an_organisation_that_is_not_a_non_empty_string_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="organization_id must be a non-empty string"):
        parse_scoped(line(qonto_tx("t1", "1.00", None, organization_id=value)))
    envelope = {"organization_id": value, "transaction": qonto_tx("t1", "1.00", None)}
    with pytest.raises(ValueError, match="organization_id must be a non-empty string"):
        parse_scoped(line(envelope))


def test_a_line_that_is_no_transaction_keeps_the_transaction_error() -> None:
    with pytest.raises(ValueError, match="side"):
        parse_scoped(line({"id": "t1", "amount": "1.00", "updated_at": "2025-03-20T10:00:01Z"}))
    with pytest.raises(ValueError):
        parse_scoped(b"{not json")


def test_a_bad_line_stops_the_run_with_its_number_and_earlier_results_are_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, results = run(
        tmp_path,
        [qonto_tx("t1", "1000.00", "FAC-2025-0001"), qonto_tx("t2", "5.00", None), "{oops"],
    )
    assert code == 1
    assert "transactions.jsonl:3:" in capsys.readouterr().err
    assert [(r.transaction_id, r.status) for r in results] == [
        ("t1", "auto_matched"),
        ("t2", "unmatched"),
    ]


def test_the_binary_writer_writes_what_the_text_writer_writes(tmp_path: Path) -> None:
    _, results = run(tmp_path, [qonto_tx(f"t{i}", "3.00", None) for i in range(1100)])
    text, binary = io.StringIO(), io.BytesIO()
    assert write_results(results, text) == write_results_binary(results, binary) == 1100
    assert binary.getvalue().decode() == text.getvalue()


@pytest.mark.timeout(60)
def test_match_does_not_load_the_service() -> None:
    """Only the chosen subcommand's module is imported: ``match`` starts without the
    service's web stack (``run``)."""
    probe = (
        "import sys\n"
        "from qrecon.matcher.__main__ import build_parser\n"
        "build_parser('match').parse_args(['match', '--invoices', 'a', '--transactions', 'b'])\n"
        "print('qrecon.matcher.cli.run' in sys.modules, 'fastapi' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=50
    )
    assert done.stdout.split() == ["False", "False"]


def test_the_collector_is_given_back_as_it_was(tmp_path: Path) -> None:
    """``match`` pauses the collector while loading and freezes the books while matching;
    an in-process caller gets it back unchanged, after a success or an error."""
    assert gc.isenabled()
    run(tmp_path, [qonto_tx("t1", "1000.00", "FAC-2025-0001")])
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    code, _ = run(tmp_path, ["{oops"])
    assert code == 1
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
