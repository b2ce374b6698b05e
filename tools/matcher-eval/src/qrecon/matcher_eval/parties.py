"""The company's counterparties: customers (weighted: a few pay most), suppliers paid by
transfer or by direct debit, and parent companies that pay for a subsidiary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qrecon.matcher_eval.model import Party, draw_amount
from qrecon.world import names as N
from qrecon.world import vocabulary as V
from qrecon.world.ibans import random_iban
from qrecon.world.numbering import DIRECT_DEBIT_SCHEMES, SUPPLIER_SCHEMES
from qrecon.world.parties import bank_spelling, company_name, foreign_company
from qrecon.world.text import fold_upper

if TYPE_CHECKING:
    from qrecon.matcher_eval.generator import Generator


def make_parties(g: Generator) -> None:
    """Draw the parties of ``g`` (in this order: customers, suppliers, direct-debit
    suppliers, parents)."""
    rng = g.rng
    n_customers = max(12, g.target // 14)
    n_suppliers = max(6, g.target // 80)
    # surnames drawn from a small pool: families of similar names
    pool = list(N.SURNAMES)
    rng.shuffle(pool)
    pool = pool[: max(10, min(len(pool), n_customers // 3))]
    for i in range(n_customers):
        foreign = rng.random() < 0.05
        if foreign:
            country, name, form = foreign_company(rng)
        else:
            country = "FR"
            name, form = company_name(rng, rng.choice(pool))
        iban = random_iban(rng, country)
        bank_name = bank_spelling(rng, name, form)
        first = rng.choice(N.FIRST_NAMES)
        trade = rng.choice(
            (
                f"M {first} {rng.choice(N.SURNAMES)}",
                f"HOLDING {rng.choice(N.SURNAMES)}",
                f"{rng.choice(N.SURNAMES)} {rng.choice(N.SURNAMES)} PATRIMOINE",
                f"SCI {rng.choice(N.CITIES)} {rng.randint(1, 9)}",
            )
        )
        party = Party(
            id=f"c{i}",
            name=name,
            role="customer",
            iban=iban,
            iban_on_invoice=rng.random() < 0.6,
            bank_name=fold_upper(bank_name),
            clean_name=(name.rsplit(" ", 1)[0] if form else name) if rng.random() < 0.8 else None,
            trade_name=fold_upper(trade),
            weight=min(25.0, rng.paretovariate(1.3)),
            country=country,
            recurring=draw_amount(rng) if rng.random() < 0.3 else None,
            uses_rf=rng.random() < 0.08,
            code=f"{i:05d}",
        )
        g.customers.append(party)
    total = 0.0
    for party in g.customers:
        total += party.weight
        g.cum_weights.append(total)
    for i in range(n_suppliers):
        name, form = company_name(rng, rng.choice(pool))
        activity = rng.choice(V.SUPPLIER_ACTIVITIES)
        if rng.random() < 0.5:
            name = f"{activity} {name}"
        scheme = rng.choice(SUPPLIER_SCHEMES)
        g.suppliers.append(
            Party(
                id=f"s{i}",
                name=name,
                role="supplier",
                iban=random_iban(rng, "FR"),
                iban_on_invoice=rng.random() < 0.9,
                bank_name=fold_upper(bank_spelling(rng, name, form)),
                clean_name=name,
                trade_name=fold_upper(name),
                weight=rng.paretovariate(1.5),
                numbering=scheme,
                seq=rng.randint(10, 5000),
            )
        )
    dd = list(V.DIRECT_DEBIT_SUPPLIERS)
    rng.shuffle(dd)
    for i, (name, creditor) in enumerate(dd[: max(3, min(len(dd), g.target // 300))]):
        g.dd_suppliers.append(
            Party(
                id=f"d{i}",
                name=name,
                role="supplier",
                iban=random_iban(rng, "FR"),
                iban_on_invoice=False,
                bank_name=creditor,
                clean_name=creditor.title(),
                trade_name=creditor,
                weight=1.0,
                numbering=rng.choice(DIRECT_DEBIT_SCHEMES),
                seq=rng.randint(10**5, 10**7),
                dd_creditor=creditor,
                recurring=rng.choice((None, draw_amount(rng, small=True))),
            )
        )
    for i in range(max(3, n_customers // 20)):
        name = f"Holding {rng.choice(N.SURNAMES)} Participations"
        g.parents.append(
            Party(
                id=f"p{i}",
                name=name,
                role="parent",
                iban=random_iban(rng, "FR"),
                iban_on_invoice=False,
                bank_name=fold_upper(name + " SAS"),
                clean_name=name,
                trade_name=fold_upper(name),
                weight=1.0,
            )
        )
