"""Passwords (argon2id, argon2-cffi), the session cookie and the CSRF check of the desk."""

from __future__ import annotations

import hmac
import ipaddress

from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "desk_session"
LOGIN_CSRF_COOKIE = "desk_login_csrf"
LANG_COOKIE = "desk_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class Argon2Hasher:
    """:class:`qrecon.matcher.app.desk_ports.PasswordHasher` with argon2-cffi's defaults
    (argon2id, RFC 9106 low-memory profile)."""

    def __init__(self, hasher: Argon2 | None = None) -> None:
        self._hasher = hasher or Argon2()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def is_loopback(request: Request) -> bool:
    host = (request.url.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None
) -> None:
    """HttpOnly, SameSite=Lax, and Secure everywhere but on a loopback address."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/desk",
        httponly=True,
        samesite="lax",
        secure=not is_loopback(request),
    )


def same_token(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
