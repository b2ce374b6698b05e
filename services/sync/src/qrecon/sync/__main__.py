"""``qonto-sync``: the sync service's command line.

    qonto-sync [run]                     poll every connection (health, readiness, metrics
                                         on SYNC_HOST:SYNC_PORT, default 127.0.0.1:8081)
    qonto-sync backfill --since DATE [--until DATE] [--connection ID] [--restart]
                                         history by settled_at, resumable
    qonto-sync status                    watermarks, sweeps in progress, owning replicas

Settings come from the environment (see ``qrecon.sync.settings``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from datetime import date

import uvicorn
from rich.console import Console
from rich.table import Table

from qrecon.common.db import create_pool
from qrecon.common.http_server import bounded, uvicorn_options
from qrecon.common.logging import configure_logging, get_logger
from qrecon.common.topic_admin import APPLY_HINT, MissingTopicsError
from qrecon.sync.adapters.http import create_app
from qrecon.sync.adapters.leases import LeaseStore
from qrecon.sync.adapters.store import SyncStore, migrate
from qrecon.sync.backfill import run_backfill
from qrecon.sync.core.leases import gapfill_lease
from qrecon.sync.service import SyncService
from qrecon.sync.settings import SyncSettings

log = get_logger("qrecon.sync")


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the service installs its own
        return None


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def serve(settings: SyncSettings) -> None:
    service = SyncService(settings)
    stop = asyncio.Event()
    _on_signals(stop)
    await service.start()
    server = _Server(
        uvicorn.Config(
            bounded(create_app(service), settings),
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            lifespan="off",
            **uvicorn_options(settings),
        )
    )
    http = asyncio.create_task(server.serve())
    try:
        await stop.wait()
        log.info("shutdown_requested")
    finally:
        await service.stop(settings.shutdown_timeout)
        server.should_exit = True
        await http


async def backfill(settings: SyncSettings, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    _on_signals(stop)
    reports = await run_backfill(
        settings,
        since=args.since,
        until=args.until,
        connection_id=args.connection,
        restart=args.restart,
        stop=stop,
    )
    console = Console(stderr=True)
    for r in reports:
        state = "done" if r.completed else "interrupted (run again to continue)"
        if r.already_done:
            state = "already done"
        if r.lease_lost:
            state = "interrupted: another process took this backfill over"
        if r.waited_for:
            state += f" (after waiting for {r.waited_for})"
        console.print(
            f"{r.connection_id}/{r.bank_account_id}: {state}, {r.pages} pages, "
            f"{r.published} published, {r.skipped} already on the topic "
            f"[{r.since:%Y-%m-%d} .. {r.until:%Y-%m-%d %H:%M}]"
        )
    return 0 if all(r.completed for r in reports) else 3


async def status(settings: SyncSettings) -> int:
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=2)
    try:
        await migrate(pool)
        rows = await SyncStore(pool).list_accounts()
        holders = await LeaseStore(pool).holders([gapfill_lease(c, a) for c, a, _, _ in rows])
    finally:
        await pool.close()
    table = Table("connection", "bank account", "watermark", "sweep in progress", "owner")
    for connection_id, account_id, watermark, sweep in rows:
        holder = holders.get(gapfill_lease(connection_id, account_id))
        table.add_row(
            connection_id,
            account_id,
            watermark.isoformat() if watermark else "-",
            f"cursor {sweep.cursor.isoformat()} page {sweep.page}" if sweep else "-",
            (holder.owner if holder is not None else None) or "-",
        )
    Console().print(table)
    return 0


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
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    settings = SyncSettings()
    configure_logging(settings.log_level, settings.log_format)
    command = args.command or "run"
    try:
        if command == "run":
            asyncio.run(serve(settings))
            return
        if command == "backfill":
            sys.exit(asyncio.run(backfill(settings, args)))
    except MissingTopicsError as exc:
        log.error("topics_missing", missing=exc.missing, hint=APPLY_HINT)
        sys.exit(f"qonto-sync {command}: {exc}")
    sys.exit(asyncio.run(status(settings)))


if __name__ == "__main__":
    main()
