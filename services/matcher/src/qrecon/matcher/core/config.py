"""Engine configuration: tolerances, thresholds, bounds and the evidence weights."""

from __future__ import annotations

from dataclasses import dataclass, field

MATCHER_VERSION = "qrecon-engine/1.0.0"


@dataclass(frozen=True)
class Weights:
    """Log-odds contribution of each signal (feature) to a candidate's score.

    ``confidence = 1 / (1 + exp(-(bias + sum(weight * feature value))))``. Features are 0/1
    flags unless stated. The values are a logistic regression fitted on generated seeds 1-5
    (``calibrate`` in the tools/matcher-eval harness) and checked on held-out seeds.
    """

    bias: float = -4.0
    # reference: share of the candidate's invoices named at each level (0..1)
    ref_payment_reference: float = 7.5  # ISO 11649 RF / the invoice's payment_reference
    ref_exact: float = 6.5  # the invoice number, modulo separators, case, zeros, prefix
    ref_fuzzy: float = 3.5  # one typo away (digits)
    ref_partial: float = 2.0  # only the last group ("123" for FAC-2025-0123)
    ref_prefix: float = 0.5  # ... with the same alphabetic prefix
    ref_unlisted_item: float = -1.0  # per invoice of the candidate not named, others being
    ref_elsewhere_same: float = -4.0  # the text names another invoice of this counterparty
    ref_elsewhere_other: float = -1.5  # ... of another counterparty
    # the text gives a number by its last digits that names another open invoice of this
    # counterparty, none of the candidate's ("FACT 1046 ET 1096" and 1096 not taken)
    ref_partial_elsewhere: float = -2.5
    ref_unread: float = 0.0  # the text has a number that names no invoice
    # counterparty
    cp_iban: float = 5.0
    cp_exact: float = 4.5
    cp_alias: float = 4.5
    cp_truncated: float = 4.5  # the payer's name is the start of the counterparty's
    cp_fuzzy: float = 4.0  # x (similarity - name_min_score) / (100 - name_min_score)
    cp_conflict: float = -2.0  # the payer is clearly another known counterparty
    cp_unknown: float = 0.0  # a payer name or IBAN that matches no counterparty
    # amount
    amount_exact: float = 3.5
    amount_fee: float = 2.7
    # ... on an international (SWIFT) transfer, where intermediary banks deduct fees; a
    # SEPA transfer is credited in full (Regulation (EU) 260/2012, PSD2 art. 81)
    amount_fee_international: float = 0.8
    amount_partial: float = -1.0
    amount_over: float = -1.5
    amount_subset_item: float = -0.25  # x (invoices - 1)
    amount_credit_note: float = -0.1  # x credit notes netted
    amount_tie: float = -0.3  # several interchangeable invoices: the oldest is taken
    amount_only: float = 0.0  # neither a reference nor a counterparty
    # other
    date_future: float = -2.5
    noise: float = -3.0


@dataclass(frozen=True)
class EngineConfig:
    """How the engine decides. Money in cents; scores in log-odds."""

    # A deducted bank fee: the payment falls short of the invoices by at most this much
    # (and at most this fraction of the invoices), recorded as a negative residual.
    fee_tolerance_cents: int = 3000
    fee_tolerance_ratio: float = 0.05
    # auto_matched needs decisive evidence, this confidence and no competitor within
    # competitor_margin (log-odds); suggested needs suggest_threshold.
    auto_threshold: float = 0.964  # a raw score of about 3.48
    suggest_threshold: float = 0.05
    # A suggestion at least this confident reserves its invoices (see reconcile()).
    reserve_threshold: float = 0.90
    competitor_margin: float = 2.0
    # Bounded subset-sum over one counterparty's open items (oldest first).
    max_subset_size: int = 4
    max_subset_items: int = 28
    # Beside one invoice of the exact amount, groups of others adding up to it are searched
    # among this many items; a customer with more leaves the single reading undecided.
    max_competing_items: int = 80
    max_subset_solutions: int = 6
    # A subset of at least this many invoices the text does not name, all of round amounts
    # (multiples of round_amount_cents), is not decisive: with round amounts, sums
    # coincide easily (another combination, a prepayment of an invoice not yet issued).
    # On tuning seeds 1-5 (10,000 transactions each) such subsets were right 96% of the
    # time, against 99.9% for subsets of other amounts.
    round_subset_min_items: int = 2
    round_amount_cents: int = 10000
    # Counterparty names (rapidfuzz similarity 0..100).
    name_min_score: float = 80.0
    name_auto_min_score: float = 90.0
    # A payer's name (letters only) this long that starts exactly one similar counterparty
    # name is that counterparty's, cut ("TOTALENERGIES": Total Energies Marketing France).
    name_truncated_min_letters: int = 8
    max_name_candidates: int = 4
    name_word_max_fanout: int = 200  # ignore name words shared by more counterparties
    # Candidates on amount alone (no reference, no counterparty): only when this few.
    amount_only_max: int = 3
    # Reference keys shorter than this are only partial evidence ("12" in a date).
    min_exact_key_digits: int = 3
    reference_max_fanout: int = 50
    weak_reference_max_fanout: int = 8  # "123" naming more invoices than this says nothing
    # An overpayment is auto_matched (excess left in residual_cents) only up to this excess.
    overpayment_auto_cents: int = 10000
    overpayment_auto_ratio: float = 0.10
    # Several open invoices of one counterparty with the same amount and nothing to tell
    # them apart: allocate the oldest (FIFO) and allow auto_matched.
    fifo_ties_auto: bool = True
    # An invoice issued this many days after the payment still counts as issued before.
    date_tolerance_days: int = 0
    weights: Weights = field(default_factory=Weights)
    # confidence = sigmoid(a * score + b): Platt scaling of the best candidate's score,
    # fitted on tuning seeds 1-5 (calibrate, in tools/matcher-eval). The thresholds
    # above apply to this calibrated confidence.
    calibration: tuple[float, float] = (1.844, -3.106)
