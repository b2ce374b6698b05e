"""Overlapping time windows for paging through large ranges.

Qonto's pages are offsets, not cursors: a list can shift while it is paged through (a
transaction updated meanwhile moves), so a long range is read as a sequence of smaller
windows that overlap; the overlap catches what moved across a boundary, and the caller
deduplicates (a transaction's version is its ``updated_at``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta


def time_windows(
    start: datetime, end: datetime, *, size: timedelta, overlap: timedelta
) -> Iterator[tuple[datetime, datetime]]:
    """``[start, end]`` cut into windows of ``size``, each starting ``overlap`` before the
    previous one ended. The first starts at ``start``, the last ends exactly at ``end``;
    nothing is yielded when ``start >= end``.

    >>> from datetime import UTC
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> [(a.day, b.day) for a, b in time_windows(
    ...     t, t + timedelta(days=5), size=timedelta(days=2), overlap=timedelta(days=1))]
    [(1, 3), (2, 4), (3, 5)]
    """
    if size <= timedelta(0):
        raise ValueError("size must be positive")
    if overlap < timedelta(0) or overlap >= size:
        raise ValueError("overlap must be >= 0 and smaller than size")
    if (start.tzinfo is None) != (end.tzinfo is None):
        raise ValueError("start and end must both be aware (or both naive)")
    lower = start
    while lower < end:
        upper = min(lower + size, end)
        yield lower, upper
        if upper >= end:
            return
        lower = upper - overlap


__all__ = ["time_windows"]
