"""Sync's clock: the wall clock, or one that starts at ``SYNC_CLOCK_START``.

The sweeps end at "now" (minus the settle delay), a backfill without ``--until`` ends
today, a revocation without a readable date is dated when it arrives: all of it reads the
one ``Clock`` the composition root builds here. For tests, demos and replays only, a clock
can start at a chosen instant and advance with real elapsed time from there, so that
scenarios take explicit dates (an emulator whose own clock starts at the same instant)
instead of "an hour before now".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from qrecon.common.timeutil import ensure_aware, utcnow
from qrecon.sync.app.ports import Clock


def started_clock(start: datetime, *, monotonic: Callable[[], float] = time.monotonic) -> Clock:
    """A clock that reads ``start`` now and advances with real elapsed time (monotonic:
    a change of the machine's wall clock does not move it)."""
    anchor = ensure_aware(start)
    origin = monotonic()

    def now() -> datetime:
        return anchor + timedelta(seconds=monotonic() - origin)

    return now


def sync_clock(start: datetime | None) -> Clock:
    """The wall clock (``start`` unset), else ``started_clock(start)``."""
    return utcnow if start is None else started_clock(start)
