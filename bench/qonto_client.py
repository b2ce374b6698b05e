"""Benchmark: requests/s the Qonto client sustains against the emulator, with and without
the process rate limiter.

    uv run python bench/qonto_client.py [--duration 10] [--concurrency 16]

The emulator runs in its own process (uvicorn, loopback) with 1,000 transactions; the
client runs here. Four bounded runs, each ``--duration`` seconds:

1. ``GET /v2/organization``, no client limiter, emulator limits off: the client's own
   ceiling (auth, limiter bookkeeping, retry wrapper, JSON decoding);
2. ``GET /v2/transactions`` pages of 100, parsed into ``QontoTransaction``: same, with
   the parsing a sync does;
3. ``GET /v2/organization`` with the process limiter at Qonto's limits (1,000 / 10 s,
   10,000 / 10 min) against an emulator enforcing the same limits: expected ~100 req/s
   sustained and **no 429**;
4. the same without the client limiter: the emulator answers 429s and the client survives
   on retries (penalising its limiter), at the cost of wasted requests.

Writes ``bench/results/qonto_client.json`` (format: ``bench/report.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from emulator_process import EmulatorProcess  # bench/ is on sys.path when run
from pydantic import SecretStr

from qrecon.common.logging import configure_logging
from qrecon.common.qonto.auth import ApiKeyAuth
from qrecon.common.qonto.client import QontoClient, RetryPolicy
from qrecon.common.qonto.errors import QontoError
from qrecon.common.qonto.ratelimit import RateLimiter

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "qonto_client.json"


class Recording(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__(limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
        self.statuses: dict[int, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response


async def run(
    emulator: EmulatorProcess,
    *,
    name: str,
    call: Callable[[QontoClient], Awaitable[int]],
    limiter: RateLimiter,
    duration: float,
    concurrency: int,
) -> dict[str, Any]:
    transport = Recording()
    retry = RetryPolicy(max_attempts=20, base_delay=0.1, max_delay=2.0, max_total_delay=30.0)
    client = QontoClient(
        base_url=emulator.base_url,
        auth=ApiKeyAuth(emulator.login, SecretStr(emulator.secret_key)),
        limiter=limiter,
        retry=retry,
        transport=transport,
        max_connections=64,
    )
    latencies: list[float] = []
    items = 0
    failures = 0
    start = time.perf_counter()
    deadline = start + duration
    cpu0 = time.process_time()

    async def worker() -> None:
        nonlocal items, failures
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                n = await call(client)
            except QontoError:
                failures += 1
                continue
            items += n
            latencies.append(time.perf_counter() - t0)

    async with client:
        # Workers stop at the deadline; a call waiting on the limiter past it still counts
        # its own time, so the figure is completed calls over the elapsed time.
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    done = len(latencies)
    latencies.sort()
    result = {
        "scenario": name,
        "duration_s": round(elapsed, 2),
        "concurrency": concurrency,
        "calls_ok": done,
        "calls_failed": failures,
        "calls_per_s": round(done / elapsed, 1),
        "items_per_s": round(items / elapsed, 1),
        "http_statuses": {str(k): v for k, v in sorted(transport.statuses.items())},
        "http_requests": sum(transport.statuses.values()),
        "retries": client.stats["retries"],
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "latency_ms_p99": round(latencies[int(0.99 * (done - 1))] * 1000, 2) if latencies else None,
        "client_cpu_us_per_request": round(cpu / max(1, sum(transport.statuses.values())) * 1e6),
        "limiter_waited_s": round(limiter.waited_total, 2),
    }
    print(json.dumps(result), file=sys.stderr)
    return result


async def organization(client: QontoClient) -> int:
    await client.get_organization()
    return 1


def transactions_page(
    bank_account_id: str, full_pages: int
) -> Callable[[QontoClient], Awaitable[int]]:
    """One of the first ``full_pages`` pages of one account's completed transactions (the
    list is per bank account and answers one status per request, as Qonto does and the
    strict emulator too)."""

    async def call(client: QontoClient) -> int:
        page = await client.list_transactions(
            bank_account_id=bank_account_id,
            statuses=["completed"],
            page=1 + int(time.perf_counter() * 1000) % full_pages,
        )
        return len(page.items)

    return call


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    emulator = EmulatorProcess(args.transactions)
    try:
        emulator.rate_limits(enabled=False)
        raw = await run(
            emulator,
            name="organization, no limiter",
            call=organization,
            limiter=RateLimiter.unlimited(),
            duration=args.duration,
            concurrency=args.concurrency,
        )
        pages = await run(
            emulator,
            name="transactions page of 100 (parsed), no limiter",
            # About 2/3 of the transactions are completed (EmulatorProcess's default draw).
            call=transactions_page(
                emulator.info["bank_account_id"], max(1, args.transactions * 6 // 10 // 100)
            ),
            limiter=RateLimiter.unlimited(),
            duration=args.duration,
            concurrency=args.concurrency,
        )
        emulator.rate_limits(enabled=True)
        limited = await run(
            emulator,
            name="organization, process limiter vs Qonto's limits",
            call=organization,
            limiter=RateLimiter(),
            duration=args.duration,
            concurrency=args.concurrency,
        )
        emulator.rate_limits(enabled=True)  # fresh counters
        unlimited = await run(
            emulator,
            name="organization, no limiter vs Qonto's limits (429 + retries)",
            call=organization,
            limiter=RateLimiter.unlimited(),
            duration=args.duration,
            concurrency=args.concurrency,
        )
    finally:
        emulator.close()

    def figure(name: str, run_: dict[str, Any], note: str, **kw: Any) -> dict[str, Any]:
        return {"name": name, "value": run_["calls_per_s"], "unit": "req/s", "note": note, **kw}

    return {
        "benchmark": "qonto_client",
        "title": "Qonto API client against the emulator (loopback, emulator in its own process)",
        "figures": [
            figure(
                "client, no limiter (GET organization)",
                raw,
                f"p50 {raw['latency_ms_p50']} ms, {raw['client_cpu_us_per_request']} µs client "
                f"CPU/request, concurrency {raw['concurrency']}",
            ),
            figure(
                "client, no limiter (transactions page of 100, parsed)",
                pages,
                f"{pages['items_per_s']:,.0f} transactions/s parsed",
            ),
            figure(
                "client with process limiter vs Qonto limits",
                limited,
                f"429s: {limited['http_statuses'].get('429', 0)}; Qonto allows 1,000 per 10 s "
                "(burst, then 100/s)",
                ceiling=100.0,
            ),
            figure(
                "client without limiter vs Qonto limits",
                unlimited,
                f"429s: {unlimited['http_statuses'].get('429', 0)}, "
                f"retries {unlimited['retries']}, failed calls {unlimited['calls_failed']}",
            ),
        ],
        "details": {
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "transactions": args.transactions,
            "cpus": os.cpu_count(),
            "runs": [raw, pages, limited, unlimited],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent calls")
    parser.add_argument("--transactions", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    configure_logging("WARNING", "console")  # per-request debug lines would be measured too
    result = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
