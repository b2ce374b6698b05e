"""Valid IBANs for simulated parties, and the BIC of an IBAN (``schwifty``, ``stdnum``).

Two styles, both valid (ISO 13616 check digits):

- ``french_iban`` / ``qonto_iban`` / ``foreign_iban``: real bank codes (a French one has a
  correct RIB key), so that a BIC lookup works (the emulator's accounts and parties);
- ``random_iban``: any bank, any country of ``IBAN_LENGTHS`` (the evaluation's parties).
"""

from __future__ import annotations

import functools
import random

from schwifty import IBAN
from stdnum.iso7064 import mod_97_10

# Real French bank codes, so that the BIC lookup works: (bank code, BIC).
FRENCH_BANKS = (
    ("30004", "BNPAFRPP"),  # BNP Paribas
    ("30003", "SOGEFRPP"),  # Société Générale
    ("30002", "CRLYFRPP"),  # LCL
    ("10278", "CMCIFR2A"),  # Crédit Mutuel
    ("30066", "CMCIFRPP"),  # CIC
    ("20041", "PSSTFRPP"),  # La Banque Postale
    ("16958", "QNTOFRP1"),  # Qonto
    ("10107", "BREDFRPP"),  # BRED
)
QONTO_BANK_CODE = "16958"
# BBAN length by country (``random_iban``); GB and NL start with four letters (the bank)
IBAN_LENGTHS = {"FR": 23, "DE": 18, "GB": 18, "BE": 12, "NL": 14, "ES": 20}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


def french_iban(rng: random.Random, bank_code: str | None = None) -> str:
    """A valid ``FR76...`` IBAN (with a correct RIB key) at a real French bank."""
    code = bank_code or rng.choice(FRENCH_BANKS)[0]
    iban = IBAN.generate(
        "FR", bank_code=code, branch_code=_digits(rng, 5), account_code=_digits(rng, 11)
    )
    return str(iban.compact)


def qonto_iban(rng: random.Random) -> str:
    return french_iban(rng, QONTO_BANK_CODE)


def foreign_iban(rng: random.Random) -> str:
    """A valid German, Belgian or Spanish IBAN (some customers pay from abroad)."""
    country = rng.choice(("DE", "BE", "ES"))
    if country == "DE":
        iban = IBAN.generate("DE", bank_code="37040044", account_code=_digits(rng, 10))
    elif country == "BE":
        iban = IBAN.generate("BE", bank_code="539", account_code=_digits(rng, 7))
    else:
        iban = IBAN.generate(
            "ES", bank_code="2100", branch_code="0418", account_code=_digits(rng, 10)
        )
    return str(iban.compact)


def random_iban(rng: random.Random, country: str) -> str:
    """An IBAN with valid check digits and a random BBAN (no bank registry behind it)."""
    n = IBAN_LENGTHS.get(country, 23)
    if country in ("GB", "NL"):
        bban = "".join(rng.choice(_LETTERS) for _ in range(4))
        bban += "".join(rng.choice(_DIGITS) for _ in range(n - 4))
    else:
        bban = "".join(rng.choice(_DIGITS) for _ in range(n))
    return f"{country}{mod_97_10.calc_check_digits(bban + country)}{bban}"


@functools.lru_cache(maxsize=4096)
def bic_of(iban: str) -> str | None:
    bic = IBAN(iban).bic
    return str(bic) if bic is not None else None


def is_valid_iban(value: str) -> bool:
    try:
        IBAN(value)
    except ValueError:
        return False
    return True
