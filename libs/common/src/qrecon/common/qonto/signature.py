"""Qonto's webhook signature format, shared by the emulator (signs) and ingest (verifies).

``X-Qonto-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is the lowercase hex
HMAC-SHA256, keyed with the subscription secret's raw bytes, of ``"<t>.<raw body>"``.
(docs.qonto.com/api-reference/business-api/webhooks/overview)
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Qonto-Signature"


def compute_signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    message = str(timestamp).encode() + b"." + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"
