"""Benchmark of the review API's latency on one keep-alive connection (issue 13, item 6).

A real ``qonto-matcher run`` subprocess (real Kafka and PostgreSQL: ``KAFKA_BOOTSTRAP_SERVERS``,
``DATABASE_URL``; else the local servers of ``infra/up.sh``) on a fresh database and fresh
topics; one HTTP client sends ``GET /v1/suggestions?limit=1`` (authenticated) 500 times in
a row on one connection, as a browser or an HTTP client library does, after 20 warm-up
requests. Without ``TCP_NODELAY`` on the server's sockets every response after the first
waited for the client's delayed ACK: 44-48 ms. Writes ``bench/results/review_api.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from qrecon.common import testing

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "review_api.json"
REQUESTS = int(os.environ.get("BENCH_REVIEW_REQUESTS", "500"))
WARMUP = 20
TOKEN = "bench-review-token-0123456789abcdef"  # noqa: S105 (a throwaway test server's)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(url: str, path: str) -> list[float]:
    """Milliseconds per request, all on one keep-alive connection."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timings = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for i in range(WARMUP + REQUESTS):
            started = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            if i >= WARMUP:
                timings.append(elapsed)
    return timings


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"qonto-matcher exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("qonto-matcher did not start")


async def run() -> dict[str, Any]:
    with testing.kafka_backend() as bootstrap, testing.postgres_backend() as admin_dsn:
        topics = await testing.provision_topics(bootstrap, testing.unique_prefix())
        async with testing.fresh_database(admin_dsn) as dsn:
            port = free_port()
            env = {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "DATABASE_URL": dsn,
                "KAFKA_TOPIC_PREFIX": topics.prefix,
                "MATCHER_GROUP_ID": f"{topics.prefix}matcher",
                "MATCHER_PORT": str(port),
                "MATCHER_API_TOKEN": TOKEN,
                "LOG_LEVEL": "WARNING",
            }
            log = ROOT / ".run" / "bench-review-api.log"
            log.parent.mkdir(exist_ok=True)
            proc = start_matcher(env, log)
            try:
                url = f"http://127.0.0.1:{port}"
                await asyncio.to_thread(wait_healthy, url, proc, log)
                review = await asyncio.to_thread(measure, url, "/v1/suggestions?limit=1")
                probe = await asyncio.to_thread(measure, url, "/healthz")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    return {"review": summary(review), "healthz": summary(probe)}


def summary(timings: list[float]) -> dict[str, Any]:
    return {
        "requests": len(timings),
        "p50_ms": round(percentile(timings, 0.50), 3),
        "p99_ms": round(percentile(timings, 0.99), 3),
        "mean_ms": round(statistics.fmean(timings), 3),
        "max_ms": round(max(timings), 3),
    }


def start_matcher(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "qrecon.matcher", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def main() -> None:
    measured = asyncio.run(run())
    review, probe = measured["review"], measured["healthz"]
    result = {
        "benchmark": "review_api",
        "title": "matcher review API: sequential requests on one keep-alive connection",
        "figures": [
            {
                "name": f"GET /v1/suggestions p50, {REQUESTS} in a row on one connection",
                "value": review["p50_ms"],
                "unit": "ms",
                "goal": "well under the 44-48 ms of Nagle + delayed ACK (before TCP_NODELAY)",
            },
            {
                "name": f"GET /v1/suggestions p99, {REQUESTS} in a row on one connection",
                "value": review["p99_ms"],
                "unit": "ms",
            },
            {
                "name": f"GET /healthz p50, {REQUESTS} in a row on one connection (no PG)",
                "value": probe["p50_ms"],
                "unit": "ms",
            },
        ],
        "details": {
            **measured,
            "measured_at": date.today().isoformat(),
            "note": "one qonto-matcher run subprocess; client, server, broker and PostgreSQL "
            "share the machine's cores",
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
