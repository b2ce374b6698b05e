"""The evaluation's cases: what each generated transaction is (its label's ``case``),
which ones are *matchable*, and how often each scenario is drawn."""

from __future__ import annotations

MATCHABLE_CASES = (
    "ref_exact",
    "ref_messy",
    "ref_typo",
    "ref_multi",
    "ref_partial_multi",
    "rf_reference",
    "name_amount",
    "iban_only",
    "subset_no_ref",
    "credit_note",
    "instalment",
    "partial",
    "fee_shortfall",
    "overpayment",
    "third_party",
    "supplier_transfer",
    "direct_debit",
    "supplier_refund",
)
# A payment that fits two readings exactly (one invoice, or several of the same customer
# adding up to it) and names none: it must not be auto-matched (a suggestion with the
# other reading as an alternative); its label still says which the customer paid.
NON_MATCHABLE_CASES = (
    "competing_group",
    "duplicate_payment",
    "prepayment",
    "declined",
    "pending",
    "noise_card",
    "noise_card_refund",
    "noise_bank_fee",
    "noise_salary",
    "noise_payout",
    "noise_refund",
    "noise_tax",
    "unknown_payer",
)
ALL_CASES = MATCHABLE_CASES + NON_MATCHABLE_CASES

# scenario -> weight (how often it is drawn); each draws one or more transactions
SCENARIO_WEIGHTS: dict[str, float] = {
    "ref_exact": 13.0,
    "ref_messy": 10.0,
    "ref_typo": 2.0,
    "ref_multi": 3.0,
    "ref_partial_multi": 1.0,
    "rf_reference": 2.5,
    "name_amount": 9.0,
    "iban_only": 2.0,
    "subset_no_ref": 2.0,
    "credit_note": 1.5,
    "instalment": 1.0,
    "partial": 1.0,
    "fee_shortfall": 1.5,
    "overpayment": 0.7,
    "third_party": 1.0,
    "supplier_transfer": 9.0,
    "direct_debit": 6.0,
    "supplier_refund": 0.5,
    "competing_group": 0.8,
    "duplicate_payment": 0.8,
    "prepayment": 0.8,
    "declined": 0.8,
    "noise_card": 16.0,
    "noise_card_refund": 1.0,
    "noise_bank_fee": 2.0,
    "noise_salary": 5.0,
    "noise_payout": 2.0,
    "noise_refund": 1.5,
    "noise_tax": 2.0,
    "unknown_payer": 1.5,
}
