"""``qonto-sync``: the sync service's command line.

    qonto-sync [run]                     poll every connection (health, readiness, metrics
                                         on SYNC_HOST:SYNC_PORT, default 127.0.0.1:8081)
    qonto-sync backfill --since DATE [--until DATE] [--connection ID] [--restart]
                                         history by settled_at, resumable
    qonto-sync status                    watermarks, sweeps in progress, owning replicas
    qonto-sync reinstate CONNECTION      poll a connection whose consent was revoked again
                                         (once the user has granted access anew)

Settings come from the environment (see ``qrecon.sync.settings``); this module parses
the arguments, ``qrecon.sync.bootstrap`` wires and runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

from qrecon.common.logging import configure_logging, get_logger
from qrecon.common.topic_admin import APPLY_HINT, MissingTopicsError
from qrecon.sync import bootstrap
from qrecon.sync.settings import SyncSettings

log = get_logger("qrecon.sync")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qonto-sync", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command")
    sub.add_parser("run", help="poll continuously (the default)")
    b = sub.add_parser("backfill", help="publish history by settled_at windows (resumable)")
    b.add_argument("--since", type=_date, required=True, help="first day (>= 2017-01-01)")
    b.add_argument("--until", type=_date, default=None, help="last day (default: now)")
    b.add_argument("--connection", default=None, help="one connection id (default: all)")
    b.add_argument("--restart", action="store_true", help="start this range over")
    sub.add_parser("status", help="watermarks and sweeps in progress")
    r = sub.add_parser("reinstate", help="poll a revoked connection again (consent regranted)")
    r.add_argument("connection", help="the connection id")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    settings = SyncSettings()
    configure_logging(settings.log_level, settings.log_format)
    command = args.command or "run"
    try:
        if command == "run":
            asyncio.run(bootstrap.serve(settings))
            return
        if command == "backfill":
            sys.exit(
                asyncio.run(
                    bootstrap.backfill(
                        settings,
                        since=args.since,
                        until=args.until,
                        connection_id=args.connection,
                        restart=args.restart,
                    )
                )
            )
        if command == "reinstate":
            sys.exit(asyncio.run(bootstrap.reinstate(settings, args.connection)))
    except MissingTopicsError as exc:
        log.error("topics_missing", missing=exc.missing, hint=APPLY_HINT)
        sys.exit(f"qonto-sync {command}: {exc}")
    sys.exit(asyncio.run(bootstrap.status(settings)))


if __name__ == "__main__":
    main()
