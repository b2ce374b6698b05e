"""Valid IBANs for simulated companies (generated and checked with ``schwifty``)."""

from __future__ import annotations

import functools
import random

from schwifty import IBAN

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
