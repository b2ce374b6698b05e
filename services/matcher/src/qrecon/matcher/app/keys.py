"""Review API keys: one per person and organisation (``qonto-matcher keys``).

A key is ``qmk_<key id>_<secret>``: the key id (12 hex digits, not secret) finds the
stored row; the secret (32 random bytes, URL-safe base64) is never stored, only the
SHA-256 digest of the whole token, compared in constant time (:func:`hmac.compare_digest`).
The secret is shown once, when the key is created. A revoked key is refused like an
unknown one. A key acts for its organisation only, and its name is the ``actor`` of every
decision taken with it; an ``admin`` key may also list the organisations.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from qrecon.matcher.app.errors import InvalidRequest
from qrecon.matcher.app.ports import ApiKeyRecord, KeyStore

PREFIX = "qmk_"
KEY_ID_BYTES = 6
SECRET_BYTES = 32
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls the review API: the organisation it acts for (None: the shared token
    without a default organisation, which may only list organisations), the person's name
    (None: the shared token, whose callers name themselves), and whether it is admin."""

    organization: str | None
    name: str | None
    admin: bool
    key_id: str | None = None

    @property
    def label(self) -> str:
        """What the access log says of the caller (never a secret)."""
        return f"key:{self.key_id}" if self.key_id else "api_token"


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key_id: str
    token: str  # shown once
    organization: str
    name: str
    admin: bool


def digest(token: str | bytes) -> bytes:
    raw = token.encode() if isinstance(token, str) else token
    return hashlib.sha256(raw).digest()


def key_id_of(token: bytes) -> str | None:
    """The key id a token names, or None when it is not shaped like a key."""
    if not token.startswith(PREFIX.encode()):
        return None
    key_id, sep, secret = token[len(PREFIX) :].partition(b"_")
    if not sep or len(key_id) != 2 * KEY_ID_BYTES or not secret:
        return None
    try:
        text = key_id.decode("ascii")
        int(text, 16)
    except ValueError:
        return None
    return text


def is_key(token: bytes) -> bool:
    return token.startswith(PREFIX.encode())


class ApiKeys:
    def __init__(self, store: KeyStore) -> None:
        self.store = store

    async def create(self, organization: str, name: str, *, admin: bool = False) -> CreatedKey:
        organization, name = organization.strip(), name.strip()
        if not organization or len(organization) > 255:
            raise InvalidRequest("an organisation id of 1 to 255 characters is required")
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise InvalidRequest(f"a printable name of 1 to {MAX_NAME} characters is required")
        key_id = secrets.token_hex(KEY_ID_BYTES)
        token = f"{PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
        await self.store.insert_key(key_id, digest(token), organization, name, admin)
        return CreatedKey(key_id, token, organization, name, admin)

    async def revoke(self, key_id: str) -> bool:
        return await self.store.revoke_key(key_id)

    async def list(self, organization: str | None = None) -> list[ApiKeyRecord]:
        return await self.store.list_keys(organization)

    async def authenticate(self, token: bytes) -> Principal | None:
        """The key's principal, or None (unknown, revoked or wrong secret)."""
        key_id = key_id_of(token)
        if key_id is None:
            return None
        record = await self.store.get_key(key_id)
        # Compared even when nothing was found, so that timing says nothing either way.
        expected = record.digest if record is not None else bytes(32)
        if not hmac.compare_digest(digest(token), expected) or record is None:
            return None
        if record.revoked_at is not None:
            return None
        return Principal(record.organization_id, record.name, record.admin, record.key_id)
