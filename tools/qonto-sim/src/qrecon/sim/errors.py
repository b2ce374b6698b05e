"""Errors the simulator raises; the HTTP layer turns them into Qonto's error body."""

from __future__ import annotations


class SimError(Exception):
    """An error with an HTTP status and a Qonto error code."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        parameter: str | None = None,
        pointer: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.parameter = parameter
        self.pointer = pointer
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class NotFound(SimError):
    status = 404
    code = "not_found"


class Unprocessable(SimError):
    status = 422
    code = "unprocessable_entity"


class Unauthorized(SimError):
    status = 401
    code = "unauthorized"


class Forbidden(SimError):
    status = 403
    code = "forbidden"


class OAuthError(Exception):
    """An RFC 6749 token-endpoint error (``{"error", "error_description"}``)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
