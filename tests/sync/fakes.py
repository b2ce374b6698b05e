"""In-memory stand-ins used by the sync unit tests (no servers): Qonto's list semantics,
and fakes of the app's ports (``FakeQontoApi``, ``FakePublisher``, ``FakeStore``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from qrecon.common.qonto import Page, PageMeta
from qrecon.common.schemas import InvoiceEvent, TransactionEvent
from qrecon.sync.app.ports import AccountState, Fence, LeaseLost, PublishedVersion
from qrecon.sync.core.sweep import PageRequest, PageSummary, Sweep
from qrecon.sync.core.versions import ObservedVersion, classify_observed


@dataclass
class Row:
    id: str
    updated_at: datetime
    settled_at: datetime | None = None


@dataclass
class OffsetListApi:
    """Qonto's list semantics: filter by an inclusive range, sort, then slice by offset.

    ``between_pages`` runs before every request: tests mutate the data there, as Qonto
    would while a client pages through it.
    """

    rows: dict[str, Row] = field(default_factory=dict)
    between_pages: Callable[[OffsetListApi], None] | None = None
    requests: int = 0
    lower_exclusive: bool = False

    def add(self, row: Row) -> None:
        self.rows[row.id] = row

    def touch(self, tx_id: str, at: datetime) -> None:
        self.rows[tx_id].updated_at = at

    def query(self, request: PageRequest) -> tuple[list[Row], PageSummary]:
        if self.between_pages is not None:
            self.between_pages(self)
        self.requests += 1
        key = request.field

        def value(row: Row) -> datetime | None:
            return getattr(row, key)  # type: ignore[no-any-return]

        def inside(v: datetime | None) -> bool:
            if v is None:
                return False
            low_ok = v > request.lower if self.lower_exclusive else v >= request.lower
            return low_ok and v <= request.upper

        matching = sorted(
            (r for r in self.rows.values() if inside(value(r))),
            key=lambda r: (value(r), r.id),
        )
        offset = (request.page - 1) * request.per_page
        items = matching[offset : offset + request.per_page]
        summary = PageSummary(
            values=[value(r) for r in items],
            has_next=offset + request.per_page < len(matching),
            total_count=len(matching),
        )
        return [Row(r.id, r.updated_at, r.settled_at) for r in items], summary


def ms(n: int) -> timedelta:
    return timedelta(milliseconds=n)


# -- fakes of the app's ports (``qrecon.sync.app.ports``) ---------------------------------


def _when(raw: Any) -> datetime | None:
    if raw is None:
        return None
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))


@dataclass
class FakeQontoApi:
    """``QontoApi`` over a list of raw transactions, with Qonto's list semantics (inclusive
    range on the swept field, sorted, sliced by offset).

    ``status[]`` is honoured as Qonto does: without it, ``completed`` only; ``strict``
    (the default, as the real API) answers a multi-status request with its first status
    only; not strict, with every status listed. A transaction without ``status`` is
    completed. ``status_requests`` records the statuses of each request.
    """

    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    organization: dict[str, Any] = field(
        default_factory=lambda: {"id": "org-1", "bank_accounts": [{"id": "ba-1"}]}
    )
    # GET /v2/bank_accounts when it differs from the organization answer's list
    bank_accounts: list[dict[str, Any]] | None = None
    client_invoices: list[dict[str, Any]] = field(default_factory=list)
    supplier_invoices: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    fail: BaseException | None = None
    strict: bool = True
    status_requests: list[tuple[str, ...]] = field(default_factory=list)
    # (kind, filters) of each invoice listing
    invoice_requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lower_bounds: list[datetime] = field(default_factory=list)  # of each request's window

    def add(self, raw: dict[str, Any]) -> None:
        self.transactions[raw["id"]] = raw

    def transaction_params(self, **filters: Any) -> dict[str, Any]:
        return dict(filters)

    async def get_page(
        self,
        path: str,
        key: str,
        params: Mapping[str, Any] | None = None,
        *,
        page: int = 1,
        per_page: int = 100,
    ) -> Page[dict[str, Any]]:
        self.requests += 1
        if self.fail is not None:
            raise self.fail
        assert (path, key) == ("/v2/transactions", "transactions")
        p = dict(params or {})
        swept = "settled_at" if "settled_at_from" in p else "updated_at"
        low, high = p[f"{swept}_from"], p[f"{swept}_to"]
        asked = tuple(p.get("statuses") or ("completed",))
        self.status_requests.append(asked)
        self.lower_bounds.append(low)
        answered = asked[:1] if self.strict else asked

        def value(raw: dict[str, Any]) -> datetime | None:
            return _when(raw.get(swept))

        matching = sorted(
            (
                r
                for r in self.transactions.values()
                if r.get("bank_account_id") == p.get("bank_account_id")
                and r.get("status", "completed") in answered
                and (v := value(r)) is not None
                and low <= v <= high
            ),
            key=lambda r: (value(r), r["id"]),
        )
        offset = (page - 1) * per_page
        items = [dict(r) for r in matching[offset : offset + per_page]]
        more = offset + per_page < len(matching)
        meta = PageMeta(
            current_page=page, next_page=page + 1 if more else None, total_count=len(matching)
        )
        return Page(items, meta)

    async def get_organization(self) -> dict[str, Any]:
        return self.organization

    async def iter_bank_accounts(self, *, per_page: int = 100) -> AsyncIterator[dict[str, Any]]:
        listed = self.bank_accounts
        for account in self.organization["bank_accounts"] if listed is None else listed:
            yield account

    async def iter_client_invoices(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        self.invoice_requests.append(("client_invoice", filters))
        for raw in _invoices_since(self.client_invoices, filters.get("updated_at_from")):
            yield {k: v for k, v in raw.items() if not k.startswith("_")}

    async def iter_supplier_invoices(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        self.invoice_requests.append(("supplier_invoice", filters))
        for raw in _invoices_since(self.supplier_invoices, filters.get("updated_at_from")):
            yield {k: v for k, v in raw.items() if not k.startswith("_")}

    async def aclose(self) -> None:
        return None


@dataclass
class FakePublisher:
    """``Publisher``: what would be on the topics, in publish order."""

    transactions: list[TransactionEvent] = field(default_factory=list)
    invoices: list[InvoiceEvent] = field(default_factory=list)
    poison: list[tuple[Any, str]] = field(default_factory=list)

    async def publish_transactions(self, events: Sequence[TransactionEvent]) -> None:
        self.transactions.extend(events)

    async def publish_invoice(self, event: InvoiceEvent) -> None:
        self.invoices.append(event)

    async def publish_poison(self, raw: Any, error: str, *, key: str | None) -> None:
        self.poison.append((raw, error))


@dataclass
class FakeStore:
    """``Store`` in memory (the gap-fill's part); ``lease_lost`` makes checkpoints refuse."""

    accounts: dict[tuple[str, str, str], AccountState] = field(default_factory=dict)
    seen: dict[str, datetime] = field(default_factory=dict)
    seen_events: dict[str, str] = field(default_factory=dict)  # transaction id -> event id
    errors: list[str] = field(default_factory=list)
    invoices: dict[str, str] = field(default_factory=dict)  # invoice id -> content hash
    # (connection id, kind) -> invoice watermark
    invoice_marks: dict[tuple[str, str], datetime] = field(default_factory=dict)
    lease_lost: bool = False

    async def load_account(
        self, connection_id: str, bank_account_id: str, status: str
    ) -> AccountState:
        return self.accounts.get((connection_id, bank_account_id, status), AccountState(None, None))

    async def commit_page(
        self,
        connection_id: str,
        bank_account_id: str,
        *,
        published: Sequence[PublishedVersion],
        sweep: Sweep,
        fence: Fence | None = None,
    ) -> int:
        if fence is not None and self.lease_lost:
            raise LeaseLost(fence.name)
        redundant = 0
        for version in published:
            have = self.seen.get(version.transaction_id)
            if have is not None and have >= version.updated_at:
                redundant += 1
            else:
                self.seen[version.transaction_id] = version.updated_at
                self.seen_events[version.transaction_id] = version.event_id
        before = await self.load_account(connection_id, bank_account_id, sweep.status)
        self.accounts[(connection_id, bank_account_id, sweep.status)] = (
            AccountState(sweep.end, None) if sweep.done else AccountState(before.watermark, sweep)
        )
        return redundant

    async def record_error(
        self, connection_id: str, bank_account_id: str, status: str, error: str
    ) -> None:
        self.errors.append(error)

    async def known_versions(self, transaction_ids: Sequence[str]) -> dict[str, datetime]:
        return {i: self.seen[i] for i in transaction_ids if i in self.seen}

    async def invoice_hashes(self, invoice_ids: Sequence[str]) -> dict[str, str]:
        return {i: self.invoices[i] for i in invoice_ids if i in self.invoices}

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
    ) -> None:
        if fence is not None and self.lease_lost:
            raise LeaseLost(fence.name)
        self.invoices[invoice_id] = content_hash

    async def invoice_watermarks(self, connection_id: str) -> dict[str, datetime]:
        return {k: v for (c, k), v in self.invoice_marks.items() if c == connection_id}

    async def set_invoice_watermark(
        self,
        connection_id: str,
        qonto_kind: str,
        watermark: datetime,
        *,
        fence: Fence | None = None,
    ) -> None:
        if fence is not None and self.lease_lost:
            raise LeaseLost(fence.name)
        have = self.invoice_marks.get((connection_id, qonto_kind))
        self.invoice_marks[(connection_id, qonto_kind)] = max(have or watermark, watermark)

    async def record_observed(
        self, observed: Sequence[ObservedVersion]
    ) -> list[tuple[ObservedVersion, str]]:
        outcome: list[tuple[ObservedVersion, str]] = []
        for item in observed:
            have = self.seen.get(item.transaction_id)
            stored = None if have is None else (have, self.seen_events[item.transaction_id])
            kind = classify_observed(item, stored)
            outcome.append((item, kind))
            if kind == "new":
                self.seen[item.transaction_id] = item.updated_at
                self.seen_events[item.transaction_id] = item.event_id
        return outcome


def _invoices_since(invoices: list[dict[str, Any]], since: datetime | None) -> list[dict[str, Any]]:
    """``filter[updated_at_from]`` as Qonto applies it, on the invoice's hidden update time:
    ``_updated_at`` here (else its ``updated_at``; an invoice showing neither always)."""
    if since is None:
        return invoices
    out = []
    for raw in invoices:
        updated = _when(raw.get("_updated_at") or raw.get("updated_at"))
        if updated is None or updated >= since:
            out.append(raw)
    return out
