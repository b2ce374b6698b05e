"""A bigger book for the same transactions: never-paid invoices of extra counterparties
(the benchmark grows the book this way)."""

from __future__ import annotations

import random
from datetime import timedelta

from qrecon.matcher_eval.dataset import Dataset
from qrecon.matcher_eval.model import DAYS, START, draw_amount
from qrecon.world import names as N
from qrecon.world.ibans import random_iban
from qrecon.world.ids import uuid4


def pad_open_invoices(dataset: Dataset, total_open: int, seed: int = 0) -> Dataset:
    """Add never-paid invoices of extra counterparties until ``total_open`` are open.

    Used by the benchmark to grow the book without changing the transactions.
    """
    rng = random.Random(seed * 7919 + 17)
    invoices = list(dataset.invoices)
    open_now = sum(1 for inv in invoices if inv["status"] == "open")
    missing = max(0, total_open - open_now)
    parties = max(1, missing // 12)
    names = []
    for i in range(parties):
        names.append(
            (
                f"{rng.choice(N.SURNAMES)} {rng.choice(N.ACTIVITIES)} "
                f"{rng.choice(N.CITIES)} {i} SAS",
                random_iban(rng, "FR") if rng.random() < 0.5 else None,
            )
        )
    for k in range(missing):
        name, iban = names[k % parties]
        day = START + timedelta(days=rng.randint(-60, DAYS))
        kind = "receivable" if rng.random() < 0.75 else "payable"
        invoices.append(
            {
                "id": uuid4(rng),
                "number": f"PAD-{day.year}-{k:06d}" if kind == "receivable" else f"SUP{k:07d}",
                "kind": kind,
                "counterparty_name": name,
                "counterparty_iban": iban,
                "amount_cents": draw_amount(rng),
                "currency": "EUR",
                "issue_date": day.isoformat(),
                "due_date": (day + timedelta(days=30)).isoformat(),
                "status": "open",
                "payment_reference": None,
            }
        )
    return Dataset(
        seed=dataset.seed,
        invoices=invoices,
        transactions=dataset.transactions,
        labels=dataset.labels,
    )
