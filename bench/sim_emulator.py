"""Benchmark: the Qonto emulator with 100k transactions — load time, memory, and how fast a
client pages through all of them.

    uv run python bench/sim_emulator.py [--count 100000]

The emulator runs in its own process (``qonto-sim``'s bulk scenario, loopback); this
process pages through every transaction with one keep-alive ``httpx`` client, pages of
100, the way a sync backfill does (all statuses, ``sort_by=updated_at:asc`` from
2017-01-01), then once more under the default sort with an ``updated_at`` window.
Writes ``bench/results/sim_emulator.json`` (format: ``bench/report.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "sim_emulator.json"

EMULATOR = r"""
import json, sys, time
from qrecon.sim.player import load_scenario
from qrecon.sim.state import Simulator
from qrecon.sim.testing import run_emulator

sim = Simulator(seed=1)
sim.rate_limiter.limits.enabled = False
began = time.monotonic()
load_scenario(sim, name="bulk", size=int(sys.argv[1]), seed=1)
loaded = time.monotonic() - began
with run_emulator(sim) as qonto:
    accounts = [a["id"] for a in sim.accounts.bank_accounts()]
    print(json.dumps({"base_url": qonto.base_url, "headers": qonto.headers(),
                      "bank_account_ids": accounts,
                      "load_seconds": loaded}), flush=True)
    sys.stdin.read()
"""


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _page_all(client: httpx.Client, params: list[tuple[str, str]]) -> tuple[int, int, float]:
    seen = pages = 0
    page: int | None = 1
    began = time.monotonic()
    while page is not None:
        response = client.get("/v2/transactions", params=[*params, ("page", str(page))])
        response.raise_for_status()
        body = response.json()
        seen += len(body["transactions"])
        pages += 1
        page = body["meta"]["next_page"]
    return seen, pages, time.monotonic() - began


def _page_each(
    client: httpx.Client, accounts: list[str], params: list[tuple[str, str]]
) -> tuple[int, int, float]:
    """``_page_all`` for each bank account and each status, one status per request: the
    list is per bank account and answers one status only, as Qonto does (the emulator is
    strict)."""
    seen = pages = 0
    seconds = 0.0
    for account in accounts:
        for status in ("pending", "declined", "completed"):
            s, p, t = _page_all(
                client, [("bank_account_id", account), ("status[]", status), *params]
            )
            seen, pages, seconds = seen + s, pages + p, seconds + t
    return seen, pages, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", EMULATOR, str(args.count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        rss = _rss_mib(process.pid)
        accounts = info["bank_account_ids"]
        with httpx.Client(base_url=info["base_url"], headers=info["headers"], timeout=30) as c:
            backfill = [
                ("sort_by", "updated_at:asc"),
                ("updated_at_from", "2017-01-01T00:00:00.000Z"),
                ("per_page", "100"),
            ]
            seen, pages, seconds = _page_each(c, accounts, backfill)
            window = [("updated_at_from", "2025-01-20T00:00:00.000Z")]
            w_seen, w_pages, w_seconds = _page_each(c, accounts, window)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=30)
    assert seen == args.count, (seen, args.count)
    figures: list[dict[str, Any]] = [
        {
            "name": f"load {args.count:,} transactions (bulk scenario)",
            "value": round(args.count / info["load_seconds"]),
            "unit": "tx/s",
            "note": f"{info['load_seconds']:.1f} s",
        },
        {
            "name": f"emulator RSS with {args.count:,} transactions",
            "value": round(rss),
            "unit": "MiB",
        },
        {
            "name": "page through all (updated_at:asc, 100/page)",
            "value": round(pages / seconds),
            "unit": "pages/s",
            "note": f"{seen:,} tx in {seconds:.1f} s ({seen / seconds:,.0f} tx/s)",
        },
        {
            "name": "page an updated_at window (default settled_at:desc sort)",
            "value": round(w_pages / w_seconds),
            "unit": "pages/s",
            "note": f"{w_seen:,} tx in {w_seconds:.1f} s",
        },
    ]
    result = {
        "benchmark": "sim_emulator",
        "title": "Qonto emulator: 100k transactions",
        "figures": figures,
        "details": {"count": args.count, "pages": pages, "window_pages": w_pages},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
