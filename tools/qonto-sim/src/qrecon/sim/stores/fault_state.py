"""The faults in force (``qrecon.sim.faults.Faults``), the 429 storm, and the countdown of
API answers to lose."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from typing import Any

from qrecon.sim.faults import Faults
from qrecon.sim.stores.base import StoreContext


class FaultStore:
    """``on_seed`` hears the faults' seed whenever they change (the webhook dispatcher draws
    its fault decisions from it)."""

    def __init__(self, ctx: StoreContext, on_seed: Callable[[int], None]) -> None:
        self._lock = ctx.lock
        self._on_seed = on_seed
        self.faults = Faults()
        self.storm_until = 0.0  # monotonic time until which every API request gets a 429

    def clear(self) -> None:
        self.faults = Faults()
        self.storm_until = 0.0

    def set(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the faults (``faults=``) or change some of them (``drop=0.2, ...``)."""
        with self._lock:
            base = faults if faults is not None else self.faults
            self.faults = base.updated(**changes)
            if faults is not None or "storm_seconds" in changes:
                # A storm starts when it is set and lasts storm_seconds of real time.
                self.storm_until = time.monotonic() + self.faults.storm_seconds
            self._on_seed(self.faults.seed)
            return self.faults

    def take_lost_answer(self, rng: random.Random) -> bool:
        """Whether the answer of the API request now starting is to be lost (the faults
        ``lose_answers``, counted down, and ``lost_answer_rate``)."""
        with self._lock:
            faults = self.faults
            if faults.lose_answers > 0:
                self.faults = dataclasses.replace(faults, lose_answers=faults.lose_answers - 1)
                return True
            return bool(faults.lost_answer_rate) and rng.random() < faults.lost_answer_rate
