"""Fault injection settings (webhooks and API) and the per-address rate limiter."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Faults:
    """What goes wrong, on demand. Fractions are probabilities in ``[0, 1]``.

    Webhooks: ``drop`` (never sent; recorded in the ground truth), ``duplicate`` (sent
    twice), ``reorder`` (held back until a later event of the same subscription has gone),
    ``delay_ms`` (extra delay before the first attempt, uniformly up to this), ``silent``
    (a change that sends no webhook at all, as Qonto sometimes does).
    API: ``error_rate`` (a 500/502/503 instead of the answer), ``slow_ms`` (each API answer
    is delayed), ``rate_limit_rate`` (a 429 regardless of counters), ``storm_seconds`` (every
    API request answers 429 for that long, starting when set), ``lost_answer_rate`` (the
    request is processed, then its answer is lost: the connection closes after the status
    line) and ``lose_answers`` (the next N API answers are lost that way; counts down).
    """

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay_ms: int = 0
    silent: float = 0.0
    error_rate: float = 0.0
    slow_ms: int = 0
    rate_limit_rate: float = 0.0
    storm_seconds: float = 0.0
    lost_answer_rate: float = 0.0
    lose_answers: int = 0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, **changes: Any) -> Faults:
        known = {f.name: f for f in fields(self)}
        values = self.to_dict()
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}")
            if value is None:
                continue
            current = values[key]
            values[key] = type(current)(value)
        result = Faults(**values)
        for name in (
            "drop",
            "duplicate",
            "reorder",
            "silent",
            "error_rate",
            "rate_limit_rate",
            "lost_answer_rate",
        ):
            value = getattr(result, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        for name in ("delay_ms", "slow_ms", "storm_seconds", "lose_answers"):
            if getattr(result, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        return result


@dataclass
class RateLimits:
    """Qonto's documented limits, per client address: 1,000 per 10 s and 10,000 per 10 min."""

    windows: list[tuple[int, float]] = field(default_factory=lambda: [(1000, 10.0), (10000, 600.0)])
    retry_after: int | None = None  # seconds; Qonto documents no Retry-After
    unauthorized_limit: int = 200  # more 401s than this within an hour -> throttled
    enabled: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "windows": [{"limit": limit, "seconds": seconds} for limit, seconds in self.windows],
            "retry_after": self.retry_after,
            "unauthorized_limit": self.unauthorized_limit,
            "enabled": self.enabled,
        }


class RateLimiter:
    """Sliding-window counters per client address (real monotonic time)."""

    def __init__(self, limits: RateLimits | None = None) -> None:
        self.limits = limits or RateLimits()
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, int], deque[float]] = {}
        self._unauthorized: dict[str, deque[float]] = {}

    def configure(self, limits: RateLimits) -> None:
        with self._lock:
            self.limits = limits
            self._hits.clear()
            self._unauthorized.clear()

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
            self._unauthorized.clear()

    def hit(self, address: str) -> bool:
        """Count a request; ``False`` when the address is over a limit (answer 429)."""
        if not self.limits.enabled:
            return True
        now = time.monotonic()
        with self._lock:
            throttled = self._unauthorized.get(address)
            if throttled is not None:
                while throttled and throttled[0] <= now - 3600.0:
                    throttled.popleft()
                if len(throttled) > self.limits.unauthorized_limit:
                    return False
            allowed = True
            for index, (limit, seconds) in enumerate(self.limits.windows):
                hits = self._hits.setdefault((address, index), deque())
                while hits and hits[0] <= now - seconds:
                    hits.popleft()
                if len(hits) >= limit:
                    allowed = False
            if allowed:
                for index in range(len(self.limits.windows)):
                    self._hits[(address, index)].append(now)
            return allowed

    def unauthorized(self, address: str) -> None:
        """Count a 401 answered to ``address``."""
        with self._lock:
            self._unauthorized.setdefault(address, deque()).append(time.monotonic())
