"""Plain transactions in bulk, for load tests and benchmarks (no realism)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from qrecon.sim.scenario.model import DEFAULT_START
from qrecon.world import names as N
from qrecon.world.ibans import french_iban
from qrecon.world.ids import uuid4
from qrecon.world.text import fold_upper


def bulk_transactions(
    *, seed: int = 0, count: int = 100_000, start: datetime | None = None
) -> list[dict[str, Any]]:
    """``count`` plain transactions (fields for ``Simulator.add_transaction``), one every
    ~30 s of business time from ``start``: for load tests and benchmarks, not realism.
    About 90% completed, 6% pending, 4% declined; credits and debits mixed."""
    rng = random.Random(seed)
    begin = (start or DEFAULT_START).astimezone(UTC)
    ibans = [french_iban(rng) for _ in range(50)]
    names = [f"{rng.choice(N.SHOP_PREFIXES)} {rng.choice(N.COMMON_SURNAMES)}" for _ in range(50)]
    out: list[dict[str, Any]] = []
    at = begin
    for index in range(count):
        at += timedelta(seconds=rng.randint(1, 60), milliseconds=rng.randrange(1000))
        roll = rng.random()
        status = "completed" if roll < 0.9 else ("pending" if roll < 0.96 else "declined")
        credit = rng.random() < 0.4
        who = rng.randrange(50)
        out.append(
            {
                "id": uuid4(rng),
                "at": at,
                "amount_cents": rng.randint(100, 2_000_000),
                "side": "credit" if credit else "debit",
                "operation_type": "income" if credit else rng.choice(("transfer", "card")),
                "status": status,
                "label": fold_upper(names[who]),
                "reference": f"FAC-{at.year}-{index % 10000:04d}" if credit else None,
                "counterparty": {"name": names[who], "iban": ibans[who]},
            }
        )
    return out
