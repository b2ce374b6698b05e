"""What the review API checks before any route reads a byte of the body.

1. The bearer token of every ``/v1`` request, from the header alone: an anonymous client
   gets its 401 without the server reading (or parsing) what it sent.
2. The body size: ``Content-Length`` over the limit is a 413 before reading; a chunked
   body is read up to the limit and refused (413) as soon as it passes it. The body is
   then replayed to the app, so at most ``max_body_bytes`` is ever held per request.

The connection is not closed after such an early answer: closing a socket with unread
data makes the kernel reset it, which can discard the answer before the client reads it.
The server (uvicorn's httptools protocol) discards the rest of the body as it arrives,
holding none of it; how long a client may keep sending is the slow-client timeouts' job.

Lists and strings inside a body are bounded by the request models (``http.py``).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qrecon.matcher.adapters.access_log import ACTOR, AUTH_FAILURE
from qrecon.matcher.adapters.http_errors import ApiError, error_json
from qrecon.matcher.app.keys import ApiKeys, Principal, is_key

PROTECTED_PREFIX = "/v1/"
# Where the guard leaves who called (scope["state"]), for the routes.
PRINCIPAL = "principal"
Authenticate = Callable[[bytes | None], Awaitable[Principal]]
DEFAULT_MAX_BODY_BYTES = 1 << 20  # a decision body is a few kB; 100 allocations ~ 10 kB


def check_bearer(api_token: SecretStr | None, authorization: bytes | None) -> None:
    """Raise :class:`ApiError` unless ``authorization`` is ``Bearer <the token>``."""
    if api_token is None or not api_token.get_secret_value():
        raise ApiError(
            503, "api_token_not_configured", "set MATCHER_API_TOKEN to use the review API"
        )
    scheme, _, credentials = (authorization or b"").strip().partition(b" ")
    if scheme.lower() != b"bearer" or not credentials.strip():
        raise ApiError(401, "unauthorized", "a bearer token is required")
    # constant time: the comparison must not tell how much of a guess was right
    if not hmac.compare_digest(credentials.strip(), api_token.get_secret_value().encode()):
        raise ApiError(401, "unauthorized", "wrong token")


def authenticator(
    api_token: SecretStr | None,
    keys: ApiKeys | None = None,
    default_organization: str | None = None,
) -> Authenticate:
    """Who a bearer token is: a per-person key (``qmk_...``, its organisation and name), or
    the shared ``MATCHER_API_TOKEN`` (admin, acting for the default organisation)."""

    async def authenticate(authorization: bytes | None) -> Principal:
        scheme, _, credentials = (authorization or b"").strip().partition(b" ")
        token = credentials.strip()
        if keys is not None and scheme.lower() == b"bearer" and is_key(token):
            principal = await keys.authenticate(token)
            if principal is None:
                raise ApiError(401, "unauthorized", "wrong token")
            return principal
        check_bearer(api_token, authorization)
        return Principal(default_organization, None, admin=True)

    return authenticate


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class RequestGuard:
    """Pure ASGI middleware: token first, then a capped, replayed body."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_token: SecretStr | None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        authenticate: Authenticate | None = None,
    ) -> None:
        self.app = app
        self.api_token = api_token
        self.authenticate = authenticate or authenticator(api_token)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        # Read back by the access log (access_log.py): who called, or why they were refused.
        state = scope.setdefault("state", {})
        try:
            if _route_path(scope).startswith(PROTECTED_PREFIX):
                authorization = headers.get(b"authorization")
                state[AUTH_FAILURE] = _failure_reason(authorization)
                principal = await self.authenticate(authorization)
                del state[AUTH_FAILURE]
                state[PRINCIPAL] = principal
                state[ACTOR] = principal.label
            declared = headers.get(b"content-length")
            if declared is not None and (
                not declared.isdigit()
                or len(declared) > 18  # int() of thousands of digits is refused, or slow
                or int(declared) > self.max_body_bytes
            ):
                raise _TooLarge
            body = await self._read(receive)
        except ApiError as exc:
            auth = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            response = error_json(exc.status, exc.code, exc.detail, auth, **exc.extra)
            await response(scope, receive, send)
            return
        except _TooLarge:
            limit = self.max_body_bytes
            response = error_json(413, "payload_too_large", f"body exceeds {limit} bytes")
            await response(scope, receive, send)
            return
        except _Disconnected:
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _failure_reason(authorization: bytes | None) -> str:
    """``missing`` (no bearer credentials at all) or ``invalid`` (a wrong token), should
    :func:`check_bearer` refuse them: the access log's label, never the value."""
    scheme, _, credentials = (authorization or b"").strip().partition(b" ")
    return "invalid" if scheme.lower() == b"bearer" and credentials.strip() else "missing"


def _route_path(scope: Scope) -> str:
    """The path routes match (behind a proxy, ``root_path`` prefixes ``path``)."""
    path, root = str(scope["path"]), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replayed
