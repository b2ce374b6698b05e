"""Merge bench/results/*.json into bench/results.json and the table of BENCHMARKS.md.

Each benchmark writes ``bench/results/<name>.json``::

    {"benchmark": "<name>", "title": "...", "figures": [
        {"name": "...", "value": 123.4, "unit": "req/s",
         "goal": "≥ 5000 tx/s", "ceiling": 6000.0, "ratio": 0.56, "note": "..."}],
     "details": {...anything...}}

``ceiling`` is the reference the issue names (a bare endpoint, the theoretical minimum, a
goal) and ``ratio`` the figure relative to it; both are optional.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
MERGED = ROOT / "bench" / "results.json"
MARKDOWN = ROOT / "BENCHMARKS.md"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "commit": commit,
    }


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def main() -> None:
    results = []
    for path in sorted(RESULTS_DIR.glob("*.json")):
        try:
            results.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            results.append({"benchmark": path.stem, "error": f"unreadable: {exc}", "figures": []})
    merged = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "benchmarks": results,
    }
    MERGED.write_text(json.dumps(merged, indent=2) + "\n")

    m = merged["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/report.py`); raw figures in `bench/results.json`.",
        "",
        f"- Date: {merged['generated_at']}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
        f"Python {m['python']}; commit {m['commit']}",
        "",
        "| benchmark | figure | value | unit | goal / ceiling | ratio |",
        "|---|---|---:|---|---|---:|",
    ]
    for result in results:
        name = result.get("title") or result.get("benchmark", "?")
        if result.get("error"):
            lines.append(f"| {name} | error | | | {result['error']} | |")
        for figure in result.get("figures", []):
            goal = figure.get("goal") or ""
            if figure.get("ceiling") is not None:
                goal = f"{goal} (ceiling {fmt(figure['ceiling'])})".strip()
            lines.append(
                f"| {name} | {figure.get('name', '')} | {fmt(figure.get('value'))} | "
                f"{figure.get('unit', '')} | {goal} | {fmt(figure.get('ratio'))} |"
            )
    notes = [r for r in results if r.get("notes")]
    if notes:
        lines += ["", "## Notes", ""]
        for result in notes:
            lines.append(
                f"- **{result.get('title') or result.get('benchmark')}**: {result['notes']}"
            )
    MARKDOWN.write_text("\n".join(lines) + "\n")
    print(MARKDOWN.read_text())


if __name__ == "__main__":
    main()
