"""Plain-language explanations: every reason code a result can carry, as a sentence in
French and in English (the one place they are written; the review API serves them).

``explain(result)`` turns a ``MatchResult``'s reasons into ``ReasonText``s, filling the
sentences' parameters from the result itself (the invoice numbers allocated, the fee
deducted, the amount left over, the transaction's status). A code without a sentence
(a newer engine, a typo) still gets one that names the code: an explanation never fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qrecon.common.schemas import Allocation, MatchResult

__all__ = ["SENTENCES", "ReasonText", "explain", "explain_reasons"]


@dataclass(frozen=True, slots=True)
class ReasonText:
    code: str
    fr: str
    en: str


# code -> (French, English); {invoices}, {fee}, {excess}, {status} are filled in
SENTENCES: dict[str, tuple[str, str]] = {
    # reference
    "reference.invoice_number.exact": (
        "Le libellé cite la facture {invoices}",
        "The remittance text names invoice {invoices}",
    ),
    "reference.invoice_number.fuzzy": (
        "Le libellé cite un numéro à une faute de frappe près de la facture {invoices}",
        "The remittance text has a number one typo away from invoice {invoices}",
    ),
    "reference.invoice_number.partial": (
        "Le libellé cite la fin du numéro de la facture {invoices}",
        "The remittance text gives the last digits of invoice {invoices}",
    ),
    "reference.invoice_number.prefix": (
        "Le numéro cité a le même préfixe que celui de la facture",
        "The number in the text has the invoice's prefix",
    ),
    "reference.invoice_number.several": (
        "Le libellé cite plusieurs factures",
        "The remittance text names several invoices",
    ),
    "reference.invoice_number.incomplete": (
        "Le libellé ne cite pas toutes les factures rapprochées",
        "The remittance text does not name every invoice allocated",
    ),
    "reference.payment_reference.exact": (
        "La référence de paiement est celle de la facture {invoices}",
        "The payment reference is that of invoice {invoices}",
    ),
    "payment_link.paid": (
        "Un lien de paiement Qonto de ce montant, créé pour la facture {invoices}, "
        "a été payé peu avant ce crédit",
        "A Qonto payment link of this amount, created for invoice {invoices}, was paid "
        "shortly before this credit",
    ),
    "payment_link.ambiguous": (
        "Plusieurs liens de paiement Qonto de ce montant ont été payés à ces dates : "
        "ils ne désignent pas une seule facture",
        "Several Qonto payment links of this amount were paid around then: they do not "
        "point to a single invoice",
    ),
    "reference.rf_valid": (
        "La référence structurée RF est valide",
        "The RF creditor reference is valid",
    ),
    "reference.rf_invalid": (
        "La référence RF a une clé de contrôle fausse",
        "The RF creditor reference has a wrong check digit",
    ),
    "reference.points_elsewhere": (
        "Le libellé cite une autre facture que celle proposée",
        "The remittance text names another invoice than the one proposed",
    ),
    "reference.invoice_closed": (
        "Le libellé cite une facture déjà réglée",
        "The remittance text names an invoice already paid",
    ),
    "reference.unrecognised": (
        "Le libellé contient un numéro qui ne désigne aucune facture ouverte",
        "The remittance text has a number that names no open invoice",
    ),
    # counterparty
    "counterparty.iban": (
        "Même IBAN que celui du client",
        "Same IBAN as the counterparty's",
    ),
    "counterparty.name.exact": (
        "Le nom du payeur est celui du client",
        "The payer's name is the counterparty's",
    ),
    "counterparty.name.fuzzy": (
        "Le nom du payeur ressemble à celui du client",
        "The payer's name resembles the counterparty's",
    ),
    "counterparty.name.truncated": (
        "Le nom du payeur est le début du nom de la contrepartie (nom coupé ou commercial)",
        "The payer's name is the start of the counterparty's name (cut, or a trade name)",
    ),
    "counterparty.alias": (
        "Ce payeur a déjà été rattaché à ce client par un relecteur",
        "A reviewer already linked this payer to this counterparty",
    ),
    "counterparty.third_party": (
        "Le payeur est un autre client connu (paiement pour un tiers ?)",
        "The payer is another known counterparty (paying for someone else?)",
    ),
    "counterparty.unknown": (
        "Le payeur ne correspond à aucun client connu",
        "The payer matches no known counterparty",
    ),
    # amount
    "amount.exact": (
        "Le montant est exactement celui de la facture",
        "The amount is exactly the invoice's",
    ),
    "amount.subset_sum": (
        "Le montant est la somme des factures {invoices}",
        "The amount is the sum of invoices {invoices}",
    ),
    "amount.fee_shortfall": (
        "Il manque {fee} : des frais bancaires retenus par la banque du payeur",
        "{fee} short: a bank fee deducted by the payer's bank",
    ),
    "amount.fee_international": (
        "Virement international (SWIFT) : des frais d'intermédiaires y sont souvent retenus, "
        "contrairement à un virement SEPA, crédité en entier",
        "An international (SWIFT) transfer: intermediary banks often deduct fees from it, "
        "unlike a SEPA transfer, credited in full",
    ),
    "amount.shortfall_not_international": (
        "Un virement SEPA est crédité en entier : un montant inférieur aux factures n'est "
        "pas dû à des frais bancaires (acompte, retenue, autre dette ?)",
        "A SEPA transfer is credited in full: short of the invoices, it is no bank fee (an "
        "instalment, a deduction, another debt?)",
    ),
    "amount.round_subset": (
        "Plusieurs factures aux montants ronds : une autre combinaison, ou un acompte sur une "
        "facture à venir, peut aussi donner ce montant",
        "Several invoices of round amounts: another combination, or a prepayment of an "
        "invoice still to come, can add up to this amount too",
    ),
    "amount.subset_search_bounded": (
        "Ce client a trop de factures ouvertes pour examiner toutes les combinaisons : "
        "une autre de ce montant n'est pas exclue",
        "This customer has too many open invoices to examine every combination: another "
        "one of this amount cannot be ruled out",
    ),
    "amount.partial": (
        "Paiement partiel : le reste de la facture demeure dû",
        "Partial payment: the rest of the invoice is still due",
    ),
    "amount.overpayment": (
        "Trop-perçu de {excess}, laissé non affecté",
        "Overpaid by {excess}, left unallocated",
    ),
    "amount.credit_note": (
        "Un avoir est déduit du paiement",
        "A credit note is netted in the payment",
    ),
    "amount.tie_oldest_first": (
        "Plusieurs factures identiques sont ouvertes et rien ne les distingue : la plus "
        "ancienne échéance est réglée en premier (règle comptable, art. 1342-10 du Code civil)",
        "Several identical invoices are open and nothing tells them apart: the oldest due "
        "is settled first (accounting policy, French Civil Code art. 1342-10)",
    ),
    "amount.tie_unsettled": (
        "Une des factures identiques est déjà proposée pour un autre paiement en attente",
        "One of the identical invoices is already proposed for another pending payment",
    ),
    "amount.only": (
        "Seul le montant correspond : ni référence ni payeur reconnu",
        "Only the amount fits: no reference, no known payer",
    ),
    "amount.zero": ("Montant nul", "Zero amount"),
    "direction.refund": (
        "Remboursement d'un avoir",
        "Refund of a credit note",
    ),
    "date.invoice_after_payment": (
        "La facture est datée après le paiement",
        "The invoice is dated after the payment",
    ),
    # competition
    "competitor.close": (
        "Une autre affectation est presque aussi probable",
        "Another allocation is almost as likely",
    ),
    "competitor.equal_explanation": (
        "Deux lectures correspondent exactement (une facture, ou plusieurs qui s'additionnent) "
        "et le libellé ne tranche pas : à vérifier",
        "Two readings fit exactly (one invoice, or several adding up to it) and the text "
        "does not decide: please check",
    ),
    # transaction kind
    "status.not_completed": (
        "L'opération n'est pas encore exécutée ({status})",
        "The transaction is not completed yet ({status})",
    ),
    "noise.card": ("Paiement par carte", "Card payment"),
    "noise.bank_fee": ("Frais bancaires Qonto", "Qonto bank fee"),
    "noise.salary": ("Salaire ou note de frais", "Salary or expense claim"),
    "noise.payout": (
        "Versement d'un prestataire de paiement",
        "Payout from a payment processor",
    ),
    "noise.refund": ("Remboursement reçu", "Refund received"),
    "duplicate.suspected": (
        "Paiement en double probable : la facture citée est déjà réglée",
        "Probable duplicate payment: the invoice named is already paid",
    ),
    # reviewers and lifecycle
    "knowledge.rejected_pair": (
        "Un relecteur a refusé ce rapprochement auparavant",
        "A reviewer rejected this pairing before",
    ),
    "knowledge.rejected_pair_filtered": (
        "Un rapprochement refusé par un relecteur a été écarté",
        "A pairing a reviewer rejected was set aside",
    ),
    "review.confirmed": ("Confirmé par un relecteur", "Confirmed by a reviewer"),
    "review.rejected": ("Refusé par un relecteur", "Rejected by a reviewer"),
    "review.manual_match": (
        "Rapproché à la main par un relecteur",
        "Matched by hand by a reviewer",
    ),
    "review.undone": ("Annulé par un relecteur", "Undone by a reviewer"),
    "lifecycle.reverted.declined": (
        "L'opération a été refusée par la banque : rapprochement annulé",
        "The bank declined the transaction: the match is reverted",
    ),
    "lifecycle.reverted.reversed": (
        "L'opération a été annulée : rapprochement annulé",
        "The transaction was reversed: the match is reverted",
    ),
    "lifecycle.carried_forward": (
        "Décision reprise de la version précédente de l'opération",
        "Decision carried over from the transaction's previous version",
    ),
    "lifecycle.allocation_conflict": (
        "Une facture proposée a été rapprochée entre-temps d'un autre paiement",
        "An invoice proposed was meanwhile matched to another payment",
    ),
    "matcher.shadow_mode": (
        "Rapprochement automatique désactivé : proposé seulement",
        "Automatic matching is off: only suggested",
    ),
}

# status.<qonto status> (the engine adds the raw status after status.not_completed)
_STATUS_WORDS = {
    "pending": ("en attente", "pending"),
    "declined": ("refusée", "declined"),
    "reversed": ("annulée", "reversed"),
    "completed": ("exécutée", "completed"),
}


def _money(cents: int) -> str:
    euros, rest = divmod(abs(cents), 100)
    return f"{euros},{rest:02d} €"


def _numbers(allocations: Sequence[Allocation]) -> str:
    return ", ".join(a.invoice_number for a in allocations) or "-"


def explain_reasons(
    reasons: Sequence[str],
    *,
    allocations: Sequence[Allocation] = (),
    residual_cents: int = 0,
    status: str | None = None,
) -> list[ReasonText]:
    """The sentences for ``reasons``, in order, their parameters filled in."""
    params = {
        "invoices": _numbers(allocations),
        "fee": _money(-residual_cents) if residual_cents < 0 else _money(0),
        "excess": _money(residual_cents) if residual_cents > 0 else _money(0),
        "status": status or "-",
    }
    out: list[ReasonText] = []
    for code in reasons:
        pair = SENTENCES.get(code)
        if pair is not None:
            out.append(ReasonText(code, pair[0].format(**params), pair[1].format(**params)))
            continue
        if code.startswith("status."):
            word = code.removeprefix("status.")
            fr, en = _STATUS_WORDS.get(word, (word, word))
            out.append(
                ReasonText(code, f"Statut de l'opération : {fr}", f"Transaction status: {en}")
            )
            continue
        out.append(ReasonText(code, f"Signal {code}", f"Signal {code}"))
    return out


def explain(result: MatchResult) -> list[ReasonText]:
    """The sentences for a result's reasons."""
    return explain_reasons(
        result.reasons,
        allocations=result.allocations,
        residual_cents=result.residual_cents,
    )
