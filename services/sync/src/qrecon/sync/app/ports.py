"""What sync's use cases need from the outside world, and the plain records they exchange.

The use cases (``gapfill``, ``backfill``, ``invoices``, ``ownership``, ``supervisor``)
depend on these Protocols only; ``qrecon.sync.adapters`` implements them (PostgreSQL,
Kafka, the Qonto client) and ``qrecon.sync.bootstrap`` wires them. Unit tests swap in
fakes (``tests/sync/fakes.py``). No asyncpg row, no FastStream or httpx type crosses
this line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import SecretStr

from qrecon.common.qonto import Page
from qrecon.common.schemas import InvoiceEvent, TransactionEvent
from qrecon.sync.core.backfill import Backfill
from qrecon.sync.core.leases import ReplicaLoad
from qrecon.sync.core.revocation import ConsentRevocation
from qrecon.sync.core.sweep import Sweep
from qrecon.sync.core.versions import ObservedVersion

#: The time now (aware UTC); injected so that tests control it.
Clock = Callable[[], datetime]

# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection (one Qonto organization) as the workers see it."""

    id: str
    bank_account_ids: tuple[str, ...] | None  # None: every account of the organization
    invoices: bool
    uses_oauth: bool
    refresh_token_seed: SecretStr | None = None
    # The configured organisation (for an API key: the login). Events carry the id Qonto
    # reports (``GET /v2/organization``), this one only when that cannot be read.
    organization_id: str | None = None
    oauth_client_id: str | None = None  # matched against a consent revocation's client_id


@dataclass(frozen=True, slots=True)
class AccountState:
    watermark: datetime | None
    sweep: Sweep | None


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    transaction_id: str
    updated_at: datetime
    event_id: str
    source: str


@dataclass(frozen=True, slots=True)
class BackfillRow:
    id: int
    state: Backfill
    done: bool
    published: int
    skipped: int


class LeaseLost(RuntimeError):
    """This replica no longer holds the lease (expired or taken over): it must not write."""

    def __init__(self, name: str) -> None:
        super().__init__(f"lease {name!r} is no longer held by this replica")
        self.name = name


@dataclass(frozen=True, slots=True)
class Fence:
    """Proof of ownership that a checkpoint presents: lease name, owner, token."""

    name: str
    owner: str
    token: int


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lease now (``owner`` None: free, released or expired)."""

    name: str
    owner: str | None
    token: int
    expires_at: datetime | None


# ---------------------------------------------------------------- ports


class QontoApi(Protocol):
    """The part of ``qrecon.common.qonto.QontoClient`` sync uses (one per connection)."""

    def transaction_params(
        self,
        *,
        bank_account_id: str | None = ...,
        statuses: Sequence[str] | None = ...,
        updated_at_from: datetime | str | None = ...,
        updated_at_to: datetime | str | None = ...,
        settled_at_from: datetime | str | None = ...,
        settled_at_to: datetime | str | None = ...,
        sort_by: str | None = ...,
    ) -> dict[str, Any]: ...

    async def get_page(
        self,
        path: str,
        key: str,
        params: Mapping[str, Any] | None = None,
        *,
        page: int = 1,
        per_page: int = 100,
    ) -> Page[dict[str, Any]]: ...

    async def get_organization(self) -> dict[str, Any]: ...

    def iter_bank_accounts(self, *, per_page: int = 100) -> AsyncIterator[dict[str, Any]]: ...

    def iter_client_invoices(self, **filters: Any) -> AsyncIterator[dict[str, Any]]: ...

    def iter_supplier_invoices(self, **filters: Any) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


class RequestCounter(Protocol):
    """What a connection's HTTP transport tells about its traffic."""

    @property
    def requests(self) -> int: ...


class Publisher(Protocol):
    """Where sync's events go (Kafka in production, a list in unit tests); every method
    returns once the broker acknowledged."""

    async def publish_transactions(self, events: Sequence[TransactionEvent]) -> None: ...

    async def publish_invoice(self, event: InvoiceEvent) -> None: ...

    async def publish_poison(self, raw: Any, error: str, *, key: str | None) -> None: ...


class Revocations(Protocol):
    """Connections whose consent was revoked (kept across restarts, shared by replicas)."""

    async def revoke(self, connection_id: str, revocation: ConsentRevocation) -> bool:
        """Record it; False when the connection was already revoked."""
        ...

    async def revoked(self) -> dict[str, ConsentRevocation]: ...

    async def reinstate(self, connection_id: str) -> bool: ...


class Store(Protocol):
    """Sync's state: watermarks and sweeps, seen versions, backfills, invoice hashes.

    Every checkpoint given a ``fence`` checks it in its own transaction and raises
    ``LeaseLost`` (writing nothing) when this replica no longer holds the lease.
    """

    async def load_account(
        self, connection_id: str, bank_account_id: str, status: str
    ) -> AccountState: ...

    async def commit_page(
        self,
        connection_id: str,
        bank_account_id: str,
        *,
        published: Sequence[PublishedVersion],
        sweep: Sweep,
        fence: Fence | None = None,
    ) -> int: ...

    async def record_error(
        self, connection_id: str, bank_account_id: str, status: str, error: str
    ) -> None: ...

    async def known_versions(self, transaction_ids: Sequence[str]) -> dict[str, datetime]: ...

    async def record_observed(
        self, observed: Sequence[ObservedVersion]
    ) -> list[tuple[ObservedVersion, str]]: ...

    async def find_backfill(
        self,
        connection_id: str,
        bank_account_id: str,
        since: datetime,
        until_requested: datetime | None,
    ) -> BackfillRow | None: ...

    async def create_backfill(
        self,
        connection_id: str,
        bank_account_id: str,
        since: datetime,
        until_requested: datetime | None,
        state: Backfill,
    ) -> BackfillRow: ...

    async def reset_backfill(self, backfill_id: int, state: Backfill) -> None: ...

    async def commit_backfill_page(
        self,
        backfill_id: int,
        *,
        connection_id: str,
        published: Sequence[PublishedVersion],
        skipped: int,
        state: Backfill,
        fence: Fence | None = None,
    ) -> int: ...

    async def invoice_hashes(self, invoice_ids: Sequence[str]) -> dict[str, str]: ...

    async def record_invoice(
        self,
        *,
        invoice_id: str,
        connection_id: str,
        qonto_kind: str,
        content_hash: str,
        event_id: str,
        event_type: str,
        fence: Fence | None = None,
    ) -> None: ...

    async def invoice_watermarks(self, connection_id: str) -> dict[str, datetime]:
        """The invoice watermark of each Qonto kind polled on the connection."""
        ...

    async def set_invoice_watermark(
        self,
        connection_id: str,
        qonto_kind: str,
        watermark: datetime,
        *,
        fence: Fence | None = None,
    ) -> None: ...


class Leases(Protocol):
    """Leases and replica heartbeats (PostgreSQL's clock, never a replica's)."""

    async def acquire(self, names: Sequence[str], owner: str, ttl: float) -> dict[str, int]: ...

    async def renew(self, owner: str, fences: Sequence[Fence], ttl: float) -> set[str]: ...

    async def release(self, fence: Fence) -> bool: ...

    async def holders(self, names: Sequence[str]) -> dict[str, Holder]: ...

    async def heartbeat(
        self, replica_id: str, ttl: float, *, owned: int, wanted: int
    ) -> list[ReplicaLoad]: ...

    async def leave(self, replica_id: str) -> None: ...


@dataclass
class BackfillReport:
    """What a backfill of one account did (``qonto-sync backfill`` prints one per account)."""

    connection_id: str
    bank_account_id: str
    since: datetime
    until: datetime
    pages: int = 0
    published: int = 0
    skipped: int = 0
    resumed: bool = False
    already_done: bool = False
    completed: bool = False
    waited_for: str | None = None  # the replica that held this backfill when it started
    lease_lost: bool = False


class BackfillTracker(Protocol):
    """Shows the progress of one account's backfill (a progress bar on the console)."""

    def waiting(self, owner: str | None) -> None: ...

    def update(self, report: BackfillReport, state: Backfill) -> None: ...


class BackfillProgress(Protocol):
    def track(self, label: str) -> BackfillTracker: ...


class BackfillSettings(Protocol):
    """The settings a backfill reads (``SyncSettings`` provides them)."""

    @property
    def backfill_window(self) -> timedelta: ...

    @property
    def effective_replica_id(self) -> str: ...

    @property
    def lease_ttl(self) -> float: ...

    @property
    def lease_renew_interval(self) -> float: ...

    @property
    def status_per_request(self) -> bool: ...


class WorkSettings(Protocol):
    """The cadence of a replica's workers (``SyncSettings`` provides it)."""

    @property
    def poll_interval(self) -> float: ...

    @property
    def poll_jitter(self) -> float: ...

    @property
    def error_backoff_max(self) -> float: ...

    @property
    def accounts_refresh(self) -> float: ...

    @property
    def invoices_interval(self) -> float: ...

    @property
    def per_page(self) -> int: ...

    @property
    def prefetch(self) -> bool: ...

    @property
    def status_per_request(self) -> bool: ...

    @property
    def overlap_delta(self) -> timedelta: ...

    @property
    def settle_delta(self) -> timedelta: ...

    @property
    def initial_watermark(self) -> datetime: ...
