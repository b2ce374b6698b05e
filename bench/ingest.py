"""Benchmark: verified Qonto webhooks per second through ``qonto-ingest``, and ack latency.

    uv run python bench/ingest.py [--workers 1,2] [--duration 15] [--rounds 2]
                                  [--concurrency 128] [--warmup 2]

For each worker count N (``--workers``, default 1 then 2):

1. ``qonto-ingest`` runs as a subprocess with ``INGEST_WORKERS=N`` (uvicorn + uvloop +
   httptools, its real PostgreSQL inbox in a fresh database, its relay publishing to the
   real Kafka under a topic prefix of its own).
2. A load generator runs in a **separate process**: ``--concurrency`` keep-alive HTTP/1.1
   connections over loopback (raw asyncio streams on uvloop, closed loop), each sending
   correctly signed ``v1/transactions`` webhooks with a fresh event id and transaction id
   every time (no duplicates), for ``--duration`` seconds; the first ``--warmup`` seconds
   are not counted. Latency is measured per request, from the first byte sent to the last
   byte of the answer. 128 connections keep both servers saturated (the highest
   sustained rate); with fewer, the durable path is latency-bound (a group commit per
   batch) rather than CPU-bound.
3. After the load, the time the relay needs to publish the remaining backlog is measured
   and the topic is checked to hold every acknowledged event exactly once.
4. The same load against a bare ``200 OK`` FastAPI endpoint on the same server stack
   (uvicorn + uvloop + httptools, **the same N worker processes**) gives the ceiling.
   The two servers run side by side and the load alternates between them (``--rounds``),
   so that both see the same background load (the machine may be shared); throughput is
   the median over rounds, latencies the worst round's. CPU time per request of each
   process (all workers) is reported too, and that of PostgreSQL and Kafka.

Writes ``bench/results/ingest.json`` (format: ``bench/report.py``). Goals: p99.9 far below
1 s at the highest sustained rate, and at least 50% of the ceiling's throughput (judged
on ingest's best N against the bare endpoint with the same N).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "ingest.json"
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"  # noqa: S105 - a test value

# A realistic v1/transactions webhook (Qonto's documented shape), ~900 bytes.
TEMPLATE = (
    '{"id":"%(event)s","subscription_id":"7f0c5a2e-5a55-4c1b-9a6a-2d0f0e1b2c3d",'
    '"organization_id":"acme-sas-1234","membership_id":"9b1d2c3e-4f50-4a6b-8c7d-0e1f2a3b4c5d",'
    '"type":"v1/transactions","created_at":"2025-01-24T10:55:00Z","data":{"event":"created",'
    '"id":"%(tx)s","transaction_id":"acme-sas-transaction-%(n)d","amount":%(amount)s,'
    '"currency":"EUR","side":"credit","status":"completed","operation_type":"income",'
    '"label":"CLIENT SAS","reference":"FAC-2025-%(n)d","note":null,"category":"other_income",'
    '"settled_at":"2025-01-24T10:55:00.000Z","emitted_at":"2025-01-24T10:54:00.000Z",'
    '"updated_at":"2025-01-24T10:55:00.000Z","bank_account":{"id":"ba-1",'
    '"iban":"FR7616958000011234567890123","bic":"QNTOFRP1XXX","name":"Compte principal"},'
    '"subject_type":"Income","income":{"counterparty_account_number":'
    '"FR7630006000011234567890189","counterparty_account_number_format":"IBAN",'
    '"counterparty_bank_identifier":"AGRIFRPPXXX"},"label_ids":[],"attachment_ids":[]}}'
)


# -- the load generator (its own process) --------------------------------------------------


async def _connection(
    host: str,
    port: int,
    path: str,
    secret: bytes,
    start: float,
    counted_from: float,
    deadline: float,
    latencies: list[float],
    statuses: dict[int, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    ).encode()
    perf = time.perf_counter
    n = 0
    try:
        while perf() < deadline:
            n += 1
            body = (
                TEMPLATE
                % {
                    "event": uuid.uuid4(),
                    "tx": uuid.uuid4(),
                    "n": n,
                    "amount": f"{n % 9000 + 1}.{n % 100:02d}",
                }
            ).encode()
            t = int(time.time())
            sig = hmac.new(secret, b"%d." % t + body, hashlib.sha256).hexdigest()
            request = (
                head
                + b"Content-Length: %d\r\nX-Qonto-Signature: t=%d,v1=%s\r\n\r\n"
                % (len(body), t, sig.encode())
                + body
            )
            sent = perf()
            writer.write(request)
            status_and_headers = await reader.readuntil(b"\r\n\r\n")
            status = int(status_and_headers[9:12])
            length = 0
            for line in status_and_headers.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            if length:
                await reader.readexactly(length)
            done = perf()
            if sent >= counted_from:
                latencies.append(done - sent)
                statuses[status] = statuses.get(status, 0) + 1
            if b"connection: close" in status_and_headers.lower():
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()
    _ = start


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
    return ordered[index]


async def loadgen(
    url: str, path: str, duration: float, warmup: float, concurrency: int
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter()
    counted_from = start + warmup
    deadline = start + duration
    await asyncio.gather(
        *(
            _connection(host, port, path, SECRET.encode(), start, counted_from, deadline,
                        latencies, statuses)
            for _ in range(concurrency)
        )
    )  # fmt: skip
    measured = time.perf_counter() - counted_from
    latencies.sort()
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    return {
        "requests": len(latencies),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(measured, 3),
        "rps": round(ok / measured, 1),
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 3),
        "p999_ms": round(_percentile(latencies, 0.999) * 1000, 3),
        "max_ms": round(latencies[-1] * 1000, 3) if latencies else None,
        "concurrency": concurrency,
    }


def run_loadgen(url: str, args: argparse.Namespace, server_pid: int) -> dict[str, Any]:
    """The load generator as a separate process; its result comes back as JSON.

    Also reports the CPU time used per acknowledged request by the server, the load
    generator and PostgreSQL and Kafka (the latter two machine-wide: they may include other
    activity), over the whole run (warm-up included).
    """
    kafka_pids = pids_named("java")
    before = {"postgres": postgres_cpu(), "kafka": cpu_seconds(kafka_pids)}
    server_before = tree_cpu(server_pid)
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, __file__, "--loadgen", url, "--duration", str(args.duration),
         "--warmup", str(args.warmup), "--concurrency", str(args.concurrency)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    loadgen_cpu = 0.0
    while proc.poll() is None:
        loadgen_cpu = max(loadgen_cpu, cpu_seconds([proc.pid]))
        time.sleep(0.2)
    assert proc.stdout is not None
    out = proc.stdout.read()
    if proc.returncode:
        raise RuntimeError(f"load generator failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    total = result["ok"] * args.duration / max(result["seconds"], 1e-9)  # warm-up included
    per = 1e6 / max(total, 1)
    result["cpu_us_per_request"] = {
        "server": round((tree_cpu(server_pid) - server_before) * per, 1),
        "load_generator": round(loadgen_cpu * per, 1),
        "postgres_machine_wide": round((postgres_cpu() - before["postgres"]) * per, 1),
        "kafka_machine_wide": (
            round((cpu_seconds(kafka_pids) - before["kafka"]) * per, 1)
            if pids_named("java") == kafka_pids  # None if the broker restarted meanwhile
            else None
        ),
    }
    return result


# -- the ceiling: a bare 200 OK on the same stack ------------------------------------------


def ceiling_app() -> Any:
    """A bare ``200 OK`` on ingest's stack (FastAPI configured as ingest's app is)."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    from qrecon.ingest.adapters.http import FASTAPI_OPTIONS

    app = FastAPI(**FASTAPI_OPTIONS)

    @app.post("/webhooks/qonto")
    async def ok() -> Response:
        return Response(b'{"status":"accepted"}', media_type="application/json")

    return app


def ceiling_server(port: int, workers: int) -> None:
    import uvicorn

    # as ``qonto-ingest`` runs: one process, or a supervisor and workers sharing the socket
    uvicorn.run("ingest:ceiling_app", factory=True, app_dir=str(Path(__file__).parent),
                workers=workers if workers > 1 else None, host="127.0.0.1", port=port,
                loop="uvloop", http="httptools", access_log=False, log_config=None,
                server_header=False, proxy_headers=False, backlog=2048)  # fmt: skip


# -- orchestration --------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pids: list[int], *, children: bool = False) -> float:
    """User + system CPU time of these processes (Linux /proc); with ``children``, also
    that of their exited children (PostgreSQL's backends come and go)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            if children:
                total += int(fields[13]) + int(fields[14])
    return total / _TICK


def tree_cpu(root: int) -> float:
    """CPU time of a process and its live descendants (uvicorn's workers)."""
    children: dict[int, list[int]] = {}
    for pid in pids_named(None):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return cpu_seconds(tree)


def postgres_cpu() -> float:
    """CPU time of the whole PostgreSQL server: live processes + the postmaster's reaped
    children (every backend, including those other clients use)."""
    pids = pids_named("postgres")
    parents = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    masters = [pid for pid in pids if parents.get(pid) not in parents]
    return cpu_seconds(pids) + sum(
        cpu_seconds([m], children=True) - cpu_seconds([m]) for m in masters
    )


def pids_named(name: str | None) -> list[int]:
    """Live processes with this command name (every process for None)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if name is None or (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def create_database(admin_dsn: str) -> str:
    import asyncpg

    from qrecon.common.testing import with_database

    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, dsn: str) -> None:
    import asyncpg

    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def drain(dsn: str, timeout: float = 120) -> dict[str, Any]:  # noqa: ASYNC109
    """How long the relay needs to publish what the load left pending."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        started = time.monotonic()
        first = None
        while True:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM ingest_inbox) AS total,"
                " (SELECT count(*) FROM ingest_inbox_pending) AS pending"
            )
            first = row["pending"] if first is None else first
            if row["pending"] == 0 or time.monotonic() - started > timeout:
                break
            await asyncio.sleep(0.1)
        return {
            "rows": row["total"],
            "pending_after_load": first,
            "drain_seconds": round(time.monotonic() - started, 2),
            "still_pending": row["pending"],
        }
    finally:
        await conn.close()


@contextlib.contextmanager
def ingest_server(kafka: str, admin_dsn: str, workers: int) -> Iterator[tuple[str, int, str, str]]:
    """``qonto-ingest`` as a subprocess on a fresh database: (url, pid, dsn, topic)."""
    from qrecon.common.testing import provision_topics

    dsn = asyncio.run(create_database(admin_dsn))
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    asyncio.run(provision_topics(kafka, prefix))
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "KAFKA_TOPIC_PREFIX": prefix,
        "QONTO_WEBHOOK_SECRET": SECRET,
        "INGEST_PORT": str(port),
        "INGEST_WORKERS": str(workers),
        "LOG_LEVEL": "WARNING",
    }
    exe = Path(sys.executable).with_name("qonto-ingest")
    log = (ROOT / ".run" / "bench-ingest.log").open("wb")
    proc = subprocess.Popen([str(exe)], env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/readyz", proc)
        yield url, proc.pid, dsn, prefix + "qonto.transactions.v1"
    finally:
        stop(proc)
        log.close()
        asyncio.run(drop_database(admin_dsn, dsn))


@contextlib.contextmanager
def ceiling(args: argparse.Namespace, workers: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, __file__, "--ceiling-server", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/docs", proc)
        yield url, proc.pid
    finally:
        stop(proc)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median throughput over the rounds; the worst latency percentiles of any round."""
    return {
        "rps": round(_median([r["rps"] for r in rounds]), 1),
        "p50_ms": max(r["p50_ms"] for r in rounds),
        "p99_ms": max(r["p99_ms"] for r in rounds),
        "p999_ms": max(r["p999_ms"] for r in rounds),
        "ok": sum(r["ok"] for r in rounds),
        "errors": sum(r["requests"] - r["ok"] for r in rounds),
        "server_cpu_us_per_request": round(
            _median([r["cpu_us_per_request"]["server"] for r in rounds]), 1
        ),
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="worker processes of both servers, one measurement per count (default 1,2)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating ingest/ceiling runs")
    parser.add_argument("--loadgen", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--ceiling-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--skip-ceiling", action="store_true")
    args = parser.parse_args()

    if args.ceiling_server:
        ceiling_server(args.ceiling_server, args.workers[0])
        return
    if args.loadgen:
        import uvloop

        result = uvloop.run(
            loadgen(args.loadgen, "/webhooks/qonto", args.duration, args.warmup, args.concurrency)
        )
        print(json.dumps(result))
        return

    (ROOT / ".run").mkdir(exist_ok=True)
    runs = [measure(args, workers) for workers in args.workers]
    # The goal is judged on ingest's best configuration against the bare endpoint with
    # the same number of worker processes (never against a smaller bare server).
    best = max(runs, key=lambda run: run["ingest"]["rps"])
    figures: list[dict[str, Any]] = []
    for run in runs:
        figures.extend(run_figures(args, run))
    goals = {
        "p999_far_below_1s": all(run["ingest"]["p999_ms"] < 250 for run in runs),
        "half_of_ceiling": None if best["ratio"] is None else best["ratio"] >= 0.5,
        "every_event_published_once": all(
            run["relay"]["still_pending"] == 0
            and run["relay"]["records_on_topic"] == run["relay"]["rows"]
            for run in runs
        ),
        "no_error_answers": all(run["ingest"]["errors"] == 0 for run in runs),
    }
    result = {
        "benchmark": "ingest",
        "title": "qonto-ingest: verified Qonto webhooks made durable (PostgreSQL inbox → Kafka)",
        "figures": figures,
        "details": {
            "runs": runs,
            "best_workers": best["workers"],
            "goals": goals,
            "setup": {
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "rounds": args.rounds,
                "concurrency": args.concurrency,
                "workers": args.workers,
                "load_generator": "separate process, raw asyncio streams on uvloop, keep-alive, "
                "closed loop, a fresh signed v1/transactions webhook per request",
                "server": "uvicorn + uvloop + httptools with N worker processes, the same N for "
                "ingest and the bare endpoint; ingest's relay runs in each worker (disjoint "
                "batches)",
                "cores": os.cpu_count(),
            },
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"ratio": best["ratio"], "workers": best["workers"], **goals}))


def measure(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    """Ingest and the bare endpoint, both with ``workers`` processes, in alternating rounds."""
    from qrecon.common import testing

    ingest_rounds: list[dict[str, Any]] = []
    ceiling_rounds: list[dict[str, Any]] = []
    with (
        testing.kafka_backend() as kafka,
        testing.postgres_backend() as admin_dsn,
        ingest_server(kafka, admin_dsn, workers) as (url, pid, dsn, topic),
        contextlib.ExitStack() as stack,
    ):
        bare = None if args.skip_ceiling else stack.enter_context(ceiling(args, workers))
        # Alternate the two servers so that both see the same background load.
        for number in range(1, args.rounds + 1):
            ingest_rounds.append(run_loadgen(url, args, pid))
            print(f"{workers}w round {number} ingest:  {json.dumps(ingest_rounds[-1])}",
                  file=sys.stderr)  # fmt: skip
            if bare is not None:
                ceiling_rounds.append(run_loadgen(bare[0], args, bare[1]))
                print(f"{workers}w round {number} ceiling: {json.dumps(ceiling_rounds[-1])}",
                      file=sys.stderr)  # fmt: skip
        relay = asyncio.run(drain(dsn))
        relay["records_on_topic"] = asyncio.run(testing.topic_size(kafka, topic))
        print(f"{workers}w relay: {json.dumps(relay)}", file=sys.stderr)
    ratios = [i["rps"] / c["rps"] for i, c in zip(ingest_rounds, ceiling_rounds, strict=False)]
    return {
        "workers": workers,
        "ingest": summarise(ingest_rounds),
        "ceiling_bare_200": summarise(ceiling_rounds) if ceiling_rounds else None,
        "ratio": round(_median(ratios), 3) if ratios else None,
        "ratio_per_round": [round(r, 3) for r in ratios],
        "relay": relay,
    }


def run_figures(args: argparse.Namespace, run: dict[str, Any]) -> list[dict[str, Any]]:
    ingest, top, relay = run["ingest"], run["ceiling_bare_200"], run["relay"]
    workers = f"{run['workers']} worker{'s' if run['workers'] > 1 else ''}"
    return [
        {
            "name": f"verified webhooks acknowledged per second, {workers} (durable in PostgreSQL)",
            "value": ingest["rps"],
            "unit": "req/s",
            "goal": f"≥ 50% of the bare endpoint ({workers} too)",
            "ceiling": top["rps"] if top else None,
            "ratio": run["ratio"],
            "note": f"median of {args.rounds} runs of {args.duration:g} s alternating with the "
            f"bare endpoint, concurrency {args.concurrency}",
        },
        {"name": f"ack latency p50, {workers}", "value": ingest["p50_ms"], "unit": "ms",
         "ceiling": top["p50_ms"] if top else None},
        {"name": f"ack latency p99, {workers}", "value": ingest["p99_ms"], "unit": "ms",
         "ceiling": top["p99_ms"] if top else None},
        {"name": f"ack latency p99.9, {workers}", "value": ingest["p999_ms"], "unit": "ms",
         "goal": "far below 1000 ms", "ceiling": top["p999_ms"] if top else None},
        {"name": f"server CPU per webhook, {workers}",
         "value": ingest["server_cpu_us_per_request"], "unit": "µs",
         "ceiling": top["server_cpu_us_per_request"] if top else None,
         "note": "all worker processes, relay included; PostgreSQL, Kafka and load generator "
         "CPU in details"},
        {"name": f"relay backlog drained after the load, {workers}",
         "value": relay["drain_seconds"], "unit": "s",
         "note": f"{relay['pending_after_load']} pending when the load stopped; "
         f"{relay['records_on_topic']} records on the topic for {relay['rows']} events"},
    ]  # fmt: skip


if __name__ == "__main__":
    main()
