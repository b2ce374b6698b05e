"""What the use cases refuse, and why (the review API maps each to an HTTP status)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ServiceError(Exception):
    """A request the service refuses (mapped to an HTTP status by the API)."""

    code = "error"
    status = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(ServiceError):
    code = "not_found"
    status = 404


class Conflict(ServiceError):
    code = "conflict"
    status = 409


class InvalidRequest(ServiceError):
    code = "invalid_request"
    status = 422


class AllocationConflict(Exception):
    """The store's residuals disagree with the decision: refresh and decide again."""

    def __init__(self, invoice_ids: Iterable[str], detail: str = "") -> None:
        super().__init__(detail or "residual moved")
        self.invoice_ids = set(invoice_ids)
        self.detail = detail


class MissingOrganization(ValueError):
    """An event names no organisation and the deployment has no default one: it is
    dead-lettered at once (never guessed, never retried)."""
