"""How customers pay their invoices.

``CUSTOMER_BEHAVIOURS``: the ways a customer of a French SME settles an invoice, with
how often each happens (the emulator's months are drawn from it):

- ``clean``: in full, naming the invoice number; ``messy``: in full, the number written
  loosely (``references.messy_fac_reference``); ``typo``: a mistyped number;
  ``no_reference``: in full, naming nothing; ``rf_reference``: the ``RF`` reference
- ``grouped``: one transfer for two or three invoices; ``instalments``: in two or three
  parts a month apart
- ``fees``: the payer's bank deducted a fee; ``wrong_amount``: the amount before VAT;
  ``third_party``: a factor pays on the customer's behalf
- ``unpaid``, ``canceled``: never paid
"""

from __future__ import annotations

import random

CUSTOMER_BEHAVIOURS: tuple[tuple[str, float], ...] = (
    ("clean", 0.30),
    ("messy", 0.18),
    ("no_reference", 0.06),
    ("typo", 0.05),
    ("grouped", 0.09),
    ("instalments", 0.06),
    ("fees", 0.05),
    ("third_party", 0.03),
    ("wrong_amount", 0.02),
    ("rf_reference", 0.04),
    ("unpaid", 0.09),
    ("canceled", 0.03),
)
NEVER_PAID = ("unpaid", "canceled")


def behaviour_deck(rng: random.Random, count: int) -> list[str]:
    """``count`` behaviours in a random order: each one at least once when ``count`` is
    at least twice their number (so that even a small month shows every way of
    paying), the rest drawn by weight."""
    names = [name for name, _ in CUSTOMER_BEHAVIOURS]
    deck = names[:] if count >= 2 * len(names) else []
    weights = [weight for _, weight in CUSTOMER_BEHAVIOURS]
    deck += rng.choices(names, weights=weights, k=count - len(deck))
    rng.shuffle(deck)
    return deck


def instalment_amounts(total: int, parts: int) -> list[int]:
    """``total`` cents in ``parts`` equal instalments, the last one taking the remainder."""
    share = total // parts
    return [share] * (parts - 1) + [total - share * (parts - 1)]
