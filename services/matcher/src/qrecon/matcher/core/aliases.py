"""What a review may teach: which payer names and IBANs become a customer's alias (pure).

When a reviewer confirms a suggestion or matches a line by hand, the payer as the bank
shows it (its name, its validated IBAN) is learnt as an alias of the invoices' customer
(:class:`.knowledge.Knowledge`), so the next payment under that name or from that account
is recognised (``counterparty.alias``, as strong as the customer's exact name) instead of
being only *like* the customer's name (``counterparty.fuzzy``, weaker, never decisive).

That is the point of learning a *fuzzy-equal* name: "MAISON DUPONT SARL", "DUPONT MAISON",
"Maison Dupond" or "SCI TILLEULS IMMOBILIER GESTION" are close to but not equal to the
customer's name; once a reviewer has said who they are, they count as that customer.

An alias is strong evidence for every later payment, so a wrong one does lasting harm
(wrong auto-matches, not just a wrong suggestion). A name is therefore learnt only when it
is *specific to this customer* (:func:`judge_name`):

* ``no_name``: nothing of a name is left once bank words ("VIR SEPA", "PAIEMENT",
  "FACTURE"), numbers and legal forms are dropped;
* ``intermediary``: the name is a bank's, a payment processor's or a factor's ("QONTO",
  "STRIPE PAYMENTS", "BNP PARIBAS FACTOR"): such a payer pays for many customers, so its
  name says nothing about which one;
* ``generic``: only words that name no one ("CLIENT", "REMBOURSEMENT", "FRANCE", or a
  name shorter than ``min_letters`` letters);
* ``same_name``: the customer's own name (modulo case, accents, legal form, word order,
  spacing): the engine already finds it exactly, there is nothing to learn;
* ``other_customer``: exactly the name of another customer of the organisation, or a name
  already taught for another customer: learning it would make that customer's payments
  look like this one's;
* ``ambiguous``: another customer's name is about as close (within ``margin`` points of
  similarity, and at least ``min_score``) as this customer's: the reviewer's choice tells
  the payments apart this once, but the name does not;
* otherwise it is learnt: ``fuzzy`` when it is close to the customer's name
  (similarity >= ``min_score``, the engine's own threshold for a similar name), ``payer``
  when it is unlike it (a parent company, a tenant's manager: the reviewer's word only).

An IBAN (already validated by the engine's reading) is learnt unless invoices of another
customer carry it or it was taught for another customer (``other_customer``: a shared
account, a factor). A decision whose
invoices belong to several customers teaches nothing (``several_customers``): neither
the name nor the account is specific to one of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from qrecon.matcher.core.book import InvoiceBook
from qrecon.matcher.core.config import EngineConfig
from qrecon.matcher.core.evidence import SimilarCache, similar_names
from qrecon.matcher.core.knowledge import Knowledge
from qrecon.matcher.core.normalize import (
    GENERIC_WORDS,
    label_compact,
    label_name_key,
    name_compact,
    name_key,
    name_similarity,
    name_tokens,
    normalise_iban,
)

# Banks, payment institutions, processors and factors as they appear in payer names: a
# payment through them may be any customer's.
INTERMEDIARY_WORDS = frozenset(
    {
        "QONTO", "BNP", "PARIBAS", "LCL", "CIC", "HSBC", "BPCE", "BRED", "BOURSORAMA",
        "REVOLUT", "N26", "SHINE", "STRIPE", "PAYPAL", "SUMUP", "ADYEN", "GOCARDLESS",
        "MANGOPAY", "LEMONWAY", "TREEZOR", "LYDIA", "PAYPLUG", "KLARNA", "MOLLIE", "PAYZEN",
        "BANQUE", "BANK", "FACTOR", "FACTORING", "AFFACTURAGE",
    }
)  # fmt: skip
# Banks known by two words, each harmless alone ("Crédit Conseil", "Générale des Eaux").
INTERMEDIARY_PAIRS = (
    frozenset({"CREDIT", "AGRICOLE"}),
    frozenset({"CREDIT", "MUTUEL"}),
    frozenset({"CREDIT", "LYONNAIS"}),
    frozenset({"CAISSE", "EPARGNE"}),
    frozenset({"BANQUE", "POSTALE"}),
)
# Whole names of banks once their legal-form word is dropped ("Société Générale").
INTERMEDIARY_NAMES = frozenset({"GENERALE", "POSTE", "POSTALE"})
# Words in payer names that name no one (beyond ``normalize``'s bank and generic words).
NAMELESS_WORDS = GENERIC_WORDS | frozenset(
    {
        "CLIENT", "CLIENTS", "DIVERS", "REMBOURSEMENT", "REMB", "COMMANDE", "CDE", "ACHAT",
        "ACHATS", "VENTE", "SERVICE", "SERVICES", "PRESTATION", "PRESTATIONS", "VERSEMENT",
        "DEPOT", "RETRAIT", "ESPECES", "CHEQUE", "CHQ", "REMISE", "COMPTE", "CPT", "FRAIS",
        "PARTICULIER", "INCONNU", "UNKNOWN", "AUTRE", "VIA",
    }
)  # fmt: skip

LEARNT = frozenset({"fuzzy", "payer", "iban"})


@dataclass(frozen=True, slots=True)
class AliasRules:
    """How specific a payer name must be to be learnt (similarities 0..100, as
    ``normalize.name_similarity`` computes them)."""

    # A name this similar to the customer's is a fuzzy-equal name (the engine's
    # EngineConfig.name_min_score: the same scale and threshold as its own name search);
    # another customer this similar may be confused with it.
    min_score: float = EngineConfig().name_min_score
    # Another customer within this many points of the chosen one makes the name ambiguous.
    margin: float = 5.0
    # Fewer letters than this (once bank words and numbers are dropped) name no one.
    min_letters: int = 3


@dataclass(frozen=True, slots=True)
class Verdict:
    why: str  # one of the reasons in the module's docstring
    score: float = 0.0  # similarity of the observed name to the customer's

    @property
    def learn(self) -> bool:
        return self.why in LEARNT


@dataclass(slots=True)
class Lesson:
    """What one review decision teaches: (observed name or "", IBAN or "", customer name)
    rows to record, and why the rest is not learnt."""

    aliases: list[tuple[str, str, str]] = field(default_factory=list)
    not_learnt: dict[str, str] = field(default_factory=dict)  # observed -> why


def judge_name(
    rules: AliasRules,
    book: InvoiceBook,
    knowledge: Knowledge | None,
    observed: str,
    customer: str,
    cache: SimilarCache | None = None,
) -> Verdict:
    """May the payer name ``observed`` become an alias of ``customer`` (an invoice's
    counterparty name) in this organisation's ``book``?"""
    key, compact = label_name_key(observed), label_compact(observed)
    if not key:
        return Verdict("no_name")
    words = set(name_tokens(key))
    if (
        key in INTERMEDIARY_NAMES
        or words & INTERMEDIARY_WORDS
        or any(pair <= words for pair in INTERMEDIARY_PAIRS)
    ):
        return Verdict("intermediary")
    if words <= NAMELESS_WORDS or len(compact) < rules.min_letters:
        return Verdict("generic")
    target = name_key(customer)
    keys = {key, name_key(observed)}
    if target in keys:
        return Verdict("same_name", 100.0)
    if any(book.has_name(k) for k in keys):
        return Verdict("other_customer")  # another customer is called exactly that
    if knowledge is not None and set(knowledge.aliases(keys, None)) - {target}:
        return Verdict("other_customer")  # already taught for another customer
    score = name_similarity(key, target, compact, name_compact(customer))
    if score >= 100.0:  # the same letters spaced differently: the engine reads it as exact
        return Verdict("same_name", score)
    # The organisation's other customers with a name like it (the engine's own search:
    # names sharing a rare word, scored the same way).
    cfg = EngineConfig(name_min_score=rules.min_score)
    for other, other_score in similar_names(
        cfg, book, key, compact, {} if cache is None else cache
    ):
        if other != target and other_score >= max(rules.min_score, score - rules.margin):
            return Verdict("ambiguous", score)
    return Verdict("fuzzy" if score >= rules.min_score else "payer", score)


def judge_iban(book: InvoiceBook, knowledge: Knowledge | None, iban: str, customer: str) -> Verdict:
    """May the (validated) payer IBAN become an alias of ``customer``? Not when another
    customer's invoices carry it or it was taught for another customer (a shared account:
    a group's treasury, a factor, an accountant paying for several clients)."""
    target = name_key(customer)
    if any(name_key(party) != target for party in book.parties_by_iban(iban)):
        return Verdict("other_customer")
    if knowledge is not None and set(knowledge.aliases((), iban)) - {target}:
        return Verdict("other_customer")
    return Verdict("iban", 100.0)


def lesson(
    rules: AliasRules,
    book: InvoiceBook,
    knowledge: Knowledge | None,
    observed_name: str,
    observed_iban: str,
    customers: Iterable[str],
) -> Lesson:
    """What confirming (or matching by hand) a payment from ``observed_name`` /
    ``observed_iban`` to invoices of ``customers`` teaches."""
    out = Lesson()
    by_key = {name_key(c): c for c in customers if c and name_key(c)}
    if not by_key or not (observed_name or observed_iban):
        return out
    if len(by_key) > 1:
        for observed in (observed_name, observed_iban):
            if observed:
                out.not_learnt[observed] = "several_customers"
        return out
    [customer] = by_key.values()
    name = ""
    if observed_name:
        verdict = judge_name(rules, book, knowledge, observed_name, customer)
        if verdict.learn:
            name = observed_name
        elif verdict.why != "same_name":
            out.not_learnt[observed_name] = verdict.why
    iban = normalise_iban(observed_iban) or ""
    if iban:
        verdict = judge_iban(book, knowledge, iban, customer)
        if not verdict.learn:
            out.not_learnt[observed_iban] = verdict.why
            iban = ""
    if name or iban:
        out.aliases.append((name, iban, customer))
    return out
