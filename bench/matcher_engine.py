"""Benchmark of the matching engine through ``qonto-matcher match`` (a subprocess).

1. 100k generated transactions against 50k open invoices: throughput (wall clock and per
   CPU-second of the child, i.e. on one core) and the child's peak RSS.
2. Scaling with the size of the book: the same 20k transactions against ~10k open
   invoices, then against 50k (the book padded with never-paid invoices of other
   counterparties). With indexes by counterparty, amount and reference token the cost per
   transaction should not grow with the book (linear would mean 5x slower).

3. A host-speed reference: a fixed, deterministic pure-Python workload (dict and str
   operations, the kind the engine does) run in this process; its operations per
   CPU-second let readers compare runs across machines (throughput / reference).

Writes ``bench/results/matcher_engine.json`` (see ``bench/report.py``).

    uv run python bench/matcher_engine.py [--transactions 100000] [--invoices 50000]
    uv run python bench/matcher_engine.py --host-speed   # the reference alone
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "matcher_engine.json"
GOAL_TPS = 5000.0
NOISE_FACTOR = 5.0  # a card-heavy SME: about one open invoice per two transactions
SEED = 9001


HOST_SPEED_OPS = 1_000_000  # operations of one host-speed round (about 1 s on a slow host)
HOST_SPEED_ROUNDS = 5


def _host_workload(ops: int) -> int:
    """``ops`` fixed operations: build a key, look it up, update a dict and a string count.

    Deterministic (no randomness, no clock, no I/O) and pure Python, so its speed depends
    on the interpreter and the CPU only. Returns a checksum so nothing is optimised away."""
    table: dict[str, int] = {}
    words = ("FACTURE", "VIR", "SEPA", "DUPONT", "MAISON", "2025", "0123", "REGLEMENT")
    checksum = 0
    for i in range(ops):
        key = words[i % 8] + "-" + str(i % 4099)
        folded = key.lower().replace("-", " ")
        table[key] = table.get(key, 0) + len(folded.split())
        if i % 7 == 0:
            checksum = (checksum + table[key] * 31 + len(folded)) % 1_000_003
    return checksum + len(table)


def host_speed(ops: int = HOST_SPEED_OPS, rounds: int = HOST_SPEED_ROUNDS) -> dict[str, Any]:
    """The host-speed reference: operations of :func:`_host_workload` per CPU-second of
    this process, best of ``rounds`` (a shared machine: the least disturbed round)."""
    results: list[float] = []
    checksum = 0
    for _ in range(rounds):
        started = time.process_time()
        checksum = _host_workload(ops)
        results.append(time.process_time() - started)
    best = min(results)
    return {
        "ops": ops,
        "cpu_s": [round(r, 3) for r in results],
        "ops_per_cpu_s": ops / best,
        "checksum": checksum,
    }


def _child_measure(command: list[str]) -> None:
    """Run ``command``; print its wall time, CPU time and peak RSS as JSON (one child only)."""
    started = time.perf_counter()
    completed = subprocess.run(command, check=False)  # noqa: S603 - our own command line
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "returncode": completed.returncode,
                "wall_s": wall,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "user_s": usage.ru_utime,
                "sys_s": usage.ru_stime,
                "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
            }
        )
    )


def measure(invoices: Path, transactions: Path, out: Path) -> dict[str, Any]:
    match = [sys.executable, "-m", "qrecon.matcher", "match"]
    match += ["--invoices", str(invoices), "--transactions", str(transactions), "--out", str(out)]
    wrapper = [sys.executable, __file__, "--child-measure", "--", *match]
    completed = subprocess.run(wrapper, check=True, capture_output=True, text=True)  # noqa: S603
    figures: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    if figures["returncode"] != 0:
        raise RuntimeError(f"qonto-matcher match failed: {completed.stderr}")
    return figures


def best_of(runs: int, invoices: Path, transactions: Path, out: Path) -> dict[str, Any]:
    """The fastest of ``runs`` runs (the machine may be shared; the best is the least disturbed)."""
    results = [measure(invoices, transactions, out) for _ in range(runs)]
    best = min(results, key=lambda r: r["cpu_s"])
    best["runs"] = [{k: round(v, 3) for k, v in r.items()} for r in results]
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
    return best


def _summary(open_invoices: int, tps: float, run: dict[str, Any]) -> dict[str, Any]:
    rounded = {k: round(v, 3) for k, v in run.items() if isinstance(v, float)}
    return {"open_invoices": open_invoices, "tx_per_cpu_s": round(tps, 1), **rounded}


def write_dataset(dataset: Any, directory: Path) -> tuple[Path, Path, int, int]:
    paths = dataset.write(directory)
    open_invoices = sum(1 for inv in dataset.invoices if inv["status"] == "open")
    return paths["invoices"], paths["transactions"], open_invoices, len(dataset.transactions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=50_000, help="open invoices")
    parser.add_argument("--scaling-transactions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--host-speed", action="store_true", help="print the host-speed reference only"
    )
    parser.add_argument("--child-measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_measure:
        _child_measure(args.command)
        return
    if args.host_speed:
        print(json.dumps(host_speed()))
        return

    from qrecon.matcher_eval import generate, pad_open_invoices

    details: dict[str, Any] = {"seed": SEED, "noise_factor": NOISE_FACTOR}
    reference = host_speed()
    details["host_speed"] = {k: v for k, v in reference.items() if k != "ops_per_cpu_s"}
    with tempfile.TemporaryDirectory(prefix="bench-matcher-") as tmp:
        work = Path(tmp)
        # 1. the main run
        started = time.perf_counter()
        dataset = generate(SEED, args.transactions, NOISE_FACTOR)
        dataset = pad_open_invoices(dataset, args.invoices, seed=SEED)
        details["generate_s"] = round(time.perf_counter() - started, 1)
        inv_path, tx_path, n_open, n_tx = write_dataset(dataset, work / "main")
        main_run = best_of(args.runs, inv_path, tx_path, work / "main" / "results.jsonl")
        with (work / "main" / "results.jsonl").open(encoding="utf-8") as results:
            statuses: dict[str, int] = {}
            for line in results:
                status = json.loads(line)["status"]
                statuses[status] = statuses.get(status, 0) + 1
        details["main"] = {
            "transactions": n_tx,
            "open_invoices": n_open,
            "invoices_in_file": len(dataset.invoices),
            "statuses": statuses,
            **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in main_run.items()},
        }
        tps_wall = n_tx / main_run["wall_s"]
        tps_cpu = n_tx / main_run["cpu_s"]

        # 2. scaling with the book: same transactions, ~10k then 50k open invoices
        small = generate(SEED + 1, args.scaling_transactions, NOISE_FACTOR)
        s_inv, s_tx, s_open, s_n = write_dataset(small, work / "small")
        small_run = best_of(args.runs, s_inv, s_tx, work / "small" / "results.jsonl")
        padded = pad_open_invoices(small, args.invoices, seed=SEED + 1)
        p_inv, p_tx, p_open, _ = write_dataset(padded, work / "padded")
        padded_run = best_of(args.runs, p_inv, p_tx, work / "padded" / "results.jsonl")
        # the same runs with no transaction: start-up and loading the book only
        empty = work / "empty.jsonl"
        empty.write_text("")
        small_load = best_of(args.runs, s_inv, empty, work / "small" / "none.jsonl")
        padded_load = best_of(args.runs, p_inv, empty, work / "padded" / "none.jsonl")
    small_tps = s_n / small_run["cpu_s"]
    padded_tps = s_n / padded_run["cpu_s"]
    # CPU per transaction once the book is loaded (start-up and loading subtracted)
    small_us = 1e6 * (small_run["cpu_s"] - small_load["cpu_s"]) / s_n
    padded_us = 1e6 * (padded_run["cpu_s"] - padded_load["cpu_s"]) / s_n
    details["scaling"] = {
        "transactions": s_n,
        "small_book": {
            **_summary(s_open, small_tps, small_run),
            "load_only_cpu_s": round(small_load["cpu_s"], 3),
            "matching_cpu_us_per_tx": round(small_us, 1),
        },
        "large_book": {
            **_summary(p_open, padded_tps, padded_run),
            "load_only_cpu_s": round(padded_load["cpu_s"], 3),
            "matching_cpu_us_per_tx": round(padded_us, 1),
        },
    }
    book_ratio = p_open / s_open
    cost_ratio = padded_us / small_us  # matching CPU per transaction, larger / smaller book
    result = {
        "benchmark": "matcher_engine",
        "title": "Matching engine (qonto-matcher match)",
        "figures": [
            {
                "name": f"throughput, {n_tx // 1000}k tx vs {n_open // 1000}k open invoices (wall)",
                "value": round(tps_wall, 1),
                "unit": "tx/s",
                "goal": f"≥ {GOAL_TPS:.0f} tx/s",
                "ceiling": GOAL_TPS,
                "ratio": round(tps_wall / GOAL_TPS, 3),
                "note": "whole CLI run: start-up, JSON parsing, engine, output",
            },
            {
                "name": "throughput per CPU-second of the process (one core)",
                "value": round(tps_cpu, 1),
                "unit": "tx/s",
                "goal": f"≥ {GOAL_TPS:.0f} tx/s",
                "ceiling": GOAL_TPS,
                "ratio": round(tps_cpu / GOAL_TPS, 3),
            },
            {
                "name": "peak RSS of the match process",
                "value": round(main_run["peak_rss_mb"], 1),
                "unit": "MiB",
            },
            {
                "name": f"matching CPU per transaction, {p_open // 1000}k vs {s_open // 1000}k "
                "open invoices (same transactions, book loading excluded)",
                "value": round(cost_ratio, 3),
                "unit": "x",
                "goal": f"≤ {book_ratio:.1f}x (linear in the book)",
                "ceiling": round(book_ratio, 2),
                "ratio": round(cost_ratio / book_ratio, 3),
                "note": f"{small_us:.0f} vs {padded_us:.0f} µs/tx; whole runs incl. loading: "
                f"{small_tps:.0f} vs {padded_tps:.0f} tx per CPU-second",
            },
            {
                "name": "host-speed reference (fixed pure-Python dict/str workload)",
                "value": round(reference["ops_per_cpu_s"] / 1000, 1),
                "unit": "k ops/CPU-s",
                "note": "not a goal: the same workload on every machine; compare throughputs "
                "across hosts as tx per CPU-second / this figure "
                f"(here {tps_cpu / (reference['ops_per_cpu_s'] / 1000):.1f} tx per k ops)",
            },
        ],
        "details": details,
        "notes": (
            f"Generated data (seed {SEED}, noise x{NOISE_FACTOR}), best of {args.runs} runs "
            "on a possibly shared machine; wall-clock throughput includes interpreter start-up."
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
