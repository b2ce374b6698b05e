"""The sweep planner: which page to ask Qonto for next, and how far the watermark may move.

No I/O here. A *sweep* reads every transaction whose ``field`` (``updated_at`` for the
continuous gap-fill, ``settled_at`` for a backfill) lies in ``[start, end]``, sorted
ascending on that field, and is driven by the pages it is given.

Qonto pages are offsets, not cursors: when a transaction already read is updated while we
page, it leaves the window and everything after it shifts one slot towards the start, so
plain offset paging silently skips the first item of the next page. A sweep therefore
pages by **keyset**: every request is page 1 of ``[cursor - margin, end]`` where
``cursor`` is the largest value read so far. A shift can no longer skip anything, since
each request starts again from what was really read. The items equal to the cursor are
read again (the margin makes the lower bound inclusive whatever Qonto's semantics and
rounding); they are deduplicated by version.

**Ties**: when a whole page holds values equal to the cursor (more transactions share one
``updated_at`` than fit in a page, e.g. a bulk update), keyset cannot move; the sweep then
pages by offset *inside* that tie group, remembering the ``total_count`` it saw. When the
total shrinks by ``d`` while paging the group, up to ``d`` unread items may have shifted
to offsets already passed: the sweep steps back ``ceil(d / per_page)`` pages (a growth
only pushes items forward, which re-reads, never skips). Items that leave the window
never come back into it, so this terminates; a guard gives up (without advancing) if the
group still has not settled after many step-backs, and the next cycle retries.

**Upper bound**: ``end`` is fixed when the sweep starts (``now - settle_delay``). A
transaction updated while we page gets an ``updated_at`` after ``end``: it leaves the
window, and its new version is read by the next sweep. What commits late with an older
``updated_at`` is caught by the overlap (the next sweep starts ``overlap`` before this
one's end).

**Statuses**: Qonto's ``status[]`` takes a list, but Qonto answers a multi-status request
with one status only (Formance's production connector, see docs/qonto-api.md). Every sweep
therefore asks for one ``status`` (``pending``, ``declined`` or ``completed``) and each
(connection, account, status) has its own watermark and checkpoint: a transaction moving
from pending to completed leaves the pending sweep's results and enters the completed
one's, with a new ``updated_at`` above both watermarks. The status ``"all"``
(``ALL_AT_ONCE``) is the old single request listing the three statuses, kept behind
``SYNC_STATUS_PER_REQUEST=false`` for an API that honours them all.

**Invariant** (what makes the watermark safe): every version whose ``field`` lies in
``[start, cursor)`` and that was visible when its page was read has been handled. When
the sweep completes, the watermark becomes ``end``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

SweepField = Literal["updated_at", "settled_at"]

#: The statuses of a transaction, each polled by its own sweep (Qonto's default is
#: ``completed`` only, so pending -> completed transitions need all three).
TRANSACTION_STATUSES: tuple[str, ...] = ("pending", "declined", "completed")
#: The status key of a sweep that asks for every status in one request (legacy mode).
ALL_AT_ONCE = "all"


def status_keys(per_request: bool) -> tuple[str, ...]:
    """The sweeps each account needs: one per status (``per_request``), each with its own
    watermark, or a single one asking for every status at once."""
    return TRANSACTION_STATUSES if per_request else (ALL_AT_ONCE,)


def statuses_of(key: str) -> tuple[str, ...]:
    """The ``status[]`` values a sweep keyed ``key`` asks for."""
    if key == ALL_AT_ONCE:
        return TRANSACTION_STATUSES
    if key not in TRANSACTION_STATUSES:
        raise ValueError(f"unknown transaction status {key!r}")
    return (key,)


#: Qonto rejects dates before this one (the Formance connector starts there too).
QONTO_EPOCH = datetime(2017, 1, 1, tzinfo=UTC)
#: Qonto's timestamps have millisecond precision.
MILLISECOND = timedelta(milliseconds=1)
#: How far below the cursor each keyset request starts.
KEYSET_MARGIN = MILLISECOND
#: How many times paging inside a tie group may step back before the sweep gives up.
MAX_TIE_RESTARTS = 1000


class SweepUnstable(RuntimeError):
    """A tie group kept changing while it was paged; retry the sweep later."""


def truncate_ms(value: datetime) -> datetime:
    """Drop sub-millisecond digits (Qonto's precision), keeping the timezone."""
    return value.replace(microsecond=(value.microsecond // 1000) * 1000)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One request of ``GET /v2/transactions`` (the filters of the field swept)."""

    field: SweepField
    lower: datetime
    upper: datetime
    page: int
    per_page: int
    statuses: tuple[str, ...] = TRANSACTION_STATUSES

    @property
    def sort_by(self) -> str:
        return f"{self.field}:asc"

    def filters(self) -> dict[str, datetime | str | list[str]]:
        """Keyword filters for ``QontoClient.list_transactions``."""
        return {
            f"{self.field}_from": self.lower,
            f"{self.field}_to": self.upper,
            "sort_by": self.sort_by,
            "statuses": list(self.statuses),
        }


@dataclass(frozen=True, slots=True)
class PageSummary:
    """What the planner needs to know about a page Qonto answered."""

    values: Sequence[datetime | None]  # the swept field of each item, in page order
    has_next: bool  # ``meta.next_page`` is not null
    total_count: int | None = None  # ``meta.total_count``
    past_end: bool = False  # Qonto answered 422 "past the last page" (page > 1)


@dataclass(frozen=True, slots=True)
class Sweep:
    """A sweep in progress (persisted after every page, so a restart resumes it)."""

    field: SweepField
    start: datetime
    end: datetime
    cursor: datetime
    per_page: int = 100
    page: int = 1
    tie_total: int | None = None
    tie_restarts: int = 0
    done: bool = False
    pages_read: int = 0
    status: str = ALL_AT_ONCE  # the status asked for (ALL_AT_ONCE: every status, one request)

    @classmethod
    def begin(
        cls,
        field: SweepField,
        start: datetime,
        end: datetime,
        per_page: int = 100,
        *,
        status: str = ALL_AT_ONCE,
    ) -> Sweep:
        statuses_of(status)  # validates it
        start = truncate_ms(max(start, QONTO_EPOCH))
        end = truncate_ms(end)
        if end < start:
            raise ValueError(f"a sweep needs start <= end (got {start} > {end})")
        if not 1 <= per_page <= 100:
            raise ValueError("Qonto pages hold 1 to 100 items")
        return cls(
            field=field, start=start, end=end, cursor=start, per_page=per_page, status=status
        )

    def request(self) -> PageRequest:
        """The next page to ask for."""
        if self.done:
            raise RuntimeError("the sweep is complete")
        lower = (
            max(QONTO_EPOCH, self.cursor - KEYSET_MARGIN)
            if self.cursor > self.start
            else (self.start)
        )
        return PageRequest(
            self.field, lower, self.end, self.page, self.per_page, statuses_of(self.status)
        )

    @property
    def progress(self) -> float:
        """Fraction of ``[start, end]`` covered (0..1), for progress bars and lag."""
        if self.done:
            return 1.0
        span = (self.end - self.start).total_seconds()
        if span <= 0:
            return 0.0
        return min(1.0, max(0.0, (self.cursor - self.start).total_seconds() / span))

    @property
    def covered_until(self) -> datetime:
        """Everything strictly before this instant is handled (the safe watermark)."""
        return self.end if self.done else self.cursor

    def advance(self, page: PageSummary) -> Sweep:
        """The sweep after ``page`` (the answer to ``self.request()``) has been handled.

        Call it only once the page's versions are published (or known as seen): its result
        is what gets checkpointed.
        """
        if self.done:
            raise RuntimeError("the sweep is complete")
        read = self.pages_read + 1
        in_tie_group = self.page > 1
        if page.past_end and in_tie_group:
            # The tie group shrank below our offset: read it again from its first page.
            if self.tie_restarts >= MAX_TIE_RESTARTS:
                raise SweepUnstable(
                    f"{self.field} tie group at {self.cursor.isoformat()} keeps changing"
                )
            return replace(
                self, page=1, tie_total=None, tie_restarts=self.tie_restarts + 1, pages_read=read
            )
        if (
            in_tie_group
            and self.tie_total is not None
            and page.total_count is not None
            and page.total_count != self.tie_total
        ):
            shrink = self.tie_total - page.total_count
            if shrink > 0:
                # Up to ``shrink`` unread items moved to offsets already passed: step back.
                if self.tie_restarts >= MAX_TIE_RESTARTS:
                    raise SweepUnstable(
                        f"{self.field} tie group at {self.cursor.isoformat()} keeps changing"
                    )
                back = -(-shrink // self.per_page)
                return replace(
                    self,
                    page=max(1, self.page - back),
                    tie_total=page.total_count,
                    tie_restarts=self.tie_restarts + 1,
                    pages_read=read,
                )
            # Growth pushes items forward (re-read, never skipped): carry on.
        values = [v for v in page.values if v is not None]
        if not page.has_next or not page.values:
            return replace(
                self, cursor=self.end, page=1, tie_total=None, done=True, pages_read=read
            )
        top = max(values) if values else None
        if top is not None and truncate_ms(top) > self.end:
            # Sorted ascending: an item past the end means everything up to it was read
            # (only an API ignoring ``<field>_to`` answers so; never loop on it).
            return replace(
                self, cursor=self.end, page=1, tie_total=None, done=True, pages_read=read
            )
        if top is not None and truncate_ms(top) > self.cursor:
            return replace(
                self,
                cursor=truncate_ms(top),
                page=1,
                tie_total=None,
                tie_restarts=0,
                pages_read=read,
            )
        # A full page without progress: every item ties with the cursor. Page by offset
        # inside the group, remembering its size to detect shifts.
        return replace(self, page=self.page + 1, tie_total=page.total_count, pages_read=read)


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """Parameters of the continuous gap-fill."""

    overlap: timedelta = timedelta(minutes=10)
    settle_delay: timedelta = timedelta(seconds=5)
    initial: datetime = QONTO_EPOCH  # where a connection never swept starts

    def next_sweep(
        self, watermark: datetime | None, now: datetime, status: str = ALL_AT_ONCE
    ) -> Sweep | None:
        """The sweep of ``status`` to run now, or None when there is nothing new to ask for.

        ``watermark`` is the end of the last completed sweep of that status. The new one starts
        ``overlap`` before it (late commits, clock skew at Qonto) and ends
        ``settle_delay`` before now (a stable upper bound).
        """
        end = truncate_ms(now - self.settle_delay)
        start = self.initial if watermark is None else watermark - self.overlap
        start = max(start, QONTO_EPOCH)
        if watermark is not None and end <= watermark:
            return None
        if end <= start:
            return None
        return Sweep.begin("updated_at", start, end, status=status)


def latest_covered(cursor: datetime | None, watermark: datetime | None) -> datetime | None:
    """How far the data is known to be synced: the later of a running sweep's cursor and the
    last completed sweep's end. A new sweep starts an overlap *before* the watermark, so its
    cursor alone would report a lag of that overlap although nothing is missing."""
    known = [t for t in (cursor, watermark) if t is not None]
    return max(known) if known else None


def lag_seconds(covered_until: datetime | None, now: datetime) -> float:
    """How far the synced data is behind now (infinite before the first page)."""
    if covered_until is None:
        return math.inf
    return max(0.0, (now - covered_until).total_seconds())


def jittered(interval: float, jitter: float, unit_random: float) -> float:
    """``interval`` spread by +/- ``jitter`` (a fraction), ``unit_random`` in [0, 1)."""
    jitter = min(max(jitter, 0.0), 1.0)
    return max(0.0, interval * (1.0 + jitter * (2.0 * unit_random - 1.0)))


def backoff_delay(failures: int, base: float, cap: float, unit_random: float) -> float:
    """Exponential backoff with full jitter after ``failures`` consecutive failures."""
    if failures <= 0:
        return 0.0
    ceiling = min(cap, base * (2.0 ** min(failures - 1, 30)))
    return ceiling * (0.5 + 0.5 * unit_random)
