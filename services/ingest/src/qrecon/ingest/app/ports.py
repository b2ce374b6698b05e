"""What receiving a webhook needs from the outside world, and the records it exchanges.

``adapters.pg.InboxWriter`` is the real ``Inbox`` (PostgreSQL, group commit), and
``bootstrap.IngestRuntime`` the real ``Runtime``; tests swap in fakes. Relaying the inbox
to Kafka is ``qrecon.common.outbox.OutboxRelay``'s business, wired by ``bootstrap``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel

from qrecon.common.topics import Topics
from qrecon.ingest.core.payload import Routed


class Connection(BaseModel):
    """A resolved connection: its id, every valid secret (raw bytes), its organization."""

    id: str
    secrets: tuple[bytes, ...]
    organization_id: str | None = None


class InboxUnavailable(RuntimeError):
    """The inbox could not make the event durable (PostgreSQL down, overloaded...)."""


class Inbox(Protocol):
    """Where an accepted webhook becomes durable, deduplicated per (connection, event id)."""

    async def write(self, connection_id: str, topic: str, routed: Routed) -> bool:
        """True if new, False if it was already there. Raises when it could not be made
        durable in time (``InboxUnavailable``)."""
        ...


class Runtime(Protocol):
    """The running service as the use case and the routes see it (read at every request:
    the inbox is replaced once started)."""

    connections: Mapping[str, Connection]
    topics: Topics
    inbox: Inbox
    max_body_bytes: int
    max_record_bytes: int
    signature_tolerance_seconds: float

    def now(self) -> float:
        """Unix time (seconds)."""
        ...

    async def readiness(self) -> dict[str, bool]: ...
