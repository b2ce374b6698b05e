"""Speaking Qonto: the webhook signature format and the API client.

``from qrecon.common.qonto import QontoClient, RateLimiter, ...``; see ``client`` (built
from ``transport``, ``retry``, ``listing``, ``transactions`` and ``resources``), ``auth``,
``token_store``, ``ratelimit``, ``pagination``, ``windows`` and ``errors``.
"""

from qrecon.common.encryption import TokenCipher, TokenDecryptionError
from qrecon.common.qonto.auth import (
    ApiKeyAuth,
    Auth,
    OAuthAuth,
    build_authorize_url,
)
from qrecon.common.qonto.client import QontoClient, RetryPolicy, parse_retry_after
from qrecon.common.qonto.errors import (
    QontoAuthError,
    QontoDecodeError,
    QontoError,
    QontoForbidden,
    QontoNotFound,
    QontoOAuthError,
    QontoRateLimited,
    QontoSandboxLoginPage,
    QontoScopeError,
    QontoServerError,
    QontoTransportError,
    QontoValidationError,
)
from qrecon.common.qonto.fairshare import FairRateLimiter, Priority, request_priority
from qrecon.common.qonto.pagination import Page, PageMeta
from qrecon.common.qonto.ratelimit import RateLimiter
from qrecon.common.qonto.token_store import (
    InMemoryTokenStore,
    OAuthTokens,
    PostgresTokenStore,
    TokenStore,
)
from qrecon.common.qonto.windows import time_windows

__all__ = [
    "ApiKeyAuth",
    "Auth",
    "FairRateLimiter",
    "InMemoryTokenStore",
    "OAuthAuth",
    "OAuthTokens",
    "Page",
    "PageMeta",
    "PostgresTokenStore",
    "Priority",
    "QontoAuthError",
    "QontoClient",
    "QontoDecodeError",
    "QontoError",
    "QontoForbidden",
    "QontoNotFound",
    "QontoOAuthError",
    "QontoRateLimited",
    "QontoSandboxLoginPage",
    "QontoScopeError",
    "QontoServerError",
    "QontoTransportError",
    "QontoValidationError",
    "RateLimiter",
    "RetryPolicy",
    "TokenCipher",
    "TokenDecryptionError",
    "TokenStore",
    "build_authorize_url",
    "parse_retry_after",
    "request_priority",
    "time_windows",
]
