"""One page of transactions: fetched, deduplicated, published, acknowledged.

Shared by the continuous gap-fill and the backfill. The order is what makes the watermark
safe: the page's new versions are published and *acknowledged by Kafka* before the
caller checkpoints the sweep past them; the checkpoint and the record of what was
published are one PostgreSQL transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from qrecon.common.logging import get_logger
from qrecon.common.qonto import QontoValidationError
from qrecon.common.schemas import QontoTransaction
from qrecon.common.schemas.events import TransactionSource
from qrecon.common.timeutil import ensure_aware
from qrecon.sync.app.ports import PublishedVersion, Publisher, QontoApi, Store
from qrecon.sync.core.events import transaction_event
from qrecon.sync.core.sweep import PageRequest, PageSummary
from qrecon.sync.core.versions import select_unseen
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)


@dataclass(slots=True)
class FetchedPage:
    transactions: list[QontoTransaction]
    poison: list[tuple[dict[str, Any], str]]
    summary: PageSummary


@dataclass(slots=True)
class PageResult:
    published: list[PublishedVersion] = field(default_factory=list)
    skipped: int = 0
    poison: int = 0


def _timestamp(raw: Any) -> datetime | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return ensure_aware(raw)
    try:
        return ensure_aware(datetime.fromisoformat(str(raw).replace("Z", "+00:00")))
    except ValueError:
        return None


async def fetch_page(client: QontoApi, bank_account_id: str, request: PageRequest) -> FetchedPage:
    """One page of ``GET /v2/transactions`` for the request the planner made.

    Items are parsed one by one: one that does not parse is set aside (DLQ), it does
    not block the account.
    """
    filters: dict[str, Any] = dict(request.filters())
    params = client.transaction_params(bank_account_id=bank_account_id, **filters)
    try:
        page = await client.get_page(
            "/v2/transactions",
            "transactions",
            params,
            page=request.page,
            per_page=request.per_page,
        )
    except QontoValidationError as exc:
        if request.page > 1 and exc.status == 422:  # "past the last page", seen at Qonto
            return FetchedPage([], [], PageSummary(values=[], has_next=False, past_end=True))
        raise
    transactions: list[QontoTransaction] = []
    poison: list[tuple[dict[str, Any], str]] = []
    values: list[datetime | None] = []
    for raw in page.items:
        values.append(_timestamp(raw.get(request.field)) if isinstance(raw, dict) else None)
        try:
            transactions.append(QontoTransaction.model_validate(raw))
        except ValidationError as exc:
            poison.append((raw if isinstance(raw, dict) else {"raw": raw}, str(exc)[:1000]))
    summary = PageSummary(
        values=values,
        has_next=page.meta.next_page is not None and bool(page.items),
        total_count=page.meta.total_count,
    )
    return FetchedPage(transactions, poison, summary)


async def publish_page(
    page: FetchedPage,
    *,
    store: Store,
    sink: Publisher,
    metrics: SyncMetrics,
    connection_id: str,
    organization_id: str | None,
    source: TransactionSource,
) -> PageResult:
    """Publish the page's versions not yet on the topic; return once all are acknowledged."""
    result = PageResult()
    for raw, error in page.poison:
        key = str(raw.get("id")) if raw.get("id") is not None else None
        log.error("qonto_transaction_unparseable", connection_id=connection_id, id=key)
        await sink.publish_poison(raw, error, key=key)
        metrics.unparseable.labels(connection_id).inc()
        result.poison += 1
    if not page.transactions:
        return result
    known = await store.known_versions([t.id for t in page.transactions])
    selection = select_unseen(page.transactions, known)
    events = [
        transaction_event(
            t, source=source, connection_id=connection_id, organization_id=organization_id
        )
        for t in selection.publish
    ]
    await sink.publish_transactions(events)
    result.published = [
        PublishedVersion(e.transaction.id, e.transaction.updated_at, e.event_id, source)
        for e in events
    ]
    result.skipped = len(selection.seen)
    metrics.published.labels(connection_id, source).inc(len(events))
    metrics.skipped_seen.labels(connection_id, source).inc(result.skipped)
    return result
