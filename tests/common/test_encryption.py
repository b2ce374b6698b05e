"""Encryption at rest of the OAuth tokens: Fernet keys, rotation, legacy plaintext."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from qrecon.common.encryption import (
    PREFIX,
    TokenCipher,
    TokenDecryptionError,
    conceal,
    parse_keys,
    reveal,
)
from qrecon.common.settings import QontoSettings

OLD, NEW = Fernet.generate_key(), Fernet.generate_key()


def test_round_trip_is_prefixed_ciphertext() -> None:
    cipher = TokenCipher([NEW])
    stored = cipher.encrypt("rt-secret")
    assert stored.startswith(PREFIX)
    assert "rt-secret" not in stored
    assert cipher.encrypt("rt-secret") != stored  # a fresh IV every time
    assert cipher.decrypt(stored) == "rt-secret"


def test_rotation_new_key_first_old_key_still_decrypts() -> None:
    before = TokenCipher([OLD]).encrypt("rt-1")
    rotated = TokenCipher([NEW, OLD])
    assert rotated.decrypt(before) == "rt-1"
    after = rotated.encrypt("rt-2")
    assert TokenCipher([NEW]).decrypt(after) == "rt-2"  # written with the first key
    with pytest.raises(TokenDecryptionError):
        TokenCipher([OLD]).decrypt(after)


def test_a_removed_key_is_a_clear_error_without_the_secret() -> None:
    stored = TokenCipher([OLD]).encrypt("rt-1")
    with pytest.raises(TokenDecryptionError, match="no key") as caught:
        TokenCipher([NEW]).decrypt(stored, what="refresh_token of acme")
    assert "refresh_token of acme" in str(caught.value)
    assert OLD.decode() not in str(caught.value)
    assert NEW.decode() not in str(caught.value)


def test_plaintext_written_before_encryption_is_read_as_is() -> None:
    assert TokenCipher([NEW]).decrypt("rt-legacy") == "rt-legacy"
    assert reveal("rt-legacy", None) == "rt-legacy"
    assert conceal("rt", None) == "rt"


def test_encrypted_value_without_keys_is_a_configuration_error() -> None:
    stored = conceal("rt", TokenCipher([NEW]))
    with pytest.raises(TokenDecryptionError, match="QONTO_TOKEN_ENCRYPTION_KEYS"):
        reveal(stored, None)


@pytest.mark.parametrize("text", ["", " , ", "not-a-key", "c2hvcnQ=", f"{NEW.decode()},oops"])
def test_malformed_keys_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(ValueError, match="QONTO_TOKEN_ENCRYPTION_KEYS") as caught:
        parse_keys(text)
    for part in text.split(","):
        if part.strip():
            assert part.strip() not in str(caught.value)


def test_settings_build_the_cipher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # no .env file
    monkeypatch.delenv("QONTO_TOKEN_ENCRYPTION_KEYS", raising=False)
    assert QontoSettings().token_cipher() is None
    monkeypatch.setenv("QONTO_TOKEN_ENCRYPTION_KEYS", f" {NEW.decode()} , {OLD.decode()} ")
    cipher = QontoSettings().token_cipher()
    assert cipher is not None
    assert TokenCipher([NEW]).decrypt(cipher.encrypt("x")) == "x"
    monkeypatch.setenv("QONTO_TOKEN_ENCRYPTION_KEYS", "oops")
    with pytest.raises(ValueError, match="key 1 is not a Fernet key"):
        QontoSettings().token_cipher()
