"""One month of the company, part four: payment links on some client invoices.

About a third of the month's client invoices get a Qonto payment link a few minutes
after they are issued (``payment_link``: a ``v1/payment-links`` ``created`` webhook whose
``resource_metadata`` names the invoice); when such an invoice is marked paid, its link
is too (``payment_link_update``, status ``paid``). Draws from a generator of its own, so
the rest of a seed's life is unchanged.
"""

from __future__ import annotations

import random
from datetime import timedelta

from qrecon.sim.scenario.builder import Builder
from qrecon.sim.scenario.model import Cast, Month, add_months
from qrecon.world.ids import uuid4

LINK_SHARE = 0.3


def payment_links(b: Builder, cast: Cast, month: Month) -> None:
    rng = random.Random(f"{b.seed}:links:{month.start.date().isoformat()}")
    month_end = add_months(month.start, 1)
    issued = [e for e in b.events if e.kind == "client_invoice" and month.start <= e.at < month_end]
    paid_at = {
        e.payload["invoice_id"]: e.at
        for e in b.events
        if e.kind == "invoice_update"
        and e.payload.get("invoice_kind") == "client"
        and e.payload.get("changes", {}).get("status") == "paid"
    }
    for event in issued:
        if rng.random() >= LINK_SHARE:
            continue
        invoice_id = event.payload["invoice"]["id"]
        link_id = uuid4(rng)
        created = b.add(
            event.at + timedelta(minutes=rng.randint(1, 30)),
            "payment_link",
            id=link_id,
            invoice_id=invoice_id,
        )
        if created and invoice_id in paid_at:
            b.add(
                paid_at[invoice_id] + timedelta(seconds=1),
                "payment_link_update",
                id=link_id,
                status="paid",
            )
