"""Which polled versions to publish, given the versions already on the topic. No I/O.

A transaction's version is its ``updated_at``. Sync remembers, per transaction, the
newest version it knows is on ``qonto.transactions.v1`` (published by ingest from a
webhook, by an earlier poll or backfill, or by itself a moment ago). A polled version is
published only when it is strictly newer: an equal version is a duplicate, an older one
would be ignored by every consumer anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar


class Versioned(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def updated_at(self) -> datetime: ...


T = TypeVar("T", bound=Versioned)


@dataclass(frozen=True, slots=True)
class Selection(Generic[T]):
    """The outcome for one page: what to publish and what was already there."""

    publish: list[T] = field(default_factory=list)
    seen: list[T] = field(default_factory=list)  # already on the topic (same or newer)
    repeated: list[T] = field(default_factory=list)  # the same item twice in the batch


def select_unseen(items: Iterable[T], known: Mapping[str, datetime]) -> Selection[T]:
    """Split ``items`` into versions to publish and versions already known.

    ``known`` maps a transaction id to the newest version already on the topic. Within
    ``items`` a transaction may appear more than once (keyset re-reads, shifting pages):
    only its newest version is kept, once, in page order.
    """
    newest: dict[str, T] = {}
    order: list[str] = []
    repeated: list[T] = []
    for item in items:
        current = newest.get(item.id)
        if current is None:
            newest[item.id] = item
            order.append(item.id)
        elif item.updated_at > current.updated_at:
            repeated.append(current)
            newest[item.id] = item
        else:
            repeated.append(item)
    publish: list[T] = []
    seen: list[T] = []
    for tx_id in order:
        item = newest[tx_id]
        have = known.get(tx_id)
        if have is None or item.updated_at > have:
            publish.append(item)
        else:
            seen.append(item)
    return Selection(publish=publish, seen=seen, repeated=repeated)


def merge_known(known: Mapping[str, datetime], items: Sequence[Versioned]) -> dict[str, datetime]:
    """``known`` updated with ``items`` (the newest version per id wins)."""
    merged = dict(known)
    for item in items:
        have = merged.get(item.id)
        if have is None or item.updated_at > have:
            merged[item.id] = item.updated_at
    return merged


@dataclass(frozen=True, slots=True)
class ObservedVersion:
    """A version read back from the topic by sync's own consumer."""

    transaction_id: str
    updated_at: datetime
    event_id: str
    source: str


def classify_observed(observed: ObservedVersion, stored: tuple[datetime, str] | None) -> str:
    """How a version read from the topic relates to what sync had recorded.

    ``stored`` is (newest version, event id) recorded for that transaction. Returns

    * ``"new"``: nothing as new was recorded (it becomes the newest known version);
    * ``"same_event"``: the very event already recorded (sync's own publish read back,
      or a redelivery);
    * ``"duplicate"``: the same version, already delivered by another event: when the
      observed event comes from sync (``poll``/``backfill``) sync published it
      redundantly;
    * ``"stale"``: older than the newest known version.
    """
    if stored is None:
        return "new"
    version, event_id = stored
    if observed.updated_at > version:
        return "new"
    if observed.updated_at < version:
        return "stale"
    if observed.event_id == event_id:
        return "same_event"
    return "duplicate"
