"""Lease names and the share of work each replica takes (pure, no servers)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from qrecon.sync.core.leases import (
    LeaseKey,
    ReplicaLoad,
    backfill_lease,
    fair_share,
    gapfill_lease,
    invoices_lease,
    parse_lease,
    plan_leases,
)

KEYS = [gapfill_lease("default", f"acc-{i}") for i in range(6)]


def plan(**kw: object) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    values: dict[str, object] = {
        "me": "a",
        "wanted": KEYS,
        "owned": [],
        "free": [],
        "orphaned": [],
        "releasable": [],
        "replicas": [ReplicaLoad("a", 0, 6)],
        "rng": random.Random(1),
    }
    values.update(kw)
    result = plan_leases(**values)  # type: ignore[arg-type]
    return result.acquire, result.release, result.share


def test_names_round_trip() -> None:
    assert parse_lease(gapfill_lease("acme.fr:1", "uuid-1")) == LeaseKey(
        "gapfill", "acme.fr:1", "uuid-1"
    )
    assert parse_lease(invoices_lease("acme")) == LeaseKey("invoices", "acme")
    since = datetime(2024, 1, 1, tzinfo=UTC)
    name = backfill_lease("acme", "uuid-1", since, None)
    assert name == "backfill/acme/uuid-1/2024-01-01T00:00:00+00:00/open"
    assert parse_lease(name) == LeaseKey(
        "backfill", "acme", "uuid-1", "2024-01-01T00:00:00+00:00/open"
    )
    with pytest.raises(ValueError, match="not a sync lease"):
        parse_lease("something/else")


@pytest.mark.parametrize(
    ("wanted", "live", "share"), [(0, 3, 0), (6, 1, 6), (6, 2, 3), (7, 2, 4), (2, 5, 1)]
)
def test_fair_share(wanted: int, live: int, share: int) -> None:
    assert fair_share(wanted, live) == share


def test_a_lone_replica_takes_everything_free() -> None:
    acquire, release, share = plan(free=KEYS)
    assert sorted(acquire) == sorted(KEYS)
    assert release == ()
    assert share == 6


def test_replicas_starting_together_each_take_their_share_at_random() -> None:
    replicas = [ReplicaLoad("a", 0, 6), ReplicaLoad("b", 0, 6)]
    mine, _, share = plan(free=KEYS, replicas=replicas, rng=random.Random(1))
    theirs, _, _ = plan(me="b", free=KEYS, replicas=replicas, rng=random.Random(2))
    assert share == 3
    assert len(mine) == len(theirs) == 3
    assert set(mine) != set(theirs)  # random order: they do not all fight for the same ones


def test_below_the_share_only_the_missing_ones_are_taken() -> None:
    replicas = [ReplicaLoad("a", 2, 6), ReplicaLoad("b", 3, 6)]
    acquire, _, _ = plan(owned=KEYS[:2], free=[KEYS[5]], replicas=replicas)
    assert acquire == (KEYS[5],)
    acquire, _, _ = plan(owned=KEYS[:3], free=[KEYS[5]], replicas=replicas)
    assert acquire == ()  # at its share: leaves it to the other replica...


def test_a_lease_left_free_is_rescued_whatever_the_share() -> None:
    replicas = [ReplicaLoad("a", 3, 6), ReplicaLoad("b", 2, 2)]  # b does not want it
    acquire, _, _ = plan(owned=KEYS[:3], free=[KEYS[5]], orphaned=[KEYS[5]], replicas=replicas)
    assert acquire == (KEYS[5],)  # ...unless nobody took it for a while


def test_above_the_share_one_lease_is_handed_to_a_starving_replica() -> None:
    replicas = [ReplicaLoad("a", 6, 6), ReplicaLoad("b", 0, 6)]
    acquire, release, share = plan(owned=KEYS, releasable=KEYS, replicas=replicas)
    assert acquire == ()
    assert len(release) == 1
    assert release[0] in KEYS
    assert share == 3


def test_no_handover_without_a_taker_or_a_releasable_lease() -> None:
    balanced = [ReplicaLoad("a", 4, 7), ReplicaLoad("b", 3, 7)]
    wanted = [*KEYS, gapfill_lease("default", "acc-6")]
    owned = wanted[:4]
    _, release, _ = plan(wanted=wanted, owned=owned, releasable=owned, replicas=balanced)
    assert release == ()  # 4 vs 3: the difference is not worth a handover
    starving = [ReplicaLoad("a", 6, 6), ReplicaLoad("b", 0, 6)]
    _, release, _ = plan(owned=KEYS, releasable=[], replicas=starving)
    assert release == ()  # everything just taken (or rescued): kept for now
    not_wanting = [ReplicaLoad("a", 6, 6), ReplicaLoad("b", 0, 0)]
    _, release, _ = plan(owned=KEYS, releasable=KEYS, replicas=not_wanting)
    assert release == ()  # b wants nothing (no connection works there)


def test_a_replica_missing_from_the_heartbeats_counts_itself() -> None:
    acquire, _, share = plan(free=KEYS, replicas=[ReplicaLoad("b", 0, 6)])
    assert share == 3
    assert len(acquire) == 3


def test_replicas_that_want_nothing_do_not_lower_the_share() -> None:
    replicas = [ReplicaLoad("a", 0, 6), ReplicaLoad("b", 0, 0), ReplicaLoad("c", 0, 0)]
    acquire, _, share = plan(free=KEYS, replicas=replicas)
    assert share == 6
    assert len(acquire) == 6


def test_the_handover_comes_from_the_kind_held_most() -> None:
    wanted = [*KEYS, invoices_lease("default"), invoices_lease("beta")]
    replicas = [ReplicaLoad("a", 8, 8), ReplicaLoad("b", 0, 8)]
    for seed in range(20):
        _, release, _ = plan(
            wanted=wanted,
            owned=wanted,
            releasable=wanted,
            replicas=replicas,
            rng=random.Random(seed),
        )
        assert parse_lease(release[0]).kind == "gapfill"
