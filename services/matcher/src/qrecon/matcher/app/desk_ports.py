"""What the review desk's use cases need of the world (:mod:`.desk_people`,
:mod:`.desk_queue`), and the plain records they exchange.

:class:`DeskStore` is the desk's **one** data port: every read of the desk goes through it
with the organisation of the session (``org``), so the organisation filter of the matcher's
tables lives in one adapter (``adapters/postgres_desk.py``). The decisions themselves go
through the review use cases (:class:`.reviews.Reviews`), with the person's name as actor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

Role = Literal["reviewer", "viewer"]
ROLES: tuple[Role, ...] = ("reviewer", "viewer")
QueueStatus = Literal["suggested", "unmatched", "all"]
QueueSort = Literal["amount", "age", "confidence"]


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    email: str
    name: str
    password_hash: str
    disabled: bool
    failed_logins: int
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class Membership:
    organization_id: str
    role: Role


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A signed-in person, in one organisation (the one they are looking at)."""

    token_hash: str
    person_id: int
    person_name: str
    organization_id: str
    role: Role
    csrf_token: str
    expires_at: datetime
    last_seen_at: datetime
    memberships: tuple[Membership, ...] = ()

    @property
    def can_act(self) -> bool:
        return self.role == "reviewer"


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the queue shows: every field narrows it (None: no constraint)."""

    status: QueueStatus = "all"
    side: Literal["credit", "debit"] | None = None
    date_from: date | None = None
    date_to: date | None = None
    amount_min_cents: int | None = None
    amount_max_cents: int | None = None
    counterparty: str | None = None
    confidence_min: float | None = None
    text: str | None = None
    sort: QueueSort = "amount"
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class QueueRow:
    transaction_id: str
    tx_date: datetime
    side: str
    amount_cents: int
    currency: str
    label: str | None
    counterparty: str | None
    reference: str | None
    status: str
    confidence: float
    result_seq: int


@dataclass(frozen=True, slots=True)
class QueueCounts:
    suggested: int
    unmatched: int

    @property
    def total(self) -> int:
        return self.suggested + self.unmatched


@dataclass(frozen=True, slots=True)
class InvoiceHit:
    """An open invoice a person may allocate a line to."""

    invoice_id: str
    number: str
    counterparty: str
    kind: str
    currency: str
    amount_cents: int
    residual_cents: int
    issue_date: str | None
    due_date: str | None


@dataclass(frozen=True, slots=True)
class BulkRecord:
    id: int
    actor: str
    min_confidence: float
    created_at: datetime
    undone_at: datetime | None
    items: dict[str, int] = field(default_factory=dict)  # transaction id -> result seq


class DeskStore(Protocol):
    """The desk's data. ``org``: the session's organisation; nothing of another one is ever
    read or written through it (ids of another organisation are unknown: None, 404)."""

    # people
    async def create_person(
        self, email: str, name: str, password_hash: str, memberships: list[Membership]
    ) -> int: ...
    async def person_by_email(self, email: str) -> Person | None: ...
    async def people(self) -> list[tuple[Person, list[Membership]]]: ...
    async def memberships(self, person_id: int) -> list[Membership]: ...
    async def set_disabled(self, email: str, disabled: bool) -> bool: ...
    async def failed_login(
        self, person_id: int, *, lock_after: int, locked_until: datetime
    ) -> None: ...
    async def successful_login(self, person_id: int, password_hash: str | None) -> None: ...

    # sessions
    async def create_session(
        self,
        token_hash: str,
        person_id: int,
        organization_id: str,
        csrf_token: str,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...
    async def session(self, token_hash: str) -> SessionRecord | None: ...
    async def touch_session(self, token_hash: str, now: datetime, expires_at: datetime) -> None: ...
    async def switch_session(self, token_hash: str, organization_id: str) -> None: ...
    async def delete_session(self, token_hash: str) -> None: ...

    # the queue (read side)
    async def queue(self, org: str, flt: QueueFilter) -> list[QueueRow]: ...
    async def counts(self, org: str, flt: QueueFilter) -> QueueCounts: ...
    async def owns_transaction(self, org: str, transaction_id: str) -> bool: ...
    async def transaction_seq(self, org: str, transaction_id: str) -> int | None: ...
    async def invoices(self, org: str, invoice_ids: list[str]) -> dict[str, InvoiceHit]: ...
    async def search_invoices(
        self, org: str, text: str | None, amount_cents: int | None, limit: int
    ) -> list[InvoiceHit]: ...
    async def suggestions_above(
        self, org: str, min_confidence: float, limit: int
    ) -> list[QueueRow]: ...

    # bulk confirmations
    async def record_bulk(
        self, org: str, actor: str, min_confidence: float, items: dict[str, int]
    ) -> int: ...
    async def bulk(self, org: str, bulk_id: int) -> BulkRecord | None: ...
    async def mark_bulk_undone(self, org: str, bulk_id: int) -> bool: ...


class PasswordHasher(Protocol):
    """A well-kept password hash (argon2id in production)."""

    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...
