"""A controllable clock: real time by default; can be frozen, set, advanced or scaled.

The emulator stamps ``created_at``/``updated_at``, token expiries and webhook envelopes with
this clock, so scenarios can replay a business month in a minute and tests can jump past
a 60 s grace period without sleeping. Rate limits and webhook signature timestamps use the
real wall clock (a receiver checks the signature's age against its own clock).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


def _real_now() -> datetime:
    return datetime.now(UTC)


class Clock:
    """``now() = anchor + (real_now - real_anchor) * speed``; ``speed == 0`` means frozen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._anchor: datetime | None = None  # None: real time
        self._real_anchor = time.monotonic()
        self._speed = 1.0

    def now(self) -> datetime:
        with self._lock:
            if self._anchor is None:
                return _real_now()
            elapsed = (time.monotonic() - self._real_anchor) * self._speed
            return self._anchor + timedelta(seconds=elapsed)

    def timestamp(self) -> float:
        return self.now().timestamp()

    @property
    def speed(self) -> float:
        with self._lock:
            return 1.0 if self._anchor is None else self._speed

    @property
    def is_real(self) -> bool:
        with self._lock:
            return self._anchor is None

    def _set(self, anchor: datetime | None, speed: float) -> None:
        self._anchor = anchor
        self._real_anchor = time.monotonic()
        self._speed = speed

    def set(self, at: datetime, *, speed: float | None = None) -> None:
        """Jump to ``at``; keeps running at the current speed unless ``speed`` is given."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        with self._lock:
            current = 1.0 if self._anchor is None else self._speed  # a real clock runs at speed 1
            self._set(at.astimezone(UTC), current if speed is None else speed)

    def freeze(self, at: datetime | None = None) -> None:
        """Stop the clock (at ``at``, or at the current reading)."""
        at = self.now() if at is None else at
        self.set(at, speed=0.0)

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward (or back, if negative) by ``seconds`` of simulated time."""
        now = self.now()
        with self._lock:
            speed = 1.0 if self._anchor is None else self._speed
            self._set(now + timedelta(seconds=seconds), speed)
        return self.now()

    def scale(self, speed: float) -> None:
        """Run from the current reading at ``speed`` simulated seconds per real second."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        now = self.now()
        with self._lock:
            self._set(now, speed)

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._anchor = None
            self._speed = 1.0

    def describe(self) -> dict[str, object]:
        now = self.now()
        with self._lock:
            mode = "real" if self._anchor is None else ("frozen" if self._speed == 0 else "scaled")
            speed = 1.0 if self._anchor is None else self._speed
        return {"now": format_ts(now), "mode": mode, "speed": speed}


def format_ts(value: datetime) -> str:
    """Qonto's transaction timestamps: UTC, milliseconds, ``Z`` (``2021-03-03T16:06:38.000Z``)."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> datetime:
    """Parse an ISO 8601 timestamp or date (``Z``, offsets, or none = UTC)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
