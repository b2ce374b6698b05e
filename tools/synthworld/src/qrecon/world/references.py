"""Payment references as payers write them: ISO 11649 ``RF`` creditor references,
invoice numbers rewritten (compacted, lower-cased, re-separated, wrapped in words) and
mistyped.

Each function draws from ``rng`` in a fixed order (the worlds built on them are seeded).
"""

from __future__ import annotations

import random

from stdnum.iso7064 import mod_97_10

# how a payer wraps an invoice number in a transfer's reference
NUMBER_WRAPPERS = (
    "Facture n° {}",
    "FACTURE {}",
    "REGLEMENT {}",
    "Fact. {}",
    "VIR {}",
    "{}",
    "{}",
    "Paiement facture {}",
    "N°{}",
    "REF {}",
    "Règlement de la facture {}",
)


def rf_reference(body: str) -> str:
    """An ISO 11649 structured creditor reference: ``RF`` + check digits + ``body``
    (upper-cased, letters and digits only, at most 21 characters)."""
    body = "".join(c for c in body.upper() if c.isalnum())[:21]
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def spaced_in_fours(reference: str) -> str:
    """``RF18539007547034`` -> ``RF18 5390 0754 7034`` (how an RF reference is printed)."""
    return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))


def digit_groups(number: str) -> list[str]:
    """The runs of digits of ``number``: ``FAC-2025-0042`` -> ``["2025", "0042"]``."""
    return "".join(ch if ch.isdigit() else " " for ch in number).split()


def messy_number(rng: random.Random, number: str) -> str:
    """``number`` as a payer types it: compacted, lower case, other separators, a leading
    zero added or lost, digits only..., then often wrapped in words (``Facture n° ...``)."""
    text = number
    roll = rng.random()
    groups = digit_groups(number)
    prefix = "".join(ch for ch in number.split("-")[0] if ch.isalpha())
    if roll < 0.18:
        compact = "".join(ch for ch in number if ch.isalnum())
        if len(groups) > 1 and rng.random() < 0.6:
            compact = prefix + groups[0] + "".join(g.lstrip("0") or "0" for g in groups[1:])
        text = compact
    elif roll < 0.32:
        text = number.lower()
    elif roll < 0.46:
        text = number.replace("-", rng.choice((" ", "/", ".", "_", " - ")))
    elif roll < 0.58 and len(groups) > 1:
        text = number.replace(groups[-1], "0" + groups[-1], 1)
    elif roll < 0.72 and len(groups) > 1:
        text = "-".join([groups[0], *(g.lstrip("0") or "0" for g in groups[1:])])
    elif roll < 0.82:
        text = "".join(groups)
    else:
        text = number.replace("-", "")
    return rng.choice(NUMBER_WRAPPERS).format(text)


def digit_typo(rng: random.Random, text: str) -> str:
    """One typing mistake on a digit of ``text``: two neighbours swapped, one replaced,
    dropped or doubled (``text`` unchanged if it has fewer than two digits)."""
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    if len(positions) < 2:
        return text
    for _ in range(10):
        kind = rng.random()
        i = rng.choice(positions)
        if kind < 0.4:
            j = i + 1
            if j < len(text) and text[j].isdigit() and text[j] != text[i]:
                return text[:i] + text[j] + text[i] + text[j + 1 :]
        elif kind < 0.75:
            new = rng.choice([d for d in "0123456789" if d != text[i]])
            return text[:i] + new + text[i + 1 :]
        elif kind < 0.9:
            return text[:i] + text[i + 1 :]
        else:
            return text[:i] + text[i] + text[i:]
    return text


def messy_fac_reference(rng: random.Random, number: str, label: str) -> str:
    """A free-text reference around a ``FAC-YYYY-NNNN`` number (``label``: the payer as
    its bank writes it)."""
    _, year, seq = number.split("-")
    short = str(int(seq))
    templates = (
        f"VIR SEPA {label} REGLEMENT FAC{year}{short}",
        f"Facture n° {short}",
        f"FACT {seq}",
        f"REGLEMENT FACTURE FAC {year} {seq}",
        f"fac-{year}-{short}",
        f"Paiement facture {number} merci",
        f"{label[:12]} FAC{year}{seq}",
        f"/INV/{number}",
        f"Facture {number.replace('-', '')}",
        f"Rglt fact. {short} du {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}",
    )
    return rng.choice(templates)


def fac_typo(rng: random.Random, number: str) -> str:
    """A ``FAC-YYYY-NNNN`` number mistyped: last digits swapped, a zero typed as the letter
    O, year digits swapped, or dashes lost and a digit dropped."""
    _, year, seq = number.split("-")
    kind = rng.randrange(4)
    if kind == 0 and seq[-2] != seq[-1]:  # swap the last two digits
        seq = seq[:-2] + seq[-1] + seq[-2]
    elif kind == 1:  # a zero read as the letter O
        seq = seq.replace("0", "O", 1) if "0" in seq else seq + "O"
    elif kind == 2:  # year digits swapped
        year = year[:2] + year[3] + year[2]
    else:  # dashes lost and a digit dropped
        return f"FAC{year}{seq[1:]}"
    return f"FAC-{year}-{seq}"
