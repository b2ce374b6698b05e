"""A seeded, deterministic generator of a French SME's life on Qonto.

``generate(seed=..., months=..., size=...)`` returns a ``Scenario``: bank accounts,
customers and suppliers (valid IBANs), client and supplier invoices, and a timeline of
events (invoice issued, transaction created, transaction updated, invoice paid) shaped
like a real business: clean and messy remittance references, typos, grouped payments,
instalments, bank fees deducted by the payer, direct debits without an invoice number,
card spend (pending, then completed or declined), salaries, Qonto's own fees, internal
transfers, and later edits (note, attachment, category) that move ``updated_at``. Every
payment carries its true invoice allocation (the ground truth).

Same seed and parameters, same scenario: every choice comes from one ``random.Random``.

Modules: ``model`` (parties, events, the scenario), ``builder`` (the seeded builder),
``company`` (``generate``: the parties, then month after month), ``month`` and
``spending`` (the parts of a month), ``foreign`` (suppliers abroad, paid in their
currency), ``links`` (payment links on client invoices), ``payments`` (how payments show
up), ``bulk`` (plain
transactions for load tests). Names, IBANs, references and vocabulary come from
``qrecon.world``, shared with the matcher's evaluation data.
"""

from qrecon.sim.scenario.bulk import bulk_transactions
from qrecon.sim.scenario.company import generate
from qrecon.sim.scenario.model import (
    BASE_TRANSACTIONS_PER_MONTH,
    DEFAULT_START,
    SIZES,
    Event,
    EventKind,
    Party,
    Scenario,
    add_months,
)

_add_months = add_months  # the player's name for it

__all__ = [
    "BASE_TRANSACTIONS_PER_MONTH",
    "DEFAULT_START",
    "SIZES",
    "Event",
    "EventKind",
    "Party",
    "Scenario",
    "add_months",
    "bulk_transactions",
    "generate",
]
