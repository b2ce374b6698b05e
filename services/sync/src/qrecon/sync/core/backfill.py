"""Backfill planning: history walked as ``settled_at`` windows, resumable. No I/O.

A period's transactions are found by ``settled_at`` (filtering history by ``updated_at``
loses every transaction edited since: a note, a category, an attachment). The range
``[since, until]`` is cut into windows (consecutive windows share a millisecond so that
nothing on a boundary is lost, the duplicate is deduplicated by version); each window is a
keyset sweep over ``settled_at`` (see ``core.sweep``). The whole state, window and
cursor, is checkpointed after every page: a killed backfill continues where it stopped.
Transactions still pending (no ``settled_at``) are the gap-fill's business.

Statuses: like the gap-fill, a backfill asks for one status per request (Qonto answers a
multi-status request with one status only): it walks the whole range once per status, in
the order of ``statuses``, each walk a fresh series of windows: ``completed`` first
(``backfill_statuses``), since a history by ``settled_at`` is mostly settled
transactions. ``statuses == ("all",)`` is the old single request for every status
(``SYNC_STATUS_PER_REQUEST=false``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from qrecon.sync.core.sweep import (
    ALL_AT_ONCE,
    MILLISECOND,
    QONTO_EPOCH,
    PageSummary,
    Sweep,
    statuses_of,
    truncate_ms,
)


def backfill_statuses(per_request: bool) -> tuple[str, ...]:
    """The statuses a backfill walks, in order: completed first (what a history by
    ``settled_at`` is about), or every status in one request."""
    return ("completed", "declined", "pending") if per_request else (ALL_AT_ONCE,)


class BackfillRangeError(ValueError):
    """The requested range cannot be asked of Qonto."""


def backfill_range(
    since: date | datetime, until: date | datetime | None, now: datetime
) -> tuple[datetime, datetime, bool]:
    """The effective ``[since, until]`` (aware UTC) and whether ``since`` was clamped.

    Qonto rejects dates before 2017-01-01: an earlier ``since`` is moved there. A date
    ``until`` means the end of that day. ``until`` defaults to now.
    """
    start = _as_instant(since, end_of_day=False)
    clamped = start < QONTO_EPOCH
    start = max(start, QONTO_EPOCH)
    end = truncate_ms(now) if until is None else _as_instant(until, end_of_day=True)
    end = min(end, truncate_ms(now))
    if end <= start:
        raise BackfillRangeError(f"nothing to backfill: {start.isoformat()} >= {end.isoformat()}")
    return start, end, clamped


def _as_instant(value: date | datetime, *, end_of_day: bool) -> datetime:
    if isinstance(value, datetime):
        return truncate_ms(value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if end_of_day:
        return datetime.combine(value, time(23, 59, 59, 999000), tzinfo=UTC)
    return datetime.combine(value, time(0, 0), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Backfill:
    """A backfill of one bank account (persisted after every page)."""

    since: datetime
    until: datetime
    window: timedelta
    sweep: Sweep  # the current window's sweep (of the status ``sweep.status``)
    #: The statuses walked one after the other (the current one is ``sweep.status``).
    statuses: tuple[str, ...] = field(default=(ALL_AT_ONCE,))

    @classmethod
    def begin(
        cls,
        since: datetime,
        until: datetime,
        window: timedelta,
        statuses: tuple[str, ...] = (ALL_AT_ONCE,),
    ) -> Backfill:
        if window <= MILLISECOND:
            raise ValueError("the window must be longer than a millisecond")
        if not statuses:
            raise ValueError("a backfill needs at least one status")
        for status in statuses:
            statuses_of(status)
        end = min(since + window, until)
        sweep = Sweep.begin("settled_at", since, end, status=statuses[0])
        return cls(since, until, window, sweep, tuple(statuses))

    @property
    def _index(self) -> int:
        return self.statuses.index(self.sweep.status) if self.sweep.status in self.statuses else 0

    @property
    def _last_status(self) -> bool:
        return self._index >= len(self.statuses) - 1

    @property
    def done(self) -> bool:
        return self.sweep.done and self.sweep.end >= self.until and self._last_status

    @property
    def covered_until(self) -> datetime:
        return self.sweep.covered_until

    @property
    def progress(self) -> float:
        """Fraction done over every status's walk of the range (0..1)."""
        span = (self.until - self.since).total_seconds()
        if self.done or span <= 0:
            return 1.0
        covered = (self.covered_until - self.since).total_seconds()
        walk = min(1.0, max(0.0, covered / span))
        return (self._index + walk) / len(self.statuses)

    def advance(self, page: PageSummary) -> Backfill:
        """After a page is published: the next state (moves to the next window at its end,
        to the next status's first window at the end of the range)."""
        sweep = self.sweep.advance(page)
        status = sweep.status
        if sweep.done and sweep.end < self.until:
            start = sweep.end - MILLISECOND
            sweep = Sweep.begin(
                "settled_at", start, min(start + self.window, self.until), status=status
            )
        elif sweep.done and not self._last_status:
            status = self.statuses[self._index + 1]
            end = min(self.since + self.window, self.until)
            sweep = Sweep.begin("settled_at", self.since, end, status=status)
        return replace(self, sweep=sweep)

    def extended(self, until: datetime) -> Backfill:
        """A completed open-ended backfill carried on to a later ``until`` (each status
        again, from the former end)."""
        if until <= self.until:
            return self
        start = self.until - MILLISECOND
        sweep = Sweep.begin(
            "settled_at", start, min(start + self.window, until), status=self.statuses[0]
        )
        return replace(self, since=start, until=until, sweep=sweep)
