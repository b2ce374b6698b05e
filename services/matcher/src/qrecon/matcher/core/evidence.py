"""What a transaction says: the invoices its text names and the counterparties it points to.

``read_evidence`` gathers, once per transaction, everything the candidates and their scores
are built from (an ``Evidence``):

* *references* read from ``reference`` and ``label`` (RF creditor references and payment
  references, invoice numbers by their digits, weak trailing numbers), each invoice kept at
  the strongest level it was named at (``RefHit``); exactly named invoices already closed;
* the *counterparty*: the payer's IBAN (validated), the names it goes by
  (``clean_counterparty_name``, ``label``, the nested counterparty object) looked up
  exactly, through the reviewers' aliases, then fuzzily (``CpHit``).

Numbers one typo away from an invoice's (``typo_hits``) are found later, per counterparty,
by the candidate search (``candidates``).

A payment made in another currency than the account's is read in the currency it paid
(``payment_view``) when invoices are kept in that currency.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from qrecon.common.schemas import QontoTransaction
from qrecon.matcher.core.book import BookEntry, InvoiceBook
from qrecon.matcher.core.config import EngineConfig
from qrecon.matcher.core.knowledge import Knowledge
from qrecon.matcher.core.normalize import (
    label_compact,
    label_name_key,
    name_similarity,
    name_tokens,
    normalise_iban,
)
from qrecon.matcher.core.references import MIN_TYPO_DIGITS, ReferenceQuery, read_references

__all__ = [
    "CP_ALIAS",
    "CP_EXACT",
    "CP_FUZZY",
    "CP_IBAN",
    "CP_TRUNCATED",
    "REF_EXACT",
    "REF_FUZZY",
    "REF_PARTIAL",
    "REF_PAYREF",
    "CpHit",
    "Evidence",
    "RefHit",
    "SimilarCache",
    "payment_view",
    "read_evidence",
    "similar_names",
    "transaction_date",
    "typo_hits",
]

SIMILAR_CACHE_SIZE = 65536
# Reference evidence levels, strongest first.
REF_PAYREF, REF_EXACT, REF_FUZZY, REF_PARTIAL = 4, 3, 2, 1
CP_IBAN, CP_EXACT, CP_ALIAS, CP_FUZZY = "iban", "exact", "alias", "fuzzy"
CP_TRUNCATED = "truncated"  # the payer's name is the start of the counterparty's
STRONG_CP = frozenset({CP_IBAN, CP_EXACT, CP_ALIAS, CP_TRUNCATED})

COUNTERPARTY_NAME_FIELDS = (
    "counterparty_name",
    "name",
    "creditor_name",
    "debtor_name",
    "beneficiary_name",
)

# (book uid, names version, name key, compact form) -> similar names, best first
SimilarCache = dict[tuple[int, int, str, str], list[tuple[str, float]]]


@dataclass(slots=True)
class RefHit:
    level: int
    prefix: bool = False


@dataclass(slots=True)
class CpHit:
    level: str
    score: float  # name similarity 0..100 (100 for iban/exact/alias)


@dataclass(slots=True)
class Evidence:
    """Everything read from one transaction against the book (the candidates' context)."""

    tx: QontoTransaction
    book: InvoiceBook
    knowledge: Knowledge | None
    amount: int
    tx_date: date
    refs: ReferenceQuery
    ref_hits: dict[str, RefHit]
    closed_ref_ids: list[str]
    cp_hits: dict[str, CpHit]
    observed_name: bool
    strong_other: set[str]  # counterparties the payer strongly matches
    noise: str | None
    issued_by: date  # an invoice issued after this is issued after the payment
    exactly_named: set[str]  # counterparties of the invoices the text names exactly
    rejected_any: bool = False


def payment_view(tx: QontoTransaction, currencies: Collection[str]) -> QontoTransaction:
    """The transaction as it pays invoices.

    A card payment or a transfer abroad debits the account in its currency (``amount``,
    ``currency``: euros) for what the supplier was paid (``local_amount``,
    ``local_currency``: the invoice's amount and currency). When the currencies say so
    (``local_currency`` differs from ``currency``, a local amount is given, and invoices
    are kept in ``local_currency``: ``currencies``, the book's), the transaction is read
    in its local currency: amount, candidates, allocations and residual are then in it.
    Otherwise it is returned unchanged.
    """
    local = tx.local_currency
    local_cents = tx.local_amount_cents
    if local is None or local == tx.currency or not local_cents or local_cents <= 0:
        return tx
    if local not in currencies:
        return tx
    return tx.model_copy(
        update={"amount_cents": local_cents, "amount": tx.local_amount, "currency": local}
    )


def transaction_date(tx: QontoTransaction) -> date:
    stamp = tx.settled_at or tx.emitted_at or tx.created_at or tx.updated_at
    return stamp.date()


def read_evidence(
    cfg: EngineConfig,
    tx: QontoTransaction,
    book: InvoiceBook,
    knowledge: Knowledge | None,
    noise: str | None,
    cache: SimilarCache,
) -> Evidence:
    """References, then counterparties, as ``tx`` names them (``cache``: ``similar_names``)."""
    refs = read_references((tx.reference, tx.label), book.patterns())
    ref_hits = _reference_hits(cfg, book, refs)
    iban = payer_iban(tx)
    observed = _observed_names(tx)
    cp_hits = _known_counterparties(book, knowledge, iban, observed)
    strong = set(cp_hits)
    # Similar names: not for noise (card, salary, payout...: firm evidence only), nor
    # when the payer's IBAN already says who they are.
    if noise is None and not any(hit.level == CP_IBAN for hit in cp_hits.values()):
        _add_similar_counterparties(cfg, book, observed, cp_hits, cache)
    return Evidence(
        tx=tx,
        book=book,
        knowledge=knowledge,
        amount=tx.amount_cents,
        tx_date=transaction_date(tx),
        refs=refs,
        ref_hits=ref_hits,
        closed_ref_ids=_closed_references(book, ref_hits),
        cp_hits=cp_hits,
        observed_name=bool(observed) or iban is not None,
        strong_other=strong,
        noise=noise,
        issued_by=transaction_date(tx) + timedelta(days=cfg.date_tolerance_days),
        exactly_named={
            entry.party
            for invoice_id, hit in ref_hits.items()
            if hit.level >= REF_EXACT and (entry := book.entry(invoice_id)) is not None
        },
    )


# ---------------------------------------------------------------------- references
def _reference_hits(
    cfg: EngineConfig, book: InvoiceBook, refs: ReferenceQuery
) -> dict[str, RefHit]:
    """Invoice id -> the strongest level the text names it at."""
    ref_hits: dict[str, RefHit] = {}

    def hit(invoice_id: str, level: int, prefix: bool = False) -> None:
        current = ref_hits.get(invoice_id)
        if current is None or level > current.level:
            ref_hits[invoice_id] = RefHit(level, prefix)
        elif level == current.level and prefix:
            current.prefix = True

    # payment references and RF creditor references
    for token in (*refs.rf_valid, *refs.tokens):
        for invoice_id in book.ids_by_payref(token):
            hit(invoice_id, REF_PAYREF)
    # invoice numbers by their digits (exact when long enough)
    glued = refs.glued
    for key, prefix in refs.keys.items():
        ids = book.ids_by_digit_key(key)
        if not ids or len(ids) > cfg.reference_max_fanout:  # type: ignore[arg-type]
            continue
        if key in glued and book.ids_by_digit_key(glued[key]):
            continue  # the number as written names an invoice: no need to cut it
        digits = len(key) - key.count("-")
        level = REF_EXACT if digits >= cfg.min_exact_key_digits else REF_PARTIAL
        entries = [(invoice_id, book.entry(invoice_id)) for invoice_id in ids]
        prefixed = {
            invoice_id
            for invoice_id, entry in entries
            if prefix and entry is not None and entry.prefix and prefix == entry.prefix
        }
        for invoice_id, _ in entries:
            # "FAC-2025-00540" names FAC-2025-00540, not F2025-0540 (the same digits)
            named_level = level if not prefixed or invoice_id in prefixed else REF_PARTIAL
            hit(invoice_id, named_level, invoice_id in prefixed)
    # a year and a group read as a date ("2025-12"), and weak keys (the last group of
    # digits): partial evidence, that tells equal amounts apart
    for key in refs.date_keys:
        ids = book.ids_by_digit_key(key)
        if ids and len(ids) <= cfg.weak_reference_max_fanout:  # type: ignore[arg-type]
            for invoice_id in ids:
                hit(invoice_id, REF_PARTIAL)
    for key in refs.weak_keys:
        if len(key) < 2:
            continue
        ids = book.ids_by_last_key(key)
        if not ids or len(ids) > cfg.weak_reference_max_fanout:  # type: ignore[arg-type]
            continue
        for invoice_id in ids:
            hit(invoice_id, REF_PARTIAL)
    return ref_hits


def _closed_references(book: InvoiceBook, ref_hits: dict[str, RefHit]) -> list[str]:
    """The invoices named exactly (or by payment reference) that are no longer open."""
    closed: list[str] = []
    for invoice_id, ref in ref_hits.items():
        entry = book.entry(invoice_id)
        if ref.level >= REF_EXACT and entry is not None and not entry.is_open:
            closed.append(invoice_id)
    return closed


def typo_hits(evidence: Evidence, entries: list[BookEntry]) -> dict[str, None]:
    """Invoices whose number is one typo (edit or transposition) from a number in the text."""
    found: dict[str, None] = {}
    strings = [s for s in dict.fromkeys(evidence.refs.digit_strings) if len(s) >= MIN_TYPO_DIGITS]
    if not strings:
        return found
    for entry in entries:
        for form in entry.typo_forms:
            if any(
                abs(len(s) - len(form)) <= 1 and OSA.distance(s, form, score_cutoff=1) <= 1
                for s in strings
            ):
                found[entry.id] = None
                break
    return found


# ---------------------------------------------------------------------- counterparty
def payer_iban(tx: QontoTransaction) -> str | None:
    """The payer's IBAN from the nested counterparty object, or None. Only an account whose
    format says IBAN (REST ``IBAN``, webhooks ``iban``; absent is tried) and that validates
    as one is an IBAN: Qonto also sends ``account_number`` and ``SWIFT_BIC`` formats."""
    nested = tx.counterparty
    account = nested.get("counterparty_account_number")
    fmt = nested.get("counterparty_account_number_format")
    if isinstance(account, str) and (fmt is None or str(fmt).lower() == "iban"):
        return normalise_iban(account)
    return None


def _observed_names(tx: QontoTransaction) -> dict[str, str]:
    """The names the transaction goes by: name key -> compact form, first seen first."""
    nested = tx.counterparty
    observed: dict[str, str] = {}
    texts = [tx.clean_counterparty_name, tx.label]
    texts += [nested.get(field_name) for field_name in COUNTERPARTY_NAME_FIELDS]
    for text in texts:
        if isinstance(text, str) and text:
            key = label_name_key(text)
            if key and key not in observed:
                observed[key] = label_compact(text)
    return observed


def _known_counterparties(
    book: InvoiceBook, knowledge: Knowledge | None, iban: str | None, observed: dict[str, str]
) -> dict[str, CpHit]:
    """Counterparties by IBAN, then by exact name, then through the reviewers' aliases."""
    cp_hits: dict[str, CpHit] = {}
    if iban:
        for party in book.parties_by_iban(iban):
            cp_hits[party] = CpHit(CP_IBAN, 100.0)
    for key in observed:
        for party in book.parties_of(key):
            if party not in cp_hits:
                cp_hits[party] = CpHit(CP_EXACT, 100.0)
    if knowledge is not None:
        for name in knowledge.aliases(observed, iban):
            for party in book.parties_of(name):
                if party not in cp_hits:
                    cp_hits[party] = CpHit(CP_ALIAS, 100.0)
    return cp_hits


def _add_similar_counterparties(
    cfg: EngineConfig,
    book: InvoiceBook,
    observed: dict[str, str],
    cp_hits: dict[str, CpHit],
    cache: SimilarCache,
) -> None:
    """Add the counterparties of the most similar names (at most ``max_name_candidates``)."""
    fuzzy: dict[str, float] = {}
    for key, compact in observed.items():
        for name, score in similar_names(cfg, book, key, compact, cache):
            if name not in observed and score > fuzzy.get(name, 0.0):
                fuzzy[name] = score
    ranked = sorted(fuzzy.items(), key=lambda kv: (-kv[1], kv[0]))
    truncated = _truncated_name(cfg, book, observed, fuzzy)
    for name, score in ranked[: cfg.max_name_candidates]:
        level = CP_TRUNCATED if name == truncated else CP_FUZZY
        for party in book.parties_of(name):
            if party not in cp_hits:
                # the same letters spaced differently ("SWISSLIFE", "Swiss Life"): exact
                cp_hits[party] = CpHit(CP_EXACT if score >= 100.0 else level, score)


def _truncated_name(
    cfg: EngineConfig, book: InvoiceBook, observed: dict[str, str], similar: dict[str, float]
) -> str | None:
    """The one similar name the payer's name is the start of, letter for letter and long
    enough ("TOTALENERGIES" for "Total Energies Marketing France"): a bank cuts names, a
    creditor signs with its trade name. None when no name, or several, start so."""
    starts = [
        compact for compact in observed.values() if len(compact) >= cfg.name_truncated_min_letters
    ]
    if not starts:
        return None
    found = [
        name
        for name in similar
        if any(book.name_compact_of(name).startswith(start) for start in starts)
    ]
    return found[0] if len(found) == 1 else None


def similar_names(
    cfg: EngineConfig, book: InvoiceBook, key: str, compact: str, cache: SimilarCache
) -> list[tuple[str, float]]:
    """Name keys of the book like ``key`` (similarity >= name_min_score), best first.

    Memoised in ``cache`` per book and version of its set of names (a pure function of both).
    """
    cache_key = (book.uid, book.names_version, key, compact)
    cached = cache.get(cache_key)
    if cached is not None:
        return cached
    found = _names_sharing_words(cfg, book, key)
    found.pop(key, None)
    scores: list[tuple[str, float]] = []
    if found:
        scores = _score_names(cfg, book, key, compact, list(found))
    if len(cache) >= SIMILAR_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[cache_key] = scores
    return scores


def _names_sharing_words(cfg: EngineConfig, book: InvoiceBook, key: str) -> dict[str, None]:
    """The names sharing the query's rarer words (or their 4-letter stems), rarest first."""
    probes: list[tuple[int, str]] = []
    for word in name_tokens(key):
        for probe in (word, word[:4] + "*" if len(word) > 4 else None):
            if probe is not None:
                size = len(book.names_by_word(probe))
                if 0 < size <= cfg.name_word_max_fanout:
                    probes.append((size, probe))
    probes.sort()
    found: dict[str, None] = {}
    for _, probe in probes:
        found.update(book.names_by_word(probe))
        if len(found) >= cfg.name_word_max_fanout:
            break
    return found


def _score_names(
    cfg: EngineConfig, book: InvoiceBook, key: str, compact: str, names: list[str]
) -> list[tuple[str, float]]:
    """``names`` similar enough to ``key``, with their similarity, best first."""
    # a C-speed filter first: whatever passes one of the scorers is scored in full
    cut = cfg.name_min_score
    keep: dict[str, None] = {}
    for name, _, _ in process.extract(
        key, names, scorer=fuzz.token_set_ratio, score_cutoff=cut, limit=None
    ):
        keep[name] = None
    if compact:
        compacts = [book.name_compact_of(name) for name in names]
        for _, _, index in process.extract(
            compact, compacts, scorer=fuzz.partial_ratio, score_cutoff=cut, limit=None
        ):
            keep[names[index]] = None
    scores: list[tuple[str, float]] = []
    for name in keep:
        score = name_similarity(key, name, compact, book.name_compact_of(name))
        if score >= cut:
            scores.append((name, score))
    scores.sort(key=lambda kv: (-kv[1], kv[0]))
    return scores
