"""Verification of Qonto's webhook signature (pure: no clock, no I/O).

``X-Qonto-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is the lowercase hex
HMAC-SHA256, keyed with the subscription secret's raw bytes, of ``"<t>.<raw body>"``
(docs.qonto.com/api-reference/business-api/webhooks/overview). The header is built by
:func:`qrecon.common.qonto.signature.signature_header`; this module checks one.

* The raw body bytes are verified as received, never re-serialised.
* Comparison is constant-time (:func:`hmac.compare_digest`), against every secret of the
  connection (several are valid at once while a secret rotates) and every ``v1`` value of
  the header (a sender may sign with several secrets at once). Unknown schemes (``v0``,
  ``v2``...) are ignored, as Stripe-style receivers do.
* The timestamp must lie within ``tolerance`` seconds of now, in the past **or the future**
  (a far-future timestamp would otherwise make a captured request replayable for ever).
  It is checked before the HMAC, so stale replays cost nothing.
* Every failure is a :class:`SignatureError` carrying a machine-readable ``code``; nothing
  else escapes, whatever the header holds.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_TOLERANCE_SECONDS = 300.0

# Bounds that keep a hostile header cheap to reject.
MAX_HEADER_LENGTH = 4096
MAX_SIGNATURES = 16
_MAX_TIMESTAMP_DIGITS = 12  # up to the year 33658
_HEX = frozenset("0123456789abcdef")


class SignatureError(Exception):
    """The request is not authentic. ``code`` is one of the constants below."""

    MISSING = "missing_signature"
    MALFORMED = "malformed_signature"
    STALE = "stale_timestamp"
    MISMATCH = "invalid_signature"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]  # the ``v1`` values, lowercase hex


def parse_signature_header(value: str | None) -> SignatureHeader:
    """Parse ``t=…,v1=…[,v1=…]``; items may carry spaces around them, in any order."""
    if value is None or not value.strip():
        raise SignatureError(SignatureError.MISSING, "X-Qonto-Signature header is missing")
    if len(value) > MAX_HEADER_LENGTH:
        raise SignatureError(SignatureError.MALFORMED, "X-Qonto-Signature header is too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in value.split(","):
        name, sep, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name:
            raise SignatureError(SignatureError.MALFORMED, "expected t=<seconds>,v1=<hex>")
        if name == "t":
            if timestamp is not None:
                raise SignatureError(SignatureError.MALFORMED, "more than one timestamp")
            if not (raw.isascii() and raw.isdigit()) or len(raw) > _MAX_TIMESTAMP_DIGITS:
                raise SignatureError(SignatureError.MALFORMED, "timestamp is not unix seconds")
            timestamp = int(raw)
        elif name == "v1":
            hexdigest = raw.lower()
            if len(hexdigest) != 64 or not _HEX.issuperset(hexdigest):
                raise SignatureError(SignatureError.MALFORMED, "v1 is not a SHA-256 hex digest")
            signatures.append(hexdigest)
            if len(signatures) > MAX_SIGNATURES:
                raise SignatureError(SignatureError.MALFORMED, "too many v1 signatures")
        # other schemes are ignored
    if timestamp is None:
        raise SignatureError(SignatureError.MALFORMED, "no timestamp (t=)")
    if not signatures:
        raise SignatureError(SignatureError.MALFORMED, "no v1 signature")
    return SignatureHeader(timestamp, tuple(signatures))


def check_timestamp(header: SignatureHeader, *, now: float, tolerance: float) -> None:
    if not abs(now - header.timestamp) <= tolerance:  # also refuses a NaN clock
        raise SignatureError(
            SignatureError.STALE,
            f"timestamp is more than {tolerance:g} s away from the receiver's clock",
        )


def check_signature(header: SignatureHeader, body: bytes, secrets: Sequence[bytes]) -> None:
    """Constant-time check of every (secret, v1) pair; passes if one pair matches."""
    message = str(header.timestamp).encode() + b"." + body
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
        for candidate in header.signatures:
            # no early exit: the time taken does not depend on which pair matched
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError(SignatureError.MISMATCH, "signature does not match the body")


def verify(
    header_value: str | None,
    body: bytes,
    secrets: Sequence[bytes],
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> SignatureHeader:
    """Parse, check freshness, then check the HMAC. Raises :class:`SignatureError`."""
    header = parse_signature_header(header_value)
    check_timestamp(header, now=now, tolerance=tolerance)
    check_signature(header, body, secrets)
    return header
