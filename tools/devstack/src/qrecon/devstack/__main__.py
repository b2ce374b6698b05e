"""``qrecon-stack``: the whole system as local processes.

qrecon-stack demo [--seed N] [--month-seconds S] [--keep-running]
qrecon-stack up        start the emulator and the three services, leave them running
qrecon-stack down      stop them
qrecon-stack status    what runs, where
qrecon-stack backtest-demo [--seed N] [--start DATE] [--out FILE]
                       the month in shadow mode, a scripted review, the back-test

Kafka and PostgreSQL are found from ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL``
(``scripts/demo.sh`` and ``scripts/stack.sh`` start them with ``infra/up.sh``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg

from qrecon.common.testing import with_database
from qrecon.devstack.stack import SERVICES, Stack, StackConfig

ROOT = Path(__file__).resolve().parents[5]
RUN_DIR = ROOT / ".run"


def month_to_play(args: argparse.Namespace) -> date:
    """``--start``, else the 30 days ending today. The one place the harness reads today's
    date: a person running ``make demo`` or ``make up`` wants to see their recent month;
    tests and replays always pass ``--start`` (the date is printed for that)."""
    from qrecon.devstack.run import recent_month_start

    start: date = args.start or recent_month_start(datetime.now(UTC).date())
    return start


def _infra() -> tuple[str, str]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    database = os.environ.get("DATABASE_URL", "postgresql://qrecon:qrecon@127.0.0.1:15432/qrecon")
    return kafka, database


async def _fresh_database(admin_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


def demo(args: argparse.Namespace) -> int:
    from qrecon.devstack.demo import run_demo
    from qrecon.devstack.run import PlayOptions

    kafka, database = _infra()
    run_id = time.strftime("%Y%m%d%H%M%S")
    demo_db = asyncio.run(_fresh_database(database, "qrecon_demo"))
    config = StackConfig(
        run_dir=RUN_DIR / "demo",
        kafka_bootstrap=kafka,
        database_url=demo_db,
        topic_prefix=f"demo{run_id}.",
        sync_poll_seconds=args.sync_poll_seconds,
    )
    stack = Stack(config)
    if any(stack.running().values()):
        stack.stop_all()
    # A person running the demo wants bank dates as recent as live ones; the date is
    # chosen here, at the entry point, and printed so a run can be replayed with --start.
    start = month_to_play(args)
    print(f"demo: playing the 30 days from {start.isoformat()} (replay with --start)")
    options = PlayOptions(
        seed=args.seed,
        month_seconds=args.month_seconds,
        size=args.size,
        drop=args.drop,
        start=start,
    )
    return asyncio.run(run_demo(stack, options, keep_running=args.keep_running))


def backtest_demo(args: argparse.Namespace) -> int:
    from qrecon.devstack.backtest_demo import run_backtest_demo
    from qrecon.devstack.run import PlayOptions

    kafka, database = _infra()
    db = asyncio.run(_fresh_database(database, "qrecon_backtest_demo"))
    start = month_to_play(args)
    options = PlayOptions(
        seed=args.seed,
        month_seconds=args.month_seconds,
        size=args.size,
        drop=args.drop,
        start=start,
        settle_timeout=args.settle_timeout,
    )
    return asyncio.run(
        run_backtest_demo(RUN_DIR / "backtest-demo", kafka, db, options, Path(args.out))
    )


def up(args: argparse.Namespace) -> int:
    """Start the stack and, on a first start, play a month so there is something to explore.

    Without a played month the review queue is empty and nothing publishes invoices, so
    ``make up`` plays the 30 days that end today through the back office and the
    emulator (as ``make demo`` does) and leaves everything running; ``--empty`` skips it.
    """
    from qrecon.devstack.demo import run_demo
    from qrecon.devstack.run import PlayOptions

    kafka, database = _infra()
    path = RUN_DIR / "stack"
    config = (
        StackConfig.load(path)
        if (path / "stack.json").exists()
        else StackConfig(run_dir=path, kafka_bootstrap=kafka, database_url=database)
    )
    stack = Stack(config)
    already_up = all(stack.running().values())
    if already_up or args.empty:
        stack.start_all()
    else:
        start = month_to_play(args)
        print(f"up: playing the 30 days from {start.isoformat()} (replay with --start)")
        options = PlayOptions(
            seed=args.seed, month_seconds=args.month_seconds, drop=0.1, start=start
        )
        code = asyncio.run(run_demo(stack, options, keep_running=True))
        if code != 0:
            print("up: the month did not settle in time; the stack keeps running", file=sys.stderr)
    print(_describe(stack))
    return 0


def down(_: argparse.Namespace) -> int:
    for name in ("stack", "demo"):
        path = RUN_DIR / name
        if (path / "stack.json").exists():
            Stack(StackConfig.load(path)).stop_all()
    return 0


def status(_: argparse.Namespace) -> int:
    path = RUN_DIR / "stack"
    if not (path / "stack.json").exists():
        print("not started (make up)")
        return 1
    print(_describe(Stack(StackConfig.load(path))))
    return 0


def _describe(stack: Stack) -> str:
    c = stack.config
    running = stack.running()
    urls = {
        "emulator": f"{c.emulator_url}  (admin: /_sim/status, API docs: /docs)",
        "ingest": f"{c.ingest_url}/webhooks/qonto  (metrics: /metrics)",
        "matcher": f"{c.matcher_url}/docs  (review API; bearer token in {c.run_dir}/stack.json)",
        "sync": f"{c.sync_url}/metrics",
    }
    lines = [f"{name:9} {'up  ' if running[name] else 'DOWN'} {urls[name]}" for name in SERVICES]
    lines.append(f"logs      {c.run_dir}/logs/")
    lines.append(f"review desk: {c.matcher_url}/desk  (login {c.desk_email} / {c.desk_password})")
    lines.append(
        "review queue: curl -H 'Authorization: Bearer "
        f"{c.matcher_token}' {c.matcher_url}/v1/suggestions"
    )
    lines.append("another month from scratch: make down, then make up (--start DATE to choose it)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="qrecon-stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="play a month through the whole system, then report")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        help="first business day played (ISO date; default: 30 days before today)",
    )
    p.add_argument("--month-seconds", type=float, default=60.0)
    p.add_argument("--size", default="small")
    p.add_argument("--drop", type=float, default=0.2, help="share of webhooks dropped")
    p.add_argument("--sync-poll-seconds", type=float, default=5.0)
    p.add_argument("--keep-running", action="store_true")
    p.set_defaults(handler=demo)
    p = sub.add_parser("up", help="start everything and play a month to explore (make up)")
    p.add_argument("--empty", action="store_true", help="start the services, play nothing")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", type=date.fromisoformat, default=None)
    p.add_argument("--month-seconds", type=float, default=30.0)
    p.set_defaults(handler=up)
    p = sub.add_parser(
        "backtest-demo", help="the month in shadow mode, a scripted review, the back-test"
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", type=date.fromisoformat, default=None)
    p.add_argument("--month-seconds", type=float, default=60.0)
    p.add_argument("--size", default="small")
    p.add_argument("--drop", type=float, default=0.2)
    p.add_argument("--settle-timeout", type=float, default=600.0)
    p.add_argument("--out", default=str(ROOT / "services/matcher/docs/backtest-demo-month.md"))
    p.set_defaults(handler=backtest_demo)
    sub.add_parser("down").set_defaults(handler=down)
    sub.add_parser("status").set_defaults(handler=status)
    args = parser.parse_args()
    sys.exit(args.handler(args))


if __name__ == "__main__":
    main()
