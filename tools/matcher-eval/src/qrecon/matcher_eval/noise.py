"""Noise: what a bank statement shows besides invoice payments (card spend and refunds,
Qonto's fees, salaries, payouts, refunds, taxes, unknown payers), some with an amount
equal to an open invoice to test collisions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qrecon.matcher_eval.model import DAYS
from qrecon.world import names as N
from qrecon.world import vocabulary as V
from qrecon.world.ibans import random_iban
from qrecon.world.parties import person_name
from qrecon.world.text import fold_upper

if TYPE_CHECKING:
    from qrecon.matcher_eval.generator import Generator


def colliding_amount(g: Generator, kind: str) -> int | None:
    """An amount equal to a random open invoice (of anyone), to test collisions."""
    pool = [inv for inv in g.recent if (inv.amount > 0 and inv.data["kind"] == kind)]
    if not pool:
        return None
    return g.rng.choice(pool).amount


def draw_noise(g: Generator, case: str) -> int:
    """Draw one noise transaction of ``case`` into ``g`` (returns 1)."""
    rng = g.rng
    day = g.random_day(0, DAYS - 1)
    kw: dict[str, Any] = {"matchable": False, "truth": False}
    if case == "noise_card":
        merchant = rng.choice(V.CARD_MERCHANTS)
        amount = (colliding_amount(g, "payable") if rng.random() < 0.15 else None) or rng.randint(
            300, 60000
        )
        g.add_intent(
            day,
            case,
            None,
            op="card",
            side="debit",
            amount=amount,
            label=merchant,
            clean_name=merchant.title(),
            **kw,
        )
    elif case == "noise_card_refund":
        merchant = rng.choice(V.CARD_MERCHANTS)
        amount = (colliding_amount(g, "receivable") if rng.random() < 0.3 else None) or rng.randint(
            300, 30000
        )
        g.add_intent(
            day,
            case,
            None,
            op="card",
            side="credit",
            amount=amount,
            label=merchant,
            clean_name=merchant.title(),
            **kw,
        )
    elif case == "noise_bank_fee":
        amount = rng.choice((900, 2900, 4900, 9900, 150, 100, 500))
        g.add_intent(
            day,
            case,
            None,
            op="qonto_fee",
            side="debit",
            amount=amount,
            label="Qonto",
            reference=f"Frais {day.month:02d}/{day.year}",
            **kw,
        )
    elif case == "noise_salary":
        person = person_name(rng)
        amount = (colliding_amount(g, "payable") if rng.random() < 0.2 else None) or rng.randint(
            1500, 4500
        ) * 100
        reference = rng.choice(
            (
                f"SALAIRE {day.month:02d}/{day.year}",
                f"PAIE {day.month:02d} {day.year}",
                "SALAIRE",
                f"Salaire {V.MONTHS_FR[day.month - 1]}",
                "VIREMENT",
                "",
            )
        )
        g.add_intent(
            day,
            case,
            None,
            op="transfer",
            side="debit",
            amount=amount,
            label=fold_upper(person),
            clean_name=person,
            reference=reference,
            category="salary" if rng.random() < 0.5 else None,
            iban=random_iban(rng, "FR"),
            **kw,
        )
    elif case == "noise_payout":
        source, ref = rng.choice(V.PAYOUT_SOURCES)
        amount = (
            colliding_amount(g, "receivable") if rng.random() < 0.25 else None
        ) or rng.randint(2000, 500000)
        g.add_intent(
            day,
            case,
            None,
            op="income",
            side="credit",
            amount=amount,
            label=source,
            clean_name=source.title(),
            reference=f"{ref} {rng.randint(10**6, 10**7)}",
            iban=random_iban(rng, "FR"),
            **kw,
        )
    elif case == "noise_refund":
        source = rng.choice(V.REFUND_SOURCES)
        amount = (colliding_amount(g, "receivable") if rng.random() < 0.3 else None) or rng.randint(
            1000, 100000
        )
        reference = rng.choice(
            (
                f"REMBOURSEMENT {rng.randint(1000, 99999)}",
                f"REMB DOSSIER {day.year}-{rng.randint(100, 2000)}",
                f"REFUND {rng.randint(10**5, 10**6)}",
                "REMBOURSEMENT TROP PERCU",
            )
        )
        g.add_intent(
            day,
            case,
            None,
            op="income",
            side="credit",
            amount=amount,
            label=source,
            clean_name=source.title(),
            reference=reference,
            iban=random_iban(rng, "FR"),
            **kw,
        )
    elif case == "noise_tax":
        creditor, what = rng.choice(V.TAX_CREDITORS)
        amount = (colliding_amount(g, "payable") if rng.random() < 0.1 else None) or rng.randint(
            10000, 900000
        )
        g.add_intent(
            day,
            case,
            None,
            op=rng.choice(("direct_debit", "transfer")),
            side="debit",
            amount=amount,
            label=creditor,
            clean_name=creditor.title(),
            reference=f"{what} {day.month:02d}/{day.year} REF {rng.randint(10**8, 10**9)}",
            **kw,
        )
    elif case == "unknown_payer":
        form = rng.choice(("SAS", "SARL", ""))
        name = f"{rng.choice(N.SURNAMES)} {rng.choice(N.ACTIVITIES)} {form}".strip()
        amount = (colliding_amount(g, "receivable") if rng.random() < 0.4 else None) or rng.randint(
            5000, 500000
        )
        g.add_intent(
            day,
            case,
            None,
            op="income",
            side="credit",
            amount=amount,
            label=fold_upper(name),
            clean_name=name,
            reference=rng.choice(V.GENERIC_REFERENCES),
            iban=random_iban(rng, "FR"),
            **kw,
        )
    return 1


# ------------------------------------------------------------------ rendering
