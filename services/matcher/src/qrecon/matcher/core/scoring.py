"""Gates, scores, confidence and the status of a decision.

* *Gates* (``noise``): a Qonto fee is never matched; card spend or refunds, salaries,
  payouts from a payment processor and refunds are *noise*, at best ``suggested``.
* *Scores* (``score``): a candidate's features (``Weights`` field names -> values) and
  reasons, its score (the sum of the weights of its signals, log-odds) and whether its
  evidence is *decisive* (a reference, or a known counterparty with an amount that fits).
* *Confidence* (``confidence``): ``sigmoid(a * score + b)`` with ``(a, b)`` =
  ``EngineConfig.calibration``.
* *Status* (``status_of``): ``auto_matched``, ``suggested`` or ``unmatched`` from the
  confidence, the thresholds, a close competitor (``competitor``) and what caps it.
"""

from __future__ import annotations

import math
import re

from qrecon.common.schemas import QontoTransaction
from qrecon.matcher.core.book import BookEntry
from qrecon.matcher.core.candidates import Proposal
from qrecon.matcher.core.config import EngineConfig
from qrecon.matcher.core.evidence import (
    CP_ALIAS,
    CP_EXACT,
    CP_FUZZY,
    CP_IBAN,
    CP_TRUNCATED,
    REF_EXACT,
    REF_FUZZY,
    REF_PARTIAL,
    REF_PAYREF,
    CpHit,
    Evidence,
)
from qrecon.matcher.core.normalize import fold
from qrecon.matcher.core.references import INVOICE_WORDS

__all__ = [
    "competitor",
    "confidence",
    "equal_explanation",
    "noise",
    "same_reading",
    "score",
    "share",
    "sigmoid",
    "status_of",
    "twins",
]

_SALARY_WORDS = frozenset(
    {"SALAIRE", "SALAIRES", "PAIE", "REMUNERATION", "SALARY", "PAYROLL", "NDF", "FRAIS"}
)
_REFUND_WORDS = frozenset({"REMBOURSEMENT", "REMB", "REFUND", "RETOUR", "ANNULATION"})
_PAYOUT_WORDS = frozenset(
    {"STRIPE", "PAYPAL", "SUMUP", "ADYEN", "PAYPLUG", "MOLLIE", "PAYOUT", "PAYOUTS", "LYDIA"}
)
_WORD = re.compile(r"[A-Z]+")
# Qonto's operation types of a transfer received through SWIFT (not SEPA)
INTERNATIONAL_TRANSFERS = frozenset({"swift_income"})
_LEVEL_FEATURES = {
    REF_PAYREF: "ref_payment_reference",
    REF_EXACT: "ref_exact",
    REF_FUZZY: "ref_fuzzy",
    REF_PARTIAL: "ref_partial",
}
_LEVEL_REASONS = {
    REF_PAYREF: "reference.payment_reference.exact",
    REF_EXACT: "reference.invoice_number.exact",
    REF_FUZZY: "reference.invoice_number.fuzzy",
    REF_PARTIAL: "reference.invoice_number.partial",
}
_CP_FEATURES = {
    CP_IBAN: "cp_iban",
    CP_EXACT: "cp_exact",
    CP_ALIAS: "cp_alias",
    CP_TRUNCATED: "cp_truncated",
}
_CP_REASONS = {
    CP_IBAN: "counterparty.iban",
    CP_EXACT: "counterparty.name.exact",
    CP_ALIAS: "counterparty.alias",
    CP_TRUNCATED: "counterparty.name.truncated",
}
_FIT_FEATURES = {
    "exact": "amount_exact",
    "fee": "amount_fee",
    "partial": "amount_partial",
    "over": "amount_over",
}
_FIT_REASONS = {
    "fee": "amount.fee_shortfall",
    "partial": "amount.partial",
    "over": "amount.overpayment",
}


# ---------------------------------------------------------------------- gates
def noise(tx: QontoTransaction) -> str | None:
    """The kind of transaction that rarely pays an invoice (``noise.*``), or None."""
    op = (tx.operation_type or "").lower()
    subject = (tx.subject_type or "").lower()
    if op == "qonto_fee" or subject == "qonto_fee":
        return "noise.bank_fee"
    if op == "card" or subject == "card":
        return "noise.card"
    text = fold(" ".join(x for x in (tx.label, tx.reference, tx.category) if x))
    words = set(_WORD.findall(text))
    category = (tx.category or "").lower()
    if tx.side == "debit" and (words & _SALARY_WORDS or category in {"salary", "payroll"}):
        return "noise.salary"
    if tx.side == "credit" and words & _PAYOUT_WORDS:
        return "noise.payout"
    if tx.side == "credit" and (words & _REFUND_WORDS or category == "refund"):
        return "noise.refund"
    return None


# ---------------------------------------------------------------------- confidence
def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def confidence(cfg: EngineConfig, score_: float) -> float:
    a, b = cfg.calibration
    return sigmoid(a * score_ + b)


def competitor(cfg: EngineConfig, best: Proposal, others: list[Proposal]) -> bool:
    """Whether a different candidate scores within ``competitor_margin`` of the best."""
    margin = cfg.competitor_margin
    for other in others:
        if other.score < best.score - margin:
            return False
        if same_reading(best, other):
            continue
        return True
    return False


def same_reading(best: Proposal, other: Proposal) -> bool:
    """The same invoices, or the same reading up to interchangeable invoices (``shape``):
    equal amounts of one counterparty that nothing in the text tells apart, of which the
    oldest due are taken (an accounting policy, not a competing explanation)."""
    return other.ids == best.ids or (best.shape is not None and other.shape == best.shape)


def twins(best: Proposal, others: list[Proposal]) -> bool:
    """Whether another candidate is the same reading over other, interchangeable invoices."""
    return any(other.ids != best.ids and same_reading(best, other) for other in others)


def share(cfg: EngineConfig, best: Proposal, others: list[Proposal]) -> float:
    """The best candidate's share of the probability among the different readings within
    ``competitor_margin`` (a softmax of their calibrated log-odds): 1/2 for two readings
    that score the same."""
    a = cfg.calibration[0]
    floor = best.score - cfg.competitor_margin
    total = 1.0
    for other in others:
        if other.score < floor:
            break
        if not same_reading(best, other):
            total += math.exp(a * (other.score - best.score))
    return 1.0 / total


_REF_FEATURES = frozenset(_LEVEL_FEATURES.values())


def equal_explanation(cfg: EngineConfig, best: Proposal, others: list[Proposal]) -> bool:
    """Whether a structurally different allocation over the same counterparty's items
    fits the amount exactly as well, within ``competitor_margin``, and the text names the
    invoices of neither: two readings of one payment (one invoice, or several that add up
    to it), neither ahead on evidence."""
    if best.fit != "exact" or _REF_FEATURES & best.features.keys():
        return False
    floor = best.score - cfg.competitor_margin
    for other in others:
        if other.score < floor:
            return False
        if (
            other.ids != best.ids
            and other.name == best.name
            and other.fit == "exact"
            and len(other.entries) != len(best.entries)
            and not _REF_FEATURES & other.features.keys()
        ):
            return True
    return False


def status_of(
    cfg: EngineConfig, best: Proposal, confidence_: float, *, capped: bool, close: bool
) -> str:
    """``capped``: at best suggested (status, noise); ``close``: a competitor is close."""
    if (
        not capped
        and not close
        and not best.blocked
        and best.decisive
        and confidence_ >= cfg.auto_threshold
    ):
        return "auto_matched"
    if confidence_ >= cfg.suggest_threshold:
        return "suggested"
    return "unmatched"


# ---------------------------------------------------------------------- score
def score(cfg: EngineConfig, ev: Evidence, c: Proposal) -> None:
    """Set ``c``'s features, reasons, score, ``blocked`` and ``decisive``.

    The features are added in a fixed order (reference, counterparty, amount, dates,
    noise): the score sums their weights in that order."""
    f: dict[str, float] = {}
    positives = [e for e in c.entries if c.sign * e.residual > 0]
    ref_level = _reference(ev, c, positives, f)
    if ref_level != REF_FUZZY:  # a typo's reading explains the number it is a typo of
        _named_elsewhere(ev, c, ref_level, f)
    if ref_level < REF_FUZZY:
        _partially_named_elsewhere(ev, c, f)
    unread = ref_level == 0 and ev.refs.number_like and ev.tx.operation_type != "direct_debit"
    if unread:
        f["ref_unread"] = 1.0
    cp = ev.cp_hits.get(c.name)
    cp_strong = _counterparty(cfg, ev, c, cp, f)
    _amount(c, len(c.entries) - len(positives), ref_level, cp, f)
    if c.fit == "fee" and ev.tx.operation_type in INTERNATIONAL_TRANSFERS:
        f["amount_fee_international"] = 1.0
        c.reasons.append("amount.fee_international")
    if any(e.invoice.issue_date > ev.issued_by for e in c.entries):
        f["date_future"] = 1.0
        c.blocked = True
        c.reasons.append("date.invoice_after_payment")
    if ev.noise is not None:
        f["noise"] = 1.0
    c.features = f
    w = cfg.weights
    c.score = w.bias + sum(getattr(w, name) * value for name, value in f.items())
    ambiguous = unread and _invoice_shaped_unread(ev, c)
    _decisiveness(cfg, ev, c, ref_level, cp, cp_strong, ambiguous)
    if not ambiguous:
        c.shape = _shape(ev, c)


def _shape(ev: Evidence, c: Proposal) -> tuple[object, ...]:
    """The candidate's reading up to interchangeable invoices: its counterparty, kind,
    direction and fit, the invoices the text names (by id) and the amounts and currencies
    of the others (see ``Proposal.shape``)."""
    hits = ev.ref_hits
    named = frozenset(e.id for e in c.entries if e.id in hits)
    amounts = sorted((e.residual, e.invoice.currency) for e in c.entries if e.id not in hits)
    return (c.name, c.kind, c.sign, c.fit, named, tuple(amounts))


def _invoice_shaped_unread(ev: Evidence, c: Proposal) -> bool:
    """Whether the text has a number shaped like the candidate's invoice numbers (their
    prefix or a word for invoice, or several groups of digits without a prefix) that names
    none of them: it may
    name an invoice the book does not know, so equal invoices cannot be told apart. A
    customer's order number, a mandate or a client number ("CDE 81941", "RUM 4012",
    "CLIENT 1959") names no invoice and tells none apart."""
    prefixes = {e.prefix for e in c.entries if e.prefix}
    for key, prefix in ev.refs.keys.items():
        if prefix:
            if prefix in prefixes or prefix in INVOICE_WORDS:
                return True
        elif "-" in key:
            return True
    return False


def _reference(ev: Evidence, c: Proposal, positives: list[BookEntry], f: dict[str, float]) -> int:
    """The share of the candidate's invoices named at each level; the weakest level named
    (0 when the text names none of them)."""
    reasons = c.reasons
    hits = ev.ref_hits
    levels = [hits[e.id].level if e.id in hits else 0 for e in positives]
    ref_level = 0
    if positives and any(levels):
        ref_level = min(lv for lv in levels if lv)
        named = sum(1 for lv in levels if lv)
        for level, feature in _LEVEL_FEATURES.items():
            share = sum(1 for lv in levels if lv == level) / len(levels)
            if share:
                f[feature] = share
        if len(levels) > named:
            f["ref_unlisted_item"] = len(levels) - named
            reasons.append("reference.invoice_number.incomplete")
        if ref_level == REF_PAYREF and ev.refs.rf_valid:
            reasons.append("reference.rf_valid")
        reasons.append(_LEVEL_REASONS[ref_level])
        if any(hits[e.id].prefix for e in positives if e.id in hits):
            f["ref_prefix"] = 1.0
            reasons.append("reference.invoice_number.prefix")
        if named > 1:
            reasons.append("reference.invoice_number.several")
    if ev.refs.rf_invalid and ref_level < REF_PAYREF:
        reasons.append("reference.rf_invalid")
    return ref_level


def _named_elsewhere(ev: Evidence, c: Proposal, ref_level: int, f: dict[str, float]) -> None:
    """The text names other invoices (exactly) than the candidate's."""
    chosen = c.ids
    elsewhere_same = elsewhere_other = False
    for invoice_id, ref in ev.ref_hits.items():
        if ref.level < REF_EXACT or invoice_id in chosen:
            continue
        entry = ev.book.entry(invoice_id)
        if entry is None:
            continue
        if entry.party == c.name:
            elsewhere_same = True
        else:
            elsewhere_other = True
    if elsewhere_same:  # the payer names another invoice of theirs than these
        f["ref_elsewhere_same"] = 1.0
        c.reasons.append("reference.points_elsewhere")
    elif elsewhere_other and ref_level < REF_EXACT:
        f["ref_elsewhere_other"] = 1.0
        c.reasons.append("reference.points_elsewhere")


def _partially_named_elsewhere(ev: Evidence, c: Proposal, f: dict[str, float]) -> None:
    """A number given by its last digits names open invoices of this counterparty and the
    candidate takes none of them: it leaves part of the text unexplained."""
    hits = ev.ref_hits
    if not ev.refs.weak_keys or not any(h.level == REF_PARTIAL for h in hits.values()):
        return
    book, chosen = ev.book, c.ids
    for key in ev.refs.weak_keys:
        named = [
            invoice_id
            for invoice_id in book.ids_by_last_key(key)
            if invoice_id in hits
            and (entry := book.entry(invoice_id)) is not None
            and entry.is_open
            and entry.party == c.name
        ]
        if named and not chosen.intersection(named):
            f["ref_partial_elsewhere"] = 1.0
            c.reasons.append("reference.points_elsewhere")
            return


def _counterparty(
    cfg: EngineConfig, ev: Evidence, c: Proposal, cp: CpHit | None, f: dict[str, float]
) -> bool:
    """How the payer matches the candidate's counterparty; True when firmly."""
    reasons = c.reasons
    if cp is not None:
        if cp.level == CP_FUZZY:
            span = max(1.0, 100.0 - cfg.name_min_score)
            f["cp_fuzzy"] = max(0.0, cp.score - cfg.name_min_score) / span
            reasons.append("counterparty.name.fuzzy")
            return cp.score >= cfg.name_auto_min_score
        f[_CP_FEATURES[cp.level]] = 1.0
        reasons.append(_CP_REASONS[cp.level])
        return True
    if ev.strong_other:
        f["cp_conflict"] = 1.0
        reasons.append("counterparty.third_party")
    elif ev.observed_name:
        f["cp_unknown"] = 1.0
        reasons.append("counterparty.unknown")
    return False


def _amount(
    c: Proposal, credit_notes: int, ref_level: int, cp: CpHit | None, f: dict[str, float]
) -> None:
    """How the candidate's items fit the amount."""
    reasons = c.reasons
    n_items = len(c.entries)
    if c.sign < 0:
        reasons.append("direction.refund")
    f[_FIT_FEATURES[c.fit]] = 1.0
    if c.fit == "exact":
        reasons.append("amount.exact" if n_items == 1 else "amount.subset_sum")
    else:
        reasons.append(_FIT_REASONS[c.fit])
        if n_items > 1:
            reasons.append("amount.subset_sum")
    if n_items > 1:
        f["amount_subset_item"] = n_items - 1
    if credit_notes:
        f["amount_credit_note"] = credit_notes
        reasons.append("amount.credit_note")
    if c.tie:
        f["amount_tie"] = 1.0
        reasons.append("amount.tie_oldest_first")
    elif c.twins_left:
        reasons.append("amount.tie_oldest_first")
    if ref_level == 0 and cp is None:
        f["amount_only"] = 1.0
        reasons.append("amount.only")


def _round_subset(cfg: EngineConfig, c: Proposal) -> bool:
    """Several invoices, all of round amounts (see ``EngineConfig.round_subset_min_items``)."""
    unit = cfg.round_amount_cents
    return len(c.entries) >= cfg.round_subset_min_items and all(
        e.residual % unit == 0 for e in c.entries
    )


def _decisiveness(
    cfg: EngineConfig,
    ev: Evidence,
    c: Proposal,
    ref_level: int,
    cp: CpHit | None,
    cp_strong: bool,
    unread: bool,
) -> None:
    """Decisive: a reference, or a known payer, with an amount that fits. ``unread``: the
    text has an invoice-shaped number that names none of the candidate's invoices."""
    if c.fit in ("exact", "fee"):
        c.decisive = (
            ref_level >= REF_EXACT or cp_strong or (ref_level == REF_FUZZY and cp is not None)
        )
        if c.tie and (not cfg.fifo_ties_auto or unread):
            # equal invoices and a number in the text that names none of them: ask
            c.decisive = False
            c.reasons.append("reference.unrecognised")
        elif c.fit == "fee" and ev.tx.operation_type not in INTERNATIONAL_TRANSFERS:
            # a SEPA transfer is credited in full: short of the invoices, it is no bank fee
            # but something else (an instalment, a deduction, a prepayment): ask
            c.decisive = False
            c.reasons.append("amount.shortfall_not_international")
        elif ref_level == 0 and _round_subset(cfg, c):
            c.decisive = False
            c.reasons.append("amount.round_subset")
        elif c.bounded and ref_level == 0:
            # invoices the text does not name, out of more open items than were searched:
            # no competing combination can be ruled out
            c.decisive = False
            c.reasons.append("amount.subset_search_bounded")
        elif c.tie and c.tie_unsettled:
            # equal invoices, all claimed by suggestions awaiting review: which of them
            # is still due is uncertain
            c.decisive = False
            c.reasons.append("amount.tie_unsettled")
    else:  # partial or overpaid: the reference and the payer must both be firm
        c.decisive = ref_level >= REF_EXACT and cp_strong
        if c.fit == "over":
            excess = ev.amount - c.total
            c.decisive = c.decisive and excess <= max(
                cfg.overpayment_auto_cents, int(cfg.overpayment_auto_ratio * c.total)
            )
