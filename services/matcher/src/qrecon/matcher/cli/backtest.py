"""``qonto-matcher backtest``: what auto-matching would do on the company's own history.

Reads the invoices, transactions and reviewers' decisions already in the matcher's
PostgreSQL database (``adapters.postgres_backtest``), replays them through the engine
(``core.backtest``: the book follows what reviewers confirmed or matched by hand) and
prints precision and coverage overall and per reason, and the reliability table on
reviewers' decisions. Writes nothing. Run it before turning auto-matching on
(``MATCHER_AUTO_MATCH=true``; until then the matcher runs in shadow mode).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from qrecon.matcher.adapters.postgres_backtest import History, load_history, organizations
from qrecon.matcher.core import EngineConfig, MatchingEngine
from qrecon.matcher.core.backtest import BacktestReport, backtest

DESCRIPTION = __doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL DSN (default: DATABASE_URL, as `qonto-matcher run` reads it)",
    )
    parser.add_argument(
        "--organization",
        default=None,
        help="the organisation to replay (default: MATCHER_DEFAULT_ORGANIZATION, or the only"
        " one the database holds)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--top", type=int, default=25, help="reasons shown (default 25)")


class NoOrganization(ValueError):
    """Which organisation to replay is ambiguous or unknown."""


async def _load(dsn: str, organization: str | None) -> History:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        held = await organizations(conn)
        if organization is None:
            if len(held) != 1:
                raise NoOrganization(
                    f"the database holds {len(held)} organisations ({', '.join(held) or '-'});"
                    " name one with --organization"
                )
            organization = held[0]
        return await load_history(conn, organization)
    finally:
        await conn.close()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def print_report(report: BacktestReport, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(120, Console().width))
    o = report.overall
    console.print(
        f"{report.transactions} transactions replayed; the engine would auto-match "
        f"{report.would_auto_match}. Reviewed: {o.reviewed} ({o.with_truth} with an "
        f"allocation confirmed or made by hand)."
    )
    table = Table(title="back-test against reviewers' decisions, per reason")
    for column in ("reason", "reviewed", "auto", "precision", "coverage", "suggested",
                   "suggestion ok"):  # fmt: skip
        table.add_column(column, justify="left" if column == "reason" else "right")
    for stats in [o, *report.reasons[:top]]:
        table.add_row(
            stats.reason,
            str(stats.reviewed),
            str(stats.auto),
            _pct(stats.precision),
            _pct(stats.coverage),
            str(stats.suggested),
            str(stats.suggested_correct),
        )
    console.print(table)
    rel = report.reliability
    calibration = Table(
        title=f"reliability on reviewers' decisions ({rel.n})",
        caption=f"expected calibration error {100 * rel.ece:.2f} points; confidence ≥ auto "
        f"threshold {report.auto_threshold}: {report.threshold_n} decisions, precision "
        f"{_pct(report.threshold_precision)}",
    )
    for column in ("confidence", "n", "mean confidence", "observed precision"):
        calibration.add_column(column, justify="right")
    for bucket in rel.buckets:
        calibration.add_row(
            bucket.label, str(bucket.n), f"{bucket.mean_confidence:.3f}", f"{bucket.precision:.3f}"
        )
    console.print(calibration)


def main(args: argparse.Namespace) -> int:
    dsn, organization = args.database_url, args.organization
    if dsn is None:  # as the service is configured
        from qrecon.matcher.settings import MatcherSettings

        settings = MatcherSettings()
        dsn = settings.database_url.get_secret_value()
        organization = organization or settings.default_organization
    try:
        history = asyncio.run(_load(dsn, organization))
    except (OSError, ValueError) as exc:  # NoOrganization is a ValueError
        print(f"qonto-matcher backtest: cannot read the history: {exc}", file=sys.stderr)
        return 2
    report = backtest(
        MatchingEngine(EngineConfig()), history.invoices, history.transactions, history.verdicts
    )
    if args.json:
        out: dict[str, Any] = report.as_dict()
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report, args.top)
    return 0


__all__ = ["add_arguments", "main"]
