"""How the client retries: ``RetryPolicy`` (attempts, full-jitter backoff, a total budget)
and ``parse_retry_after`` (``Retry-After`` as seconds or an HTTP date)."""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["RetryPolicy", "parse_retry_after"]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry transient failures (429, 5xx, timeouts, connection errors).

    The n-th retry waits ``Retry-After`` when the answer had one, else a *full jitter*
    delay, uniform in ``[0, min(max_delay, base_delay * 2**(n-1))]``. It gives up after
    ``max_attempts`` attempts in all, or when the next wait would take the sum of waits
    past ``max_total_delay`` (a ``Retry-After`` beyond that budget raises at once, with
    ``error.retry_after`` set, so a scheduler can come back later).
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_delay: float = 90.0
    retry_server_errors: bool = True
    retry_rate_limited: bool = True
    retry_transport_errors: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_delay < 0:
            raise ValueError("delays must be >= 0")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Full-jitter delay before retry number ``retry_number`` (1 for the first)."""
        cap = self.backoff_cap(retry_number)
        return float((rng or random).uniform(0.0, cap))

    def backoff_cap(self, retry_number: int) -> float:
        exponent: int = min(max(retry_number - 1, 0), 62)
        return min(self.max_delay, self.base_delay * float(1 << exponent))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), ``None`` if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN/inf
        return None
    return max(0.0, seconds)
