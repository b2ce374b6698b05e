"""The Qonto emulator in its own process, bulk-loaded, for the benchmarks.

A benchmark's client and the emulator must not share a Python process (nor its GIL), so
the emulator runs as a child that prints its address and credentials as one JSON line and
serves until its standard input closes. Each benchmark chooses the shape of its data.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import httpx

_CHILD = r"""
import json, random, sys
from datetime import UTC, datetime, timedelta
from qrecon.sim.state import Simulator
from qrecon.sim.testing import run_emulator

cfg = json.loads(sys.argv[1])
n = cfg["transactions"]
sim = Simulator(seed=1)
rng = random.Random(1)
spread = cfg["spread_days"]
start = datetime.now(UTC) - timedelta(days=spread + 1) if spread else None
step = timedelta(days=spread) / max(n, 1) if spread else None
labels = cfg["distinct_labels"] or n
for i in range(n):
    sim.add_transaction(
        notify=False,
        **({"at": start + step * i} if spread else {}),
        amount_cents=rng.randint(100, 500_000),
        side=rng.choice(["credit", "debit"]),
        status=rng.choice(cfg["statuses"]),
        label=f"Counterparty {i % labels}",
        reference=f"REF-{i}",
    )
with run_emulator(sim) as handle:
    print(json.dumps({"base_url": handle.base_url, "login": handle.login,
                      "bank_account_id": handle.bank_account_id,
                      "secret_key": handle.secret_key,
                      "limits": sim.rate_limiter.limits.to_dict()}), flush=True)
    sys.stdin.read()  # serves until the parent closes our stdin
"""


class EmulatorProcess:
    """``transactions`` random transfers; ``spread_days`` spreads their ``updated_at`` over
    that many past days (else they are stamped at load time); statuses drawn from
    ``statuses``; ``distinct_labels`` counterparties (default: one per transaction)."""

    def __init__(
        self,
        transactions: int,
        *,
        statuses: Sequence[str] = ("completed", "completed", "pending"),
        spread_days: float | None = None,
        distinct_labels: int | None = None,
    ) -> None:
        config = {
            "transactions": transactions,
            "statuses": list(statuses),
            "spread_days": spread_days,
            "distinct_labels": distinct_labels,
        }
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", _CHILD, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator did not start")
        self.info: dict[str, Any] = json.loads(line)
        self.base_url: str = self.info["base_url"]
        self.login: str = self.info["login"]
        self.secret_key: str = self.info["secret_key"]

    def rate_limits(self, *, enabled: bool) -> None:
        """Qonto's limits (1,000/10 s, 10,000/10 min) on or off; counters reset."""
        httpx.post(
            f"{self.base_url}/_sim/rate_limits",
            json={
                "enabled": enabled,
                "windows": [{"limit": 1000, "seconds": 10}, {"limit": 10000, "seconds": 600}],
            },
        ).raise_for_status()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
