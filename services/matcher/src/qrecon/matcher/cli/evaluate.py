"""``qonto-matcher evaluate``: generate labelled data, run the engine as ``match`` does, score.

The evaluation harness is a tool, not part of the production matcher: it lives in the
``qrecon-matcher-eval`` workspace member (``qrecon.matcher_eval``), imported only when the
command runs. The production image does not install it; there the command says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HARNESS_MODULES = ("qrecon.matcher_eval", "qrecon.world")
DESCRIPTION = """\
Generate a labelled, realistic dataset (seeded), run the matching engine on it exactly as
`qonto-matcher match` does (same code, transactions in order, residuals carried, only
auto_matched results applied), and print per-case auto-match precision, coverage of
matchable payments and the top-suggestion correct rate, overall figures, and the same
for a baseline "Odoo-like" rule engine. The engine was tuned on seeds 1-5: report on
other (held-out) seeds, e.g. 1001 and 1002 (the default).

With --out-dir, writes DIR/seed-N/{invoices,transactions,labels,results}.jsonl (run
`qonto-matcher match` on them) and report.json.

Needs the evaluation harness (the qrecon-matcher-eval package: in the workspace and in the
image's `full` target, not in the production image).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--seed",
        type=int,
        action="append",
        default=None,
        help="dataset seed (repeatable; default: 1001 and 1002, held out from tuning)",
    )
    parser.add_argument(
        "--transactions", type=int, default=5000, help="transactions per dataset (default 5000)"
    )
    parser.add_argument("--out-dir", type=Path, default=None, help="write datasets and results")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline")


def _missing_harness(exc: ModuleNotFoundError) -> bool:
    name = exc.name or ""
    return any(name == module or module.startswith(name + ".") for module in HARNESS_MODULES)


def main(args: argparse.Namespace) -> int:
    try:
        from qrecon.matcher_eval import command
    except ModuleNotFoundError as exc:
        if not _missing_harness(exc):
            raise
        print(
            "qonto-matcher evaluate: the evaluation harness is not installed "
            f"(no module {exc.name!r}). It is the qrecon-matcher-eval package: "
            "`uv sync` in the workspace, or the image's `full` target; the production "
            "image ships without it.",
            file=sys.stderr,
        )
        return 2
    return command.main(args)


__all__ = ["add_arguments", "main"]
