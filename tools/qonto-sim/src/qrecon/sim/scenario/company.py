"""The company over the months: its accounts and parties, then each month in turn."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from qrecon.sim.scenario.builder import Builder
from qrecon.sim.scenario.foreign import foreign_suppliers
from qrecon.sim.scenario.links import payment_links
from qrecon.sim.scenario.model import (
    DEFAULT_START,
    Cast,
    Month,
    Party,
    Scenario,
    add_months,
    scale_of,
)
from qrecon.sim.scenario.month import client_invoices, direct_debits, qonto_fee, supplier_invoices
from qrecon.sim.scenario.spending import card_spend, salaries_and_savings
from qrecon.world import names as N
from qrecon.world import vocabulary as V
from qrecon.world.ibans import bic_of, foreign_iban, french_iban, qonto_iban
from qrecon.world.parties import bank_label, person_name, shop_name
from qrecon.world.text import fold_upper

MONTH_PARTS = (
    qonto_fee,
    client_invoices,
    supplier_invoices,
    direct_debits,
    card_spend,
    salaries_and_savings,
    foreign_suppliers,
    payment_links,
)


def generate(
    *,
    seed: int = 0,
    months: int = 1,
    size: str | int = "small",
    start: datetime | None = None,
) -> Scenario:
    """Generate a company's life over ``months`` calendar months from ``start``.

    ``size``: ``tiny``/``small``/``medium``/``large`` (about 30/70/700/5,500
    transactions a month) or a number of transactions per month (roughly).
    """
    if months < 1:
        raise ValueError("months must be >= 1")
    scale = scale_of(size)
    begin = (start or DEFAULT_START).astimezone(UTC)
    begin = begin.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = add_months(begin, months)
    b = Builder(seed, begin, end)
    rng = b.rng

    accounts: dict[str, dict[str, Any]] = {
        "main": {"name": "Compte principal"},
        "secondary": {
            "name": "Compte secondaire",
            "iban": qonto_iban(rng),
            "id": b.uid(),
            "balance_cents": 1_500_000,
        },
    }
    used: set[str] = set()
    n_customers = max(6, round(14 * scale**0.75))
    customers = []
    for _ in range(n_customers):
        name = shop_name(rng, used)
        iban = foreign_iban(rng) if rng.random() < 0.1 else french_iban(rng)
        customers.append(
            Party(
                id=b.uid(),
                name=name,
                iban=iban,
                bic=bic_of(iban),
                label=bank_label(rng, name),
                known_iban=rng.random() < 0.8,
            )
        )
    suppliers = []
    for index in range(min(len(V.NAMED_SUPPLIERS), max(3, round(4 * scale**0.3)))):
        name, _fmt = V.NAMED_SUPPLIERS[index]
        iban = french_iban(rng)
        suppliers.append(Party(b.uid(), name, iban, bic_of(iban), fold_upper(name)))
    employees = [
        person_name(rng, N.COMMON_FIRST_NAMES, N.COMMON_SURNAMES)
        for _ in range(max(2, round(4 * scale**0.6)))
    ]
    employee_ibans = [french_iban(rng) for _ in employees]
    factor_iban = french_iban(rng, "30066")
    creditor_ibans = {creditor: french_iban(rng) for creditor, *_ in V.DIRECT_DEBIT_CREDITORS}
    card_digits = [f"{rng.randrange(10000):04d}" for _ in range(2)]
    cast = Cast(
        scale=scale,
        accounts=accounts,
        customers=customers,
        suppliers=suppliers,
        employees=employees,
        employee_ibans=employee_ibans,
        factor_iban=factor_iban,
        creditor_ibans=creditor_ibans,
        card_digits=card_digits,
    )
    for month_index in range(months):
        month = Month.of(begin, month_index)
        for part in MONTH_PARTS:
            part(b, cast, month)

    b.events.sort(key=lambda e: (e.at, e.seq))
    return Scenario(
        seed=seed,
        months=months,
        size=size,
        start=begin,
        end=end,
        accounts=accounts,
        customers=customers,
        suppliers=suppliers,
        events=b.events,
    )
