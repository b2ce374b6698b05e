"""What the matcher's use cases need of the world, and the plain records they exchange.

The use cases (:mod:`qrecon.matcher.app`) depend on these Protocols only; the adapters
implement them (:mod:`qrecon.matcher.adapters.postgres`, ``postgres_uow``), and the tests
of ``tests/matcher/app`` swap in fakes held in memory.

* :class:`Database` opens a :class:`UnitOfWork` (one atomic transaction around one
  decision) or a read-only :class:`Repository` (the review API's reads, the sweeps).
* :class:`Repository`: the matcher's state (transactions, invoices, allocations, results,
  review decisions, aliases and rejections). A method runs inside the unit of work it
  was reached through.
* :class:`ResultPublisher`: how a committed ``MatchResult`` leaves the matcher. The use
  case publishes explicitly, inside the unit of work: the result goes out if and only if
  the unit of work commits (the PostgreSQL adapter writes an outbox row in the same
  transaction; a relay publishes it to Kafka).
* :class:`Engine` (the matching engine of ``qrecon.matcher.core``) and :class:`Clock`.
* :class:`Decider`: the four review decisions (confirm, reject, match manually, undo) as
  the review desk calls them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, NamedTuple, Protocol

from qrecon.common.schemas import MatchResult, QontoTransaction
from qrecon.matcher.core import InvoiceBook, Knowledge
from qrecon.matcher.core.payment_links import PaymentLink

Hook = Callable[[], Awaitable[None] | None]


# ---------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    """An invoice as the matcher holds it (``allocated_cents``: what allocations take)."""

    invoice_id: str
    invoice: dict[str, Any]
    kind: str
    currency: str
    amount_cents: int
    allocated_cents: int
    status: str
    last_event_at: datetime
    row_version: int
    updated_at: datetime
    organization_id: str = ""

    @property
    def residual_cents(self) -> int:
        return self.amount_cents - self.allocated_cents

    @property
    def allocatable(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """A transaction's version applied and its one effective result."""

    transaction_id: str
    version: datetime
    transaction: dict[str, Any]
    result_status: str
    result: dict[str, Any]
    result_seq: int
    decided_by: str
    needs_redecide: bool
    event_observed_at: datetime | None
    candidate_invoice_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """One line of a review queue."""

    transaction_id: str
    tx_date: datetime
    transaction: dict[str, Any]
    result: dict[str, Any]
    result_seq: int


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A review decision (audit), possibly undone."""

    id: int
    transaction_id: str
    action: str
    payload: dict[str, Any]
    actor: str | None
    created_at: datetime
    undone_at: datetime | None


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """One of a transaction's published results (its history)."""

    seq: int
    cause: str
    event_id: str
    recorded_at: datetime
    result: dict[str, Any]


class AliasRecord(NamedTuple):
    id: int
    observed_counterparty: str
    observed_iban: str
    invoice_counterparty_name: str
    organization_id: str = ""


class RejectionRecord(NamedTuple):
    id: int
    transaction_id: str
    invoice_id: str
    organization_id: str = ""


@dataclass(frozen=True, slots=True)
class SavedTransaction:
    """What a decision writes about its transaction."""

    transaction_id: str
    version: datetime
    transaction: dict[str, Any]
    side: str
    currency: str
    amount_cents: int
    qonto_status: str
    tx_date: datetime
    event_id: str | None
    event_observed_at: datetime | None
    result: MatchResult
    result_seq: int
    decided_by: str
    candidate_invoice_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class SavedInvoice:
    """What an invoice event writes."""

    invoice_id: str
    invoice: dict[str, Any]
    kind: str
    currency: str
    amount_cents: int
    status: str
    event_id: str
    event_at: datetime


class ResidualViolation(Exception):
    """The store refused an allocation beyond an invoice's amount (its last line of defence,
    which the row locks should make unreachable): the unit of work rolled back."""


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A review API key as stored: its public id and the SHA-256 digest of its secret."""

    key_id: str
    digest: bytes
    organization_id: str
    name: str
    admin: bool
    created_at: datetime
    revoked_at: datetime | None


# ---------------------------------------------------------------------- ports
class Repository(Protocol):
    """The matcher's state, scoped to one organisation (every id is the organisation's;
    another organisation's rows do not exist for it). Unscoped (``Database`` without an
    organisation), only the reads that span organisations work: ``invoices_changed_since``,
    ``aliases_after``, ``rejections_after``, ``knowledge_epoch``, ``clock`` and
    ``transactions_to_redecide`` (``(organization, transaction)`` pairs).

    Locking discipline (no deadlock between replicas): first the transactions (in key
    order), then the invoices (in ``invoice_id`` order)."""

    # locks
    async def lock_transactions(self, transaction_ids: Iterable[str]) -> None: ...
    async def lock_invoices(self, invoice_ids: Iterable[str]) -> dict[str, InvoiceRecord]: ...

    # transactions
    async def get_transaction(self, transaction_id: str) -> TransactionRecord | None: ...
    async def save_transaction(self, saved: SavedTransaction) -> None: ...
    async def flag_redecide(self, transaction_ids: Iterable[str]) -> None: ...
    async def clear_redecide(self, transaction_id: str) -> None: ...
    async def transactions_to_redecide(self, limit: int) -> list[tuple[str, str]]: ...
    async def transactions_suggesting(self, invoice_id: str) -> list[str]: ...
    async def latest_transaction_date(self) -> datetime | None: ...
    async def reexamine_candidates(
        self, currencies: Sequence[str], since: datetime, limit: int
    ) -> list[TransactionRecord]: ...
    async def list_for_review(
        self, status: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[ReviewRecord]: ...

    # allocations
    async def allocations_of(self, transaction_id: str) -> dict[str, int]: ...
    async def allocations_of_many(
        self, transaction_ids: Iterable[str]
    ) -> dict[str, dict[str, int]]: ...
    async def transactions_allocated_to(self, invoice_id: str) -> list[str]: ...
    async def delete_allocations(self, transaction_ids: Iterable[str]) -> None: ...
    async def insert_allocations(
        self, transaction_id: str, allocations: dict[str, int]
    ) -> None: ...

    # results (the audit trail; publishing is the ResultPublisher's)
    async def record_result(
        self, result: MatchResult, *, seq: int, cause: str, event_id: str
    ) -> None: ...
    async def results_of(self, transaction_id: str) -> list[ResultRecord]: ...

    # invoices
    async def get_invoice(self, invoice_id: str) -> InvoiceRecord | None: ...
    async def get_invoices(self, invoice_ids: Iterable[str]) -> list[InvoiceRecord]: ...
    async def save_invoice(self, saved: SavedInvoice) -> None: ...
    async def invoices_changed_since(self, since: datetime | None) -> list[InvoiceRecord]: ...
    async def clock(self) -> datetime: ...

    # knowledge
    async def knowledge_epoch(self) -> int: ...
    async def bump_knowledge_epoch(self) -> None: ...
    async def aliases_after(self, after_id: int) -> list[AliasRecord]: ...
    async def rejections_after(self, after_id: int) -> list[RejectionRecord]: ...
    async def rejections_of(self, transaction_id: str) -> list[str]: ...
    async def add_alias(
        self, observed_counterparty: str, observed_iban: str, invoice_name: str, decision_id: int
    ) -> int | None: ...
    async def add_rejections(
        self, transaction_id: str, invoice_ids: list[str], decision_id: int
    ) -> list[str]: ...
    async def forget_decision(self, decision_id: int) -> tuple[int, int]: ...

    # review decisions
    async def insert_decision(
        self, transaction_id: str, action: str, payload: dict[str, Any], actor: str | None
    ) -> int: ...
    async def update_decision_payload(self, decision_id: int, payload: dict[str, Any]) -> None: ...
    async def last_undoable_decision(self, transaction_id: str) -> DecisionRecord | None: ...
    async def mark_undone(self, decision_id: int) -> None: ...
    async def decisions_of(self, transaction_id: str) -> list[DecisionRecord]: ...


class KeyStore(Protocol):
    """Where review API keys are kept (digests only, never a secret)."""

    async def insert_key(
        self, key_id: str, digest: bytes, organization: str, name: str, admin: bool
    ) -> None: ...
    async def get_key(self, key_id: str) -> ApiKeyRecord | None: ...
    async def revoke_key(self, key_id: str) -> bool: ...
    async def list_keys(self, organization: str | None) -> list[ApiKeyRecord]: ...
    async def organizations(self) -> list[str]: ...


class ResultPublisher(Protocol):
    """Publishes a transaction's ``seq``-th result once the unit of work commits (and
    never if it rolls back); ``event_id`` is deterministic, so a republication is an
    exact duplicate that consumers drop."""

    async def publish(self, result: MatchResult, *, seq: int, event_id: str) -> None: ...


class UnitOfWork(Protocol):
    """One atomic change: everything written through ``repo`` and ``results`` commits
    together or not at all. Hooks run after the commit (or the rollback)."""

    @property
    def repo(self) -> Repository: ...
    @property
    def results(self) -> ResultPublisher: ...

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def after_commit(self, hook: Hook) -> None: ...
    def after_rollback(self, hook: Hook) -> None: ...


class Database(Protocol):
    """Where units of work and reads come from, scoped to ``organization`` (``None``: the
    reads that span organisations only; a unit of work needs an organisation)."""

    @property
    def organization(self) -> str | None: ...

    def for_organization(self, organization: str) -> Database: ...
    def unit_of_work(self) -> UnitOfWork: ...
    def reading(self) -> AbstractAsyncContextManager[Repository]: ...


class Engine(Protocol):
    """What the use cases need of the matching engine (``qrecon.matcher.core``)."""

    def decide(
        self, tx: QontoTransaction, book: InvoiceBook, knowledge: Knowledge | None = None
    ) -> MatchResult: ...


class PaymentLinkStore(Protocol):
    """Where the organisations' Qonto payment links are kept (the latest version of each)."""

    async def upsert_link(self, link: PaymentLink, event_id: str) -> bool:
        """Keep ``link`` unless a version as new is held (True when it was written); the
        paid time of a link already paid is kept."""
        ...

    async def links_changed_since(
        self, since: datetime | None
    ) -> tuple[datetime, list[PaymentLink]]:
        """The store's clock, and the links written since ``since`` (every link: None)."""
        ...


class Clock(Protocol):
    """Wall-clock time (``decided_at``, latency metrics): aware UTC."""

    def __call__(self) -> datetime: ...


class Decider(Protocol):
    """The four review decisions, by organisation (:class:`.service.MatcherService`
    implements them on :class:`.reviews.Reviews`); the review desk calls them
    (``desk_queue``, ``adapters/web``) with the person's name as actor."""

    async def confirm(
        self,
        transaction_id: str,
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
        organization: str | None = None,
    ) -> MatchResult: ...
    async def reject(
        self,
        transaction_id: str,
        invoice_ids: list[str] | None = None,
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
        organization: str | None = None,
    ) -> MatchResult: ...
    async def match_manually(
        self,
        transaction_id: str,
        allocations: dict[str, int],
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
        organization: str | None = None,
    ) -> MatchResult: ...
    async def undo(
        self,
        transaction_id: str,
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
        organization: str | None = None,
    ) -> MatchResult: ...
