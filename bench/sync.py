"""Benchmark: how fast qonto-sync catches up on 100k transactions, against the emulator
under its default (Qonto's) rate limit.

    uv run python bench/sync.py [--transactions 100000] [--timeout 240]

The emulator runs in its own process (uvicorn on loopback, 1,000 req / 10 s and
10,000 req / 10 min enforced, as Qonto does) holding ``--transactions`` transactions
spread over two years. A fresh ``SyncService`` (real Kafka, a fresh PostgreSQL database,
its seen-versions consumer on) starts from an empty watermark; the catch-up time is from
start until its first sweep has completed, i.e. every version is published, acknowledged
and checkpointed.

The theoretical minimum is the API alone: ``ceil(n / 100)`` pages at the allowed rate of
100 requests/s (1,000 per 10 s). Figures: catch-up time and its ratio to that minimum,
API requests per transaction (minimum 0.01), transactions/s, 429s. Bounded by
``--timeout`` (a run that does not finish reports what it did). Writes
``bench/results/sync.json`` (format: ``bench/report.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from emulator_process import EmulatorProcess  # bench/ is on sys.path when run

from qrecon.common import testing
from qrecon.common.logging import configure_logging
from qrecon.sync.bootstrap import SyncService
from qrecon.sync.settings import SyncSettings

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "sync.json"
PER_PAGE = 100
ALLOWED_RATE = 1000 / 10.0  # requests per second, Qonto's short window


async def catch_up(emulator: EmulatorProcess, n: int, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    with testing.kafka_backend() as bootstrap, testing.postgres_backend() as admin_dsn:
        async with testing.fresh_database(admin_dsn) as database_url:
            prefix = testing.unique_prefix()
            await testing.provision_topics(bootstrap, prefix)
            settings = SyncSettings(
                _env_file=None,
                database_url=database_url,
                kafka_bootstrap_servers=bootstrap,
                kafka_topic_prefix=prefix,
                consumer_group=f"{prefix}sync-seen",
                api_base_url=emulator.info["base_url"],
                organization_id=emulator.info["login"],
                api_key=emulator.info["secret_key"],
                poll_interval=3600.0,
                log_level="WARNING",
            )
            service = SyncService(settings)
            cpu_before = time.process_time()
            started = time.perf_counter()
            await service.start()
            finished: float | None = None
            try:
                state = service.connections["default"]
                deadline = started + timeout
                while time.perf_counter() < deadline:
                    workers = list(state.accounts.values())
                    if workers and workers[0].progress.sweeps_completed >= 1:
                        finished = time.perf_counter()
                        break
                    await asyncio.sleep(0.05)
                elapsed = (finished or time.perf_counter()) - started
                cpu = time.process_time() - cpu_before
                worker = next(iter(state.accounts.values()), None)
                progress = worker.progress if worker else None
                transport = state.transport
                seen_lag = 0.0
                if finished is not None:  # how long the seen consumer takes to read it all
                    assert service.pool is not None
                    while time.perf_counter() < deadline:
                        count = await service.pool.fetchval(
                            "SELECT count(*) FROM sync_seen_versions"
                        )
                        if count >= n:
                            break
                        await asyncio.sleep(0.1)
                    seen_lag = time.perf_counter() - finished
                limiter = service.limiter
                return {
                    "completed": finished is not None,
                    "elapsed": elapsed,
                    "published": progress.published if progress else 0,
                    "skipped": progress.skipped if progress else 0,
                    "pages": progress.pages if progress else 0,
                    "requests": transport.requests,
                    "rate_limited": transport.rate_limited,
                    "limiter_wait_s": limiter.waited_total if limiter else None,
                    "seen_consumer_lag_after_catch_up_s": round(seen_lag, 2),
                    "sync_process_cpu_s": round(cpu, 2),
                }
            finally:
                await service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    n = args.transactions
    t0 = time.perf_counter()
    emulator = EmulatorProcess(
        n,
        statuses=("completed", "completed", "completed", "pending", "declined"),
        spread_days=729,
        distinct_labels=5000,
    )
    setup = time.perf_counter() - t0
    print(f"bench sync: emulator ready with {n} transactions in {setup:.1f}s", file=sys.stderr)
    try:
        run = asyncio.run(catch_up(emulator, n, args.timeout))
    finally:
        emulator.close()
    minimum = math.ceil(n / PER_PAGE) / ALLOWED_RATE
    elapsed = run["elapsed"]
    per_tx = run["requests"] / n if n else 0.0
    result = {
        "benchmark": "sync",
        "title": f"qonto-sync catch-up on {n:,} transactions (emulator, Qonto's rate limit)",
        "figures": [
            {
                "name": "catch-up time",
                "value": round(elapsed, 2),
                "unit": "s",
                "ceiling": minimum,
                "ratio": round(elapsed / minimum, 2),
                "note": f"theoretical minimum {minimum:.0f}s = {math.ceil(n / PER_PAGE)} pages "
                f"of {PER_PAGE} at {ALLOWED_RATE:.0f} req/s"
                + ("" if run["completed"] else f"; NOT FINISHED within {args.timeout:.0f}s"),
            },
            {
                "name": "API requests per transaction",
                "value": round(per_tx, 5),
                "unit": "req/tx",
                "ceiling": 1 / PER_PAGE,
                "ratio": round(per_tx * PER_PAGE, 3),
                "note": f"{run['requests']} requests, {run['rate_limited']} answered 429",
            },
            {
                "name": "catch-up throughput",
                "value": round(run["published"] / elapsed, 1) if elapsed else 0.0,
                "unit": "tx/s",
                "note": "published, acknowledged by Kafka and checkpointed in PostgreSQL",
            },
        ],
        "details": {
            **run,
            "transactions": n,
            "emulator_setup_s": round(setup, 1),
            "emulator_limits": emulator.info.get("limits"),
            "theoretical_minimum_s": minimum,
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "cpus": os.cpu_count(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not run["completed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
