"""Text normalisation for counterparty names, bank labels and IBANs (pure, cached).

Names are compared on a *key*: accents removed, upper case, punctuation dropped, dotted
acronyms joined (``S.A.R.L.`` -> ``SARL``), legal forms and stop words removed, the
remaining words sorted. ``Maison Dupont S.A.R.L.``, ``DUPONT (MAISON) SARL`` and
``sarl maison dupont`` all have the key ``DUPONT MAISON``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz import fuzz

# Legal forms and company-designation words (French first, then the neighbours').
LEGAL_FORMS = frozenset(
    {
        "SARL", "SAS", "SASU", "EURL", "SA", "SCI", "SNC", "SCS", "SCA", "SCOP", "SCP",
        "SELARL", "SELAS", "SELAFA", "SEL", "SCM", "GIE", "GAEC", "EARL", "EI", "EIRL", "SEM",
        "ETS", "ETABLISSEMENTS", "ETABLISSEMENT", "STE", "SOCIETE", "CIE", "CO", "COMPAGNIE",
        "GMBH", "AG", "KG", "UG", "LTD", "LIMITED", "LLC", "LLP", "INC", "CORP", "CORPORATION",
        "PLC", "BV", "NV", "BVBA", "SPRL", "SRL", "SPA", "SL", "SLU", "AB", "AS", "OY", "SE",
    }
)  # fmt: skip
# Words too generic to tell companies apart ("EDF Entreprises" is "EDF").
GENERIC_WORDS = frozenset({"ENTREPRISES", "ENTREPRISE", "BUSINESS", "PRO", "FRANCE"})
STOP_WORDS = frozenset({"DE", "DU", "DES", "LA", "LE", "LES", "L", "D", "ET", "AND", "THE", "OF"})
# Words a bank puts around the counterparty in a label ("VIR SEPA INST DE ...").
BANK_WORDS = frozenset(
    {
        "VIR", "VIRT", "VIREMENT", "VRT", "SEPA", "INST", "INSTANTANE", "RECU", "RECUS", "EMIS",
        "PRLV", "PRELEVEMENT", "PRELEV", "SDD", "SCT", "CB", "CARTE", "PAIEMENT", "PAYMENT",
        "FAVEUR", "ORDRE", "PAR", "POUR", "REF", "REFERENCE", "MOTIF", "REGLEMENT", "REGL",
        "FACTURE", "FACTURES", "FACT", "FAC", "FA", "N", "NO", "NUM", "NUMERO", "M", "MR", "MME",
        "MLLE", "EUR", "EUROS", "TRANSFER", "INVOICE", "INV", "DATE", "ECHEANCE", "AVOIR",
        "ACOMPTE", "SOLDE", "PMT", "FROM", "TO", "RCUR", "FRST", "OOFF", "MANDAT", "ICS", "RUM",
    }
)  # fmt: skip

_NON_ALNUM = re.compile(r"[^A-Z0-9]+")
_DOTTED_ACRONYM = re.compile(r"\b([A-Z])\.(?=[A-Z]\b|[A-Z]\.)")
_HAS_DIGIT = re.compile(r"\d")


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Accents removed, upper case (``Société Générale`` -> ``SOCIETE GENERALE``)."""
    if text.isascii():
        return text.upper()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.upper().replace("Œ", "OE").replace("Æ", "AE").replace("ß", "SS")


def _words(text: str) -> list[str]:
    folded = fold(text).replace("&", " ET ").replace("'", " ").replace("’", " ")
    folded = _DOTTED_ACRONYM.sub(r"\1", folded)
    return [w for w in _NON_ALNUM.split(folded) if w]


@lru_cache(maxsize=131072)
def name_key(name: str) -> str:
    """The comparison key of a company name (legal forms, stop words, order removed)."""
    words = _name_words(name)
    return " ".join(sorted(dict.fromkeys(words)))


def _name_words(name: str) -> list[str]:
    words = [w for w in _words(name) if w not in LEGAL_FORMS and w not in STOP_WORDS]
    if not words:  # a name made only of designations ("SAS"): keep it as written
        return _words(name)
    specific = [w for w in words if w not in GENERIC_WORDS]
    return specific or words


@lru_cache(maxsize=131072)
def party_key(name: str) -> str:
    """Who an invoice's counterparty is: its name with the legal form, normalised.

    ``Ets Dumont SARL`` and ``ETS DUMONT S.A.R.L.`` are one party, ``Ets Dumont SNC``
    another, though a bank label (``DUMONT``) may match both (same ``name_key``).
    """
    words = [w for w in _words(name) if w not in STOP_WORDS] or _words(name)
    return " ".join(sorted(dict.fromkeys(words)))


@lru_cache(maxsize=131072)
def name_compact(name: str) -> str:
    """The name's words in their order, without spaces (``Swiss Life`` = ``SWISSLIFE``)."""
    return "".join(_name_words(name))


@lru_cache(maxsize=131072)
def label_name_key(label: str) -> str:
    """The name key of a bank label: bank words, numbers and dates dropped as well.

    ``VIR SEPA MAISON DUPONT S.A.R.L. REGLEMENT FAC2025123`` -> ``DUPONT MAISON``.
    """
    return " ".join(sorted(dict.fromkeys(_label_words(label))))


def _label_words(label: str) -> list[str]:
    words = [
        w
        for w in _words(label)
        if w not in LEGAL_FORMS
        and w not in STOP_WORDS
        and w not in BANK_WORDS
        and not _HAS_DIGIT.search(w)
        and len(w) > 1
    ]
    specific = [w for w in words if w not in GENERIC_WORDS]
    return specific or words


@lru_cache(maxsize=131072)
def label_compact(label: str) -> str:
    return "".join(_label_words(label))


def name_tokens(key: str) -> list[str]:
    return key.split() if key else []


def name_similarity(
    query_key: str, candidate_key: str, query_compact: str = "", candidate_compact: str = ""
) -> float:
    """0..100: how alike two names are (word order, spacing and extra words tolerated).

    The best of: ``token_sort_ratio`` (a ratio of the sorted keys); ``token_set_ratio``
    (one name's words a subset of the other's: ``DUPONT`` in ``DUPONT MAISON``) and, on
    the names without spaces, the ratio or the partial ratio (``SWISSLIFE`` in
    ``SWISS LIFE``, ``TOTALENERGIES`` in ``TOTAL ENERGIES MARKETING``), the subset forms
    discounted by 8 points since a subset is weaker evidence than the same words.
    """
    if query_key == candidate_key:
        return 100.0
    sort_score = fuzz.ratio(query_key, candidate_key)
    set_score = fuzz.token_set_ratio(query_key, candidate_key) - 8.0
    best = max(sort_score, set_score)
    if query_compact and candidate_compact:
        best = max(best, fuzz.ratio(query_compact, candidate_compact))
        shorter = min(len(query_compact), len(candidate_compact))
        if shorter >= 6 and best < 92.0:
            partial = fuzz.partial_ratio(query_compact, candidate_compact)
            best = max(best, partial - 8.0)
    return max(best, 0.0)


@lru_cache(maxsize=65536)
def normalise_iban(value: str | None) -> str | None:
    """A valid IBAN in compact upper case, or ``None`` (schwifty checks country, length, mod 97)."""
    if not value:
        return None
    compact = _NON_ALNUM.sub("", fold(value))
    if len(compact) < 15 or not compact[:2].isalpha():
        return None
    from schwifty import IBAN

    try:
        return str(IBAN(compact, validate_bban=False).compact)
    except Exception:  # schwifty raises its own SchwiftyException subclasses (ValueError too)
        return None
