"""Encryption at rest of the secrets kept in PostgreSQL: the Qonto OAuth tokens.

A Qonto refresh token reads an organisation's bank account for 90 days, and rotates
itself: whoever reads it from a database dump or a backup holds the account until the
next rotation. With ``QONTO_TOKEN_ENCRYPTION_KEYS`` set, the ``PostgresTokenStore``
(:mod:`qrecon.common.qonto.token_store`) stores the access, refresh and id tokens as
Fernet tokens (AES-128-CBC + HMAC-SHA256, from the ``cryptography`` library), so the
database alone is not enough.

Keys: comma-separated Fernet keys (``Fernet.generate_key()``: 32 random bytes, urlsafe
base64). The **first** encrypts; **every** key decrypts, so a key is rotated by putting the
new one first and keeping the old one until every row was saved again (a token is saved
at every refresh, hourly). Stored values carry a prefix (:data:`PREFIX`), so the store
tells ciphertext from the plaintext rows written before encryption was turned on: those
are still read, and encrypted on their next save.

Without keys, tokens are stored in clear (development, the demo) and the services warn
at startup.
"""

from __future__ import annotations

import binascii
from base64 import urlsafe_b64decode

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"


class TokenDecryptionError(RuntimeError):
    """A stored token cannot be decrypted with the configured keys (or none is configured)."""


def parse_keys(text: str) -> list[bytes]:
    """Comma-separated Fernet keys; raises ValueError naming what is wrong (never the key)."""
    keys: list[bytes] = []
    for position, raw in enumerate((part.strip() for part in text.split(",")), start=1):
        if not raw:
            continue
        try:
            decoded = urlsafe_b64decode(raw.encode())
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) != 32:
            raise ValueError(
                f"QONTO_TOKEN_ENCRYPTION_KEYS: key {position} is not a Fernet key "
                "(32 bytes, urlsafe base64; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            )
        keys.append(raw.encode())
    if not keys:
        raise ValueError("QONTO_TOKEN_ENCRYPTION_KEYS: no key given")
    return keys


class TokenCipher:
    """Encrypts with the first key, decrypts with any (``MultiFernet``)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("a TokenCipher needs at least one key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_setting(cls, text: str) -> TokenCipher:
        return cls(parse_keys(text))

    def encrypt(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str, *, what: str = "token") -> str:
        """The plaintext of a stored value; plaintext (legacy) values are returned as is."""
        if not is_encrypted(stored):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise TokenDecryptionError(
                f"no key in QONTO_TOKEN_ENCRYPTION_KEYS decrypts the stored {what} (was the "
                "key that encrypted it removed before every token was saved again?)"
            ) from exc


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def reveal(stored: str, cipher: TokenCipher | None, *, what: str = "token") -> str:
    """Decrypt a stored value; an encrypted one without a cipher is a configuration error."""
    if cipher is not None:
        return cipher.decrypt(stored, what=what)
    if is_encrypted(stored):
        raise TokenDecryptionError(
            f"the stored {what} is encrypted: set QONTO_TOKEN_ENCRYPTION_KEYS to its key"
        )
    return stored


def conceal(plaintext: str, cipher: TokenCipher | None) -> str:
    return plaintext if cipher is None else cipher.encrypt(plaintext)


__all__ = [
    "PREFIX",
    "TokenCipher",
    "TokenDecryptionError",
    "conceal",
    "is_encrypted",
    "parse_keys",
    "reveal",
]
