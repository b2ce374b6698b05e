"""Accent folding, as banks do it (``Société Générale`` -> ``SOCIETE GENERALE``)."""

from __future__ import annotations

import unicodedata


def fold_accents(text: str) -> str:
    """``text`` without its combining marks (``é`` -> ``e``; ``ß`` and ``æ`` stay)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold_upper(text: str) -> str:
    """Accents folded, upper case: how most banks print a name."""
    return fold_accents(text).upper()
