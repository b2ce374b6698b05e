"""Identifiers drawn from the seeded generator (never from the system's randomness)."""

from __future__ import annotations

import random
import uuid


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID made of 128 bits of ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
