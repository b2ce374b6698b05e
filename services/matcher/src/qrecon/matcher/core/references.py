"""Invoice numbers and structured references: the keys invoices are indexed by, and the
keys read out of a messy remittance text.

An invoice number is reduced to its *digit key*: its digit groups with leading zeros
removed, joined by ``-`` (``FAC-2025-0123`` -> ``2025-123``, ``INV000123`` -> ``123``).
Separators, case, prefixes and missing or extra leading zeros then no longer matter.
A reference such as ``REGLEMENT FAC2025123`` has lost the boundary between the year and
the sequence; the *numbering patterns* learned from the open invoices (the lengths of
the leading digit groups, ``(4,)`` for ``FAC-2025-0123``) say where to cut it again.

ISO 11649 creditor references (``RF18 5390 0754 7034``) are checksum-validated with
``stdnum.iso11649``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from stdnum import iso11649

from qrecon.matcher.core.normalize import fold

_NON_ALNUM = re.compile(r"[^A-Z0-9]+")
_DIGITS = re.compile(r"\d+")
_LEADING_ALPHA = re.compile(r"^[A-Z]+")
# Letters typed for digits inside a number: 2O25 -> 2025, 2025-l23 -> 2025-123.
_O_IN_DIGITS = re.compile(r"(?<=\d)[O](?=\d)|(?<=\d[-/ .])O(?=\d)")
_I_IN_DIGITS = re.compile(r"(?<=\d)[IL](?=\d)")
# An optional alphabetic prefix, then digit groups joined by single separators.
_CHAIN = re.compile(
    r"(?<![A-Z0-9])(?:([A-Z]{1,10})\s?[._/#:-]?\s?)?(\d+(?:(?:\s?[._/-]\s?|\s)\d+)*)(?!\d)"
)
_GROUP_SPLIT = re.compile(r"\s?[._/-]\s?|\s")
_RF_START = re.compile(r"RF\s?\d\d")
MAX_CHAIN_GROUPS = 4
# Words an invoice number is written after ("FACT 2025-0123", "INV 123")
INVOICE_WORDS = frozenset(
    {"F", "FA", "FAC", "FACT", "FACTS", "FACTURE", "FACTURES", "FCT", "INV", "INVOICE"}
)
_LIST_WORDS = frozenset({"", "ET", "AND", "PLUS"})  # "2633, 2634", "2080 ET 1996"
MIN_GLUED_DIGITS = 5  # a shorter group is not cut along a numbering pattern
MIN_TYPO_DIGITS = 5  # shorter numbers are not compared for typos


def strip_zeros(group: str) -> str:
    return group.lstrip("0") or "0"


@dataclass(frozen=True, slots=True)
class NumberKeys:
    """What an invoice number is indexed by."""

    digit_key: str | None  # "2025-123"
    last_key: str | None  # "123" when the number has several groups (weak evidence)
    prefix: str  # "FAC"
    pattern: tuple[int, ...] | None  # lengths of the leading groups: (4,) for FAC-2025-0123
    compact: str  # "FAC20250123"
    typo_forms: tuple[str, ...]  # digit strings compared for typos: "2025123", "20250123"


@lru_cache(maxsize=131072)
def number_keys(number: str) -> NumberKeys:
    text = fold(number)
    compact = _NON_ALNUM.sub("", text)
    groups = _DIGITS.findall(text)
    prefix_match = _LEADING_ALPHA.match(compact)
    prefix = prefix_match.group(0) if prefix_match else ""
    if not groups:
        return NumberKeys(None, None, prefix, None, compact, ())
    stripped = [strip_zeros(g) for g in groups]
    digit_key = "-".join(stripped)
    last_key = stripped[-1] if len(groups) > 1 else None
    pattern = tuple(len(g) for g in groups[:-1]) if len(groups) > 1 else None
    forms = tuple(
        f for f in dict.fromkeys(("".join(stripped), "".join(groups))) if len(f) >= MIN_TYPO_DIGITS
    )
    return NumberKeys(digit_key, last_key, prefix, pattern, compact, forms)


def compact_reference(value: str) -> str:
    return _NON_ALNUM.sub("", fold(value))


@dataclass(slots=True)
class ReferenceQuery:
    """The keys found in a remittance text (reference, label, note)."""

    keys: dict[str, str] = field(default_factory=dict)  # digit key -> alpha prefix seen
    weak_keys: dict[str, None] = field(default_factory=dict)  # single groups: "123"
    # a year and one more group, read as a date ("2025-12": December 2025?) yet maybe an
    # invoice number with its zeros dropped (FAC-2025-0012): weak evidence only
    date_keys: dict[str, None] = field(default_factory=dict)
    digit_strings: list[str] = field(default_factory=list)  # for typo comparison
    tokens: dict[str, None] = field(default_factory=dict)  # words, for payment references
    rf_valid: list[str] = field(default_factory=list)
    rf_invalid: list[str] = field(default_factory=list)
    number_like: bool = False  # a number that is not a date (an invoice number not recognised?)
    # a key read by cutting a glued number along a learned pattern -> the key of the whole
    # number as written: moot when that one names an invoice ("FAC202504-1154" is not
    # "2025-4" and "1154")
    glued: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.keys or self.weak_keys or self.tokens or self.rf_valid or self.rf_invalid)


def _is_year(text: str) -> bool:
    return len(text) == 4 and text.isdigit() and 1990 <= int(text) <= 2039


def _date_like(groups: list[str]) -> bool:
    """12/03, 03/2025, 12.03.2025, 2025, 032025, 12032025: day, month and at most one year."""
    years = 0
    for g in groups:
        if len(g) <= 2:
            if int(g) > 31:  # no day nor month: "44 / 25" are two numbers
                return False
            continue
        if _is_year(g) or (len(g) in (6, 8) and _is_year(g[-4:]) and 1 <= int(g[-6:-4]) <= 12):
            years += 1  # a year, MMYYYY or DDMMYYYY
            continue
        return False
    return years <= 1


def _add(query: ReferenceQuery, key: str, prefix: str) -> None:
    if key not in query.keys or (prefix and not query.keys[key]):
        query.keys[key] = prefix


def _read_rf(text: str, query: ReferenceQuery) -> None:
    for match in _RF_START.finditer(text):
        tail = text[match.start() : match.start() + 40]
        pieces = tail.split(" ")
        found: str | None = None
        candidate = ""
        for piece in pieces:
            candidate += _NON_ALNUM.sub("", piece)
            if len(candidate) > 25:
                break
            if len(candidate) >= 5 and iso11649.is_valid(candidate):
                found = candidate
        if found:
            query.rf_valid.append(found)
            query.tokens[found] = None
        else:
            first = _NON_ALNUM.sub("", pieces[0] if len(pieces[0]) > 4 else "".join(pieces[:4]))
            query.rf_invalid.append(first[:25])


def read_references(
    texts: Iterable[str | None], patterns: tuple[tuple[int, ...], ...]
) -> ReferenceQuery:
    """Every key a remittance text may refer to an invoice by.

    ``patterns`` are the leading-group lengths learned from the open invoices, used to cut
    glued numbers (``2025123`` -> ``2025-123`` with pattern ``(4,)``). Each text is read
    on its own (memoised: labels repeat); the result must not be mutated.
    """
    parts = [_read_text(raw, patterns) for raw in texts if raw]
    if not parts:
        return ReferenceQuery()
    if len(parts) == 1:
        return parts[0]  # shared (memoised): callers must not mutate it
    query = ReferenceQuery()
    for part in parts:
        for key, prefix in part.keys.items():
            _add(query, key, prefix)
        query.weak_keys.update(part.weak_keys)
        query.date_keys.update(part.date_keys)
        query.digit_strings.extend(part.digit_strings)
        query.tokens.update(part.tokens)
        query.rf_valid.extend(part.rf_valid)
        query.rf_invalid.extend(part.rf_invalid)
        query.number_like = query.number_like or part.number_like
        for key, whole in part.glued.items():
            query.glued.setdefault(key, whole)
    return query


@lru_cache(maxsize=32768)  # labels repeat far apart: hits 59% of the texts at 8192, 66% here
def _read_text(raw: str, patterns: tuple[tuple[int, ...], ...]) -> ReferenceQuery:
    query = ReferenceQuery()
    previous: list[str] = []  # the last multi-group number, for "2025-123 ET 124"
    listed = False  # a number (not a date) was read before: a list of numbers
    if raw:
        text = fold(raw)
        text = _O_IN_DIGITS.sub("0", text)
        text = _I_IN_DIGITS.sub("1", text)
        if "RF" in text:
            _read_rf(text, query)
        for word in text.split():
            token = _NON_ALNUM.sub("", word)
            if len(token) >= 4:
                query.tokens[token] = None
        for chain in _CHAIN.finditer(text):
            prefix = chain.group(1) or ""
            groups = _GROUP_SPLIT.split(chain.group(2))[: MAX_CHAIN_GROUPS * 2]
            stripped = [strip_zeros(g) for g in groups]
            n = len(groups)
            if _date_like(groups) and not (
                n == 1 and ((listed and prefix in _LIST_WORDS) or prefix in INVOICE_WORDS)
            ):
                # "ECH 09/02/2025", "MARS 2025": a date names no invoice; but "2025-12"
                # may be FAC-2025-0012 written without its zeros. A lone number that
                # could be a year is a number when it follows another ("FACT 2080 ET
                # 1996") or a word for invoice ("FACTURE 2024").
                if n == 2:
                    query.date_keys["-".join(stripped)] = None
                continue
            listed = True
            query.digit_strings.append("".join(stripped))
            query.digit_strings.append("".join(groups))
            if sum(map(len, stripped)) >= 4:
                query.number_like = True
            # shorthand for sibling numbers: "2025-123/124" and "2025-123 ET 124" name 2025-124
            for j in range(2, n):
                _add(query, stripped[0] + "-" + stripped[j], "")
            if n == 1 and len(previous) > 1 and len(groups[0]) <= len(previous[-1]) + 1:
                _add(query, "-".join([*(strip_zeros(g) for g in previous[:-1]), stripped[0]]), "")
            if n > 1:
                previous = groups
            for i in range(n):
                query.weak_keys[stripped[i]] = None
                for j in range(i + 1, min(n, i + MAX_CHAIN_GROUPS) + 1):
                    _add(query, "-".join(stripped[i:j]), prefix if i == 0 else "")
                # a glued number cut along a learned pattern
                group = groups[i]
                if len(group) < MIN_GLUED_DIGITS:
                    continue
                for pattern in patterns:
                    total = sum(pattern)
                    if len(group) <= total:
                        continue
                    cuts: list[str] = []
                    pos = 0
                    for length in pattern:
                        cuts.append(strip_zeros(group[pos : pos + length]))
                        pos += length
                    cuts.append(strip_zeros(group[pos:]))
                    key = "-".join(cuts)
                    whole = "-".join(stripped)
                    if key not in query.keys:
                        query.glued[key] = whole
                    _add(query, key, prefix if i == 0 else "")
                    query.digit_strings.append("".join(cuts))
                    # a glued number followed by more groups ("2025123-2")
                    if i + 1 < n:
                        longer = key + "-" + "-".join(stripped[i + 1 : i + 2])
                        if longer not in query.keys:
                            query.glued[longer] = whole
                        _add(query, longer, "")
    return query
