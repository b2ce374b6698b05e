"""What every store shares: the simulator's lock, its clock and its seeded id generator,
plus the emulator's fixed names (default organization, credentials, namespaces)."""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from qrecon.sim.clock import Clock

NAMESPACE = uuid.UUID("0b8f2c1e-5d4a-4e6b-9c3f-7a1d2e3f4a5b")
# Invoices carry Paris offsets (``+02:00``), unlike transactions (UTC ``Z``).
PARIS = ZoneInfo("Europe/Paris")

DEFAULT_ORG_SLUG = "acme-sas-1234"
DEFAULT_LEGAL_NAME = "ACME SAS"
DEFAULT_SECRET_KEY = "sk_test_acme_sas_4f9c2b7e1d3a8c60"  # noqa: S105 - the emulator\'s test credentials
DEFAULT_STAGING_TOKEN = "stg_test_acme_sas_9d2e7c41b8a3f056"  # noqa: S105 - the emulator\'s test credentials
DEFAULT_CLIENT_ID = "qrecon-test-client"
DEFAULT_CLIENT_SECRET = "qrecon-test-client-secret"  # noqa: S105 - the emulator\'s test credentials
DEFAULT_REDIRECT_URI = "http://127.0.0.1/oauth/callback"
DEFAULT_MAIN_IBAN = "FR7616958000010123456789037"


def stable_uuid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


class Ids:
    """UUIDs (v4 shape) and IBANs drawn from one generator seeded by the simulator's seed,
    so a scenario replays with the same ids; ``reset`` starts the sequence again."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def reset(self) -> None:
        self.rng = random.Random(self.seed)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class StoreContext:
    """Handed to every store: one re-entrant lock for the whole simulator (a change that
    spans stores, like a transaction moving a balance, is atomic), the clock, the ids."""

    lock: threading.RLock
    clock: Clock
    ids: Ids
