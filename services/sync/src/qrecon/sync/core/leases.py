"""Who sweeps what: lease names and the share of work each replica takes (no I/O).

Every unit of sync's work is owned by one replica at a time through a *lease* (a row in
``sync_leases``, see ``qrecon.sync.adapters.leases``):

* ``gapfill/<connection>/<bank account>``: the continuous gap-fill of one account;
* ``invoices/<connection>``: the invoice poller of one connection;
* ``backfill/<connection>/<bank account>/<since>/<until|open>``: one requested backfill.

Connection ids never contain ``/`` (``ConnectionSpec.id``), so names split unambiguously.

``plan_leases`` decides, from what one replica sees in PostgreSQL, which free leases it
takes and which it hands over, so that the work spreads across live replicas:

* each replica aims at its **fair share** ``ceil(wanted / live replicas)`` (replicas that
  want nothing, e.g. still discovering, do not count);
* below it, it takes free leases (in random order, so that replicas starting together
  split the work) up to its share;
* a lease left free longer than the rescue delay (``orphaned``) is taken whatever the
  share: liveness never depends on replicas agreeing on the counts;
* above its share, while another live replica is below its own by at least two, it hands
  over one lease per round, of the kind it holds most of (only leases it is allowed to
  let go: held for a while and not just rescued, which keeps a replica from handing back
  and forth what nobody else takes).
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

LeaseKind = Literal["gapfill", "invoices", "backfill"]

GAPFILL: LeaseKind = "gapfill"
INVOICES: LeaseKind = "invoices"
BACKFILL: LeaseKind = "backfill"


@dataclass(frozen=True, slots=True)
class LeaseKey:
    """What a lease name designates."""

    kind: LeaseKind
    connection_id: str
    bank_account_id: str | None = None
    detail: str | None = None  # a backfill's range


def gapfill_lease(connection_id: str, bank_account_id: str) -> str:
    return f"{GAPFILL}/{connection_id}/{bank_account_id}"


def invoices_lease(connection_id: str) -> str:
    return f"{INVOICES}/{connection_id}"


def backfill_lease(
    connection_id: str, bank_account_id: str, since: datetime, until: datetime | None
) -> str:
    """One requested backfill (the ``sync_backfills`` row: account and requested range)."""
    end = until.isoformat() if until is not None else "open"
    return f"{BACKFILL}/{connection_id}/{bank_account_id}/{since.isoformat()}/{end}"


def parse_lease(name: str) -> LeaseKey:
    kind, _, rest = name.partition("/")
    if kind == GAPFILL:
        connection_id, _, account = rest.partition("/")
        return LeaseKey(GAPFILL, connection_id, account)
    if kind == INVOICES:
        return LeaseKey(INVOICES, rest)
    if kind == BACKFILL:
        connection_id, _, more = rest.partition("/")
        account, _, detail = more.partition("/")
        return LeaseKey(BACKFILL, connection_id, account, detail)
    raise ValueError(f"not a sync lease name: {name!r}")


@dataclass(frozen=True, slots=True)
class ReplicaLoad:
    """A live replica as its heartbeat row describes it."""

    replica_id: str
    owned: int
    wanted: int


@dataclass(frozen=True, slots=True)
class LeasePlan:
    acquire: tuple[str, ...]
    release: tuple[str, ...]
    share: int


def _kind(name: str) -> str:
    return name.partition("/")[0]


def fair_share(wanted: int, live: int) -> int:
    """How many leases a replica aims at: ``ceil(wanted / live)`` (all when alone)."""
    if wanted <= 0:
        return 0
    return math.ceil(wanted / max(live, 1))


def plan_leases(
    *,
    me: str,
    wanted: Collection[str],
    owned: Collection[str],
    free: Collection[str],
    orphaned: Collection[str],
    releasable: Collection[str],
    replicas: Sequence[ReplicaLoad],
    rng: random.Random,
) -> LeasePlan:
    """One round of the decision (see the module docstring).

    ``free``: wanted leases nobody holds; ``orphaned``: those of them free for longer than
    the rescue delay; ``releasable``: owned leases this replica may hand over;
    ``replicas``: the live ones (this one included, or counted as one if missing); those
    that want nothing (no working connection yet) do not count towards the share.
    """
    live = len({r.replica_id for r in replicas if r.wanted > 0} | {me})
    share = fair_share(len(wanted), live)
    owned_now = [name for name in owned if name in wanted]
    candidates = sorted(set(free) & set(wanted) - set(owned_now))
    rescue = sorted(set(orphaned) & set(candidates))
    others = [name for name in candidates if name not in rescue]
    rng.shuffle(others)
    room = max(0, share - len(owned_now) - len(rescue))
    acquire = tuple(rescue + others[:room])
    release: tuple[str, ...] = ()
    if not acquire and len(owned_now) > share:
        starving = [
            r
            for r in replicas
            if r.replica_id != me
            and r.wanted > 0
            and r.owned < fair_share(r.wanted, live)
            and r.owned + 1 < len(owned_now)
        ]
        eligible = sorted(set(releasable) & set(owned_now))
        if starving and eligible:
            # From the kind this replica holds most of, so that every kind spreads.
            held: dict[str, int] = {}
            for name in owned_now:
                held[_kind(name)] = held.get(_kind(name), 0) + 1
            top = max(held[_kind(name)] for name in eligible)
            release = (rng.choice([n for n in eligible if held[_kind(n)] == top]),)
    return LeasePlan(acquire=acquire, release=release, share=share)
