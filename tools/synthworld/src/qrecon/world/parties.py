"""Who a French SME deals with: company names (French and foreign), people, and how a
payer's bank writes them on a statement (upper case, no accents, legal form moved or
abbreviated, truncated).

Two naming styles, kept apart because worlds built from a seed must not change:
``company_name`` (varied patterns, families of similar names: the evaluation's
customers and suppliers) and ``shop_name`` (``<prefix> <surname> <form>``: the
emulator's customers); likewise ``bank_spelling`` and the plainer ``bank_label``.
"""

from __future__ import annotations

import random

from qrecon.world import names as N
from qrecon.world.text import fold_accents, fold_upper


def company_name(rng: random.Random, surname: str) -> tuple[str, str]:
    """A French company named after ``surname``: ``(name with its legal form, form)``;
    the form is ``""`` when none is written."""
    activity = rng.choice(N.ACTIVITIES)
    pattern = rng.random()
    if pattern < 0.25:
        base = f"{surname} {activity}"
    elif pattern < 0.40:
        base = f"Maison {surname}"
    elif pattern < 0.52:
        base = f"{activity} {surname}"
    elif pattern < 0.60:
        base = f"{surname} & Fils"
    elif pattern < 0.67:
        base = f"Ets {surname}"
    elif pattern < 0.75:
        base = f"{surname} {activity} {rng.choice(N.CITIES)}"
    elif pattern < 0.82:
        base = f"Groupe {surname}"
    elif pattern < 0.89:
        base = f"Atelier {surname}"
    elif pattern < 0.94:
        base = f"{surname}-{rng.choice(N.SURNAMES)}"
    else:
        letters = "".join(rng.choice("ABCDEFGHIJKLMNOPRSTV") for _ in range(rng.randint(3, 4)))
        base = f"{letters} {activity}"
    forms, weights = zip(*N.FR_LEGAL_FORMS, strict=True)
    form = rng.choices(forms, weights=weights)[0]
    return f"{base} {form}".strip(), form


def foreign_company(rng: random.Random) -> tuple[str, str, str]:
    """A company abroad: ``(country, name with its legal form, form)``."""
    country, form, words = rng.choice(N.FOREIGN)
    return country, f"{rng.choice(words)} {rng.choice(N.FOREIGN_ACTIVITIES)} {form}", form


def bank_spelling(rng: random.Random, name: str, form: str) -> str:
    """How the payer's bank writes ``name`` (whose legal form is ``form``): the form
    spelled another way, moved first or dropped, words reversed, mostly upper case
    without accents, sometimes truncated."""
    base = name[: -len(form)].strip() if form and name.endswith(form) else name
    spelled = rng.choice(N.LEGAL_FORM_SPELLINGS.get(form, ("",))) if form else ""
    roll = rng.random()
    if roll < 0.15 and spelled:
        text = f"{spelled} {base}"
    elif roll < 0.30:
        text = base  # no legal form
    elif roll < 0.38:
        words = base.split()
        text = " ".join(words[::-1]) + (f" {spelled}" if spelled else "")
    else:
        text = f"{base} {spelled}".strip()
    text = fold_upper(text) if rng.random() < 0.85 else text
    if len(text) > 24 and rng.random() < 0.25:
        text = text[: rng.randint(20, 24)].rstrip()  # truncated by the bank
    return text


def shop_name(rng: random.Random, used: set[str]) -> str:
    """``Boulangerie Dupont SARL``: a name not in ``used`` (added to it)."""
    for _ in range(50):
        name = f"{rng.choice(N.SHOP_PREFIXES)} {rng.choice(N.COMMON_SURNAMES)}"
        form = rng.choice(N.SHOP_LEGAL_FORMS)
        full = f"{name} {form}".strip()
        if full not in used:
            used.add(full)
            return full
    full = f"{rng.choice(N.SHOP_PREFIXES)} {rng.choice(N.COMMON_SURNAMES)} {len(used)}"
    used.add(full)
    return full


def bank_label(rng: random.Random, name: str) -> str:
    """How a bank shows a payer: upper case, no accents, legal form moved or
    abbreviated, sometimes truncated."""
    text = fold_accents(name).upper()
    roll = rng.random()
    if roll < 0.15:
        for form in ("S.A.R.L.", "SARL", "SAS", "SASU", "EURL"):
            if text.endswith(" " + form):
                text = f"{form} {text[: -len(form) - 1]}"
                break
    elif roll < 0.3:
        text = text.replace("S.A.R.L.", "SARL")
    if len(text) > 24 and rng.random() < 0.3:
        text = text[:24]
    return text


def person_name(
    rng: random.Random,
    first_names: tuple[str, ...] = N.FIRST_NAMES,
    surnames: tuple[str, ...] = N.SURNAMES,
) -> str:
    """``Camille Dupont``."""
    return f"{rng.choice(first_names)} {rng.choice(surnames)}"
