"""The scenario's builder: its one ``random.Random``, the events in creation order,
business days and times, amounts."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from qrecon.sim.scenario.model import Event, EventKind
from qrecon.world.ids import uuid4


class Builder:
    """Draws from one seeded generator; ``add`` keeps the events before ``end``."""

    def __init__(self, seed: int, start: datetime, end: datetime) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.start = start
        self.end = end
        self.events: list[Event] = []
        self.seq = 0
        self.client_seq: dict[int, int] = {}
        self.supplier_seq = 0

    def uid(self) -> str:
        return uuid4(self.rng)

    def add(self, at: datetime, kind: EventKind, **payload: Any) -> bool:
        if at >= self.end:
            return False
        self.seq += 1
        self.events.append(Event(at, self.seq, kind, payload))
        return True

    def business_time(self, day: date, early: int = 8, late: int = 19) -> datetime:
        seconds = self.rng.randrange(early * 3600, late * 3600)
        ms = self.rng.randrange(1000)
        return datetime.combine(day, time(), tzinfo=UTC) + timedelta(
            seconds=seconds, milliseconds=ms
        )

    def business_day(self, first: date, last: date) -> date:
        span = max((last - first).days, 0)
        for _ in range(10):
            day = first + timedelta(days=self.rng.randint(0, span))
            if day.weekday() < 5:
                return day
        return first

    def amount(self, low: int, high: int, step: int = 1) -> int:
        """Log-uniform-ish amount in cents, rounded to ``step`` cents."""
        value = int(low * (high / low) ** self.rng.random())
        return max(step, value // step * step)
