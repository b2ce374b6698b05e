"""The scenarios that pay invoices: a customer's transfer naming its invoice (exactly,
messily, with a typo, as an RF reference) or not, several invoices at once, instalments,
partial payments, bank fees deducted, overpayments, a parent paying; supplier transfers
and direct debits; duplicates, prepayments, declined and pending transfers."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from qrecon.matcher_eval.model import DAYS, NO_REFERENCE, ROUND_HT, START
from qrecon.matcher_eval.noise import draw_noise
from qrecon.world.behaviours import instalment_amounts
from qrecon.world.ids import uuid4

if TYPE_CHECKING:
    from qrecon.matcher_eval.generator import Generator


def draw_scenario(g: Generator, case: str) -> int:
    """Draw one scenario of ``case`` into ``g``; returns how many transactions it makes."""
    rng = g.rng
    if case in ("ref_exact", "ref_messy", "ref_typo", "name_amount", "rf_reference"):
        predicate = (lambda p: p.uses_rf) if case == "rf_reference" else None
        party = g.pick_customer(predicate)
        inv = g.add_invoice(party, g.random_day())
        g.add_background_invoice(party, inv.issue)
        mode = {
            "ref_exact": "exact",
            "ref_messy": "messy",
            "ref_typo": "typo",
            "name_amount": NO_REFERENCE,
            "rf_reference": "rf",
        }[case]
        g.add_payment(case, party, [inv], mode)
        return 1
    if case == "iban_only":
        party = g.pick_customer(lambda p: p.iban_on_invoice)
        inv = g.add_invoice(party, g.random_day())
        g.add_background_invoice(party, inv.issue)
        g.add_payment(case, party, [inv], NO_REFERENCE, payer=None, label="trade")
        return 1
    if case in ("ref_multi", "subset_no_ref", "credit_note"):
        party = g.pick_customer()
        first = g.random_day()
        count = rng.randint(2, 3) if case != "credit_note" else 1
        invs = [
            g.add_invoice(party, first + timedelta(days=rng.randint(0, 25))) for _ in range(count)
        ]
        if case == "credit_note":
            base = invs[0].amount
            cn = g.add_invoice(
                party,
                invs[0].issue + timedelta(days=rng.randint(1, 10)),
                -rng.randint(max(1, base // 20), max(2, base // 3)),
                credit_note=True,
            )
            invs.append(cn)
        g.add_background_invoice(party, first)
        mode = (
            "multi"
            if case == "ref_multi"
            else (rng.choice(("multi", NO_REFERENCE)) if case == "credit_note" else NO_REFERENCE)
        )
        g.add_payment(case, party, invs, mode)
        return 1
    if case == "ref_partial_multi":
        # "Factures 2633, 2634" for two invoices while an older open invoice has the
        # amount of one of them: the numbers, not the dates, say which is paid
        party = g.pick_customer()
        first = g.random_day(30)
        invs = [g.add_invoice(party, first + timedelta(days=rng.randint(0, 10))) for _ in range(2)]
        g.add_invoice(party, first - timedelta(days=rng.randint(10, 60)), invs[1].amount)
        g.add_payment(case, party, invs, "partial_multi")
        return 1
    if case == "competing_group":
        # two or three open invoices of a customer, and another of exactly their sum: a
        # payment of that amount naming none fits both readings (the customer paid the
        # group, or, less often, the single invoice)
        party = g.pick_customer()
        first = g.random_day(0, DAYS - 60)
        invs = [
            g.add_invoice(party, first + timedelta(days=rng.randint(0, 25)))
            for _ in range(rng.randint(2, 3))
        ]
        total = sum(inv.amount for inv in invs)
        single = g.add_invoice(party, first + timedelta(days=rng.randint(-20, 25)), total)
        paid, other = (invs, [single]) if rng.random() < 0.6 else ([single], invs)
        day = max(g.pay_day(inv) for inv in [*invs, single])  # all issued by then
        g.add_intent(
            day,
            case,
            party,
            targets=[inv.id for inv in paid],
            planned=[inv.amount for inv in paid],
            ref_mode=NO_REFERENCE,
            matchable=False,
        )
        # the other reading is paid later, naming its invoices
        g.add_intent(
            day + timedelta(days=rng.randint(10, 40)),
            "ref_multi" if len(other) > 1 else "ref_exact",
            party,
            targets=[inv.id for inv in other],
            planned=[inv.amount for inv in other],
            ref_mode="multi" if len(other) > 1 else "exact",
        )
        return 2
    if case == "instalment":
        party = g.pick_customer()
        inv = g.add_invoice(
            party,
            g.random_day(0, DAYS - 100),
            amount=rng.choice(ROUND_HT) * 120 * rng.randint(2, 5),
        )
        parts = rng.randint(2, 4)
        day = inv.issue + timedelta(days=rng.randint(0, 20))
        mode = rng.choice(("exact", "messy"))
        for amount in instalment_amounts(inv.amount, parts):
            g.add_intent(day, case, party, targets=[inv.id], planned=[amount], ref_mode=mode)
            day += timedelta(days=rng.randint(25, 35))
        return parts
    if case == "partial":
        party = g.pick_customer()
        inv = g.add_invoice(party, g.random_day(0, DAYS - 80))
        if inv.amount < 2000:
            inv.data["amount_cents"] = inv.residual = inv.amount + 50000
        first_part = rng.randint(inv.amount // 5, inv.amount * 3 // 4)
        day = g.pay_day(inv)
        g.add_intent(
            day,
            case,
            party,
            targets=[inv.id],
            planned=[first_part],
            ref_mode=rng.choice(("exact", "messy")),
        )
        g.add_intent(
            day + timedelta(days=rng.randint(10, 40)),
            case,
            party,
            targets=[inv.id],
            planned=[inv.amount - first_part],
            ref_mode=rng.choice(("exact", "messy", "exact")),
        )
        return 2
    if case == "fee_shortfall":
        party = (
            g.pick_customer(lambda p: p.country != "FR")
            if rng.random() < 0.8
            else g.pick_customer()
        )
        inv = g.add_invoice(party, g.random_day())
        fee = rng.choice((500, 800, 1000, 1200, 1500, 1800, 2000, 2500))
        fee = min(fee, inv.amount // 25)
        if fee <= 0:
            inv.data["amount_cents"] = inv.residual = inv.amount + 100000
            fee = 1500
        g.add_payment(
            case,
            party,
            [inv],
            rng.choice(("exact", "messy", "exact", NO_REFERENCE)),
            fee=fee,
            op="swift_income",
        )
        return 1
    if case == "overpayment":
        party = g.pick_customer()
        inv = g.add_invoice(party, g.random_day())
        g.add_payment(
            case,
            party,
            [inv],
            rng.choice(("exact", "messy")),
            extra=rng.choice((100, 500, 1000, 2000, 5000, 10000)),
        )
        return 1
    if case == "third_party":
        party = g.pick_customer()
        inv = g.add_invoice(party, g.random_day())
        g.add_payment(
            case,
            party,
            [inv],
            rng.choice(("exact", "messy", "rf" if party.uses_rf else "exact")),
            payer=rng.choice(g.parents),
        )
        return 1
    if case in ("supplier_transfer", "declined"):
        party = g.pick_supplier()
        count = 1 if rng.random() < 0.88 else 2
        invs = [g.add_invoice(party, g.random_day()) for _ in range(count)]
        g.add_background_invoice(party, invs[0].issue)
        mode = rng.choices(("exact", "messy", NO_REFERENCE), weights=(60, 30, 10))[0]
        if count > 1:
            mode = "multi" if mode != NO_REFERENCE else mode
        if case == "declined":
            day = max(g.pay_day(inv) for inv in invs)
            g.add_intent(
                day,
                "declined",
                party,
                targets=[i.id for i in invs],
                planned=[i.amount for i in invs],
                ref_mode=mode,
                op="transfer",
                side="debit",
                status="declined",
                matchable=False,
                truth=False,
            )
            retry = g.add_intent(
                day + timedelta(days=rng.randint(1, 5)),
                "supplier_transfer",
                party,
                targets=[i.id for i in invs],
                planned=[i.amount for i in invs],
                ref_mode=mode,
                op="transfer",
                side="debit",
            )
            del retry
            return 2
        intent = g.add_payment(case, party, invs, mode, op="transfer", side="debit")
        if rng.random() < 0.3:  # seen pending first, then completed
            intent.tx_id = uuid4(rng)
            g.add_intent(
                intent.when.date() - timedelta(days=1),
                "pending",
                party,
                targets=list(intent.targets),
                planned=list(intent.planned),
                ref_mode=mode,
                op="transfer",
                side="debit",
                status="pending",
                matchable=False,
                tx_id=intent.tx_id,
            )
            return 2
        return 1
    if case == "direct_debit":
        party = rng.choice(g.dd_suppliers)
        inv = g.add_invoice(party, g.random_day())
        g.add_payment(case, party, [inv], NO_REFERENCE, op="direct_debit", side="debit")
        return 1
    if case == "supplier_refund":
        party = g.pick_supplier()
        cn = g.add_invoice(party, g.random_day(), -rng.randint(2000, 80000), credit_note=True)
        g.add_payment(case, party, [cn], rng.choice(("exact", "messy")), op="income", side="credit")
        return 1
    if case == "duplicate_payment":
        party = g.pick_customer()
        if rng.random() < 0.5:
            inv = g.add_invoice(party, START - timedelta(days=rng.randint(20, 60)), status="paid")
            day = g.random_day(0, 40)
        else:
            inv = g.add_invoice(party, g.random_day(0, DAYS - 90))
            mode = rng.choice(("exact", "messy"))
            original = g.add_payment(
                "ref_exact" if mode == "exact" else "ref_messy", party, [inv], mode
            )
            day = original.when.date() + timedelta(days=rng.randint(3, 40))
        g.add_intent(
            day,
            case,
            party,
            targets=[inv.id],
            planned=[inv.amount],
            ref_mode=rng.choice(("exact", "messy")),
            matchable=False,
            truth=False,
        )
        return 2
    if case == "prepayment":
        party = g.pick_customer()
        day = g.random_day(0, DAYS - 40)
        inv = g.add_invoice(party, day + timedelta(days=rng.randint(2, 20)))
        g.add_intent(
            day,
            case,
            party,
            targets=[inv.id],
            planned=[inv.amount],
            ref_mode=rng.choice(("exact", "messy", NO_REFERENCE)),
            matchable=False,
        )
        return 1
    return draw_noise(g, case)
