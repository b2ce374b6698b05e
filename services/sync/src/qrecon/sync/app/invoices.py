"""Polling Qonto's client and supplier invoices into ``invoices.v1`` (when enabled).

Every cycle lists both kinds **incrementally**, maps each (``core.invoices``), and
publishes an ``invoice.upsert`` / ``invoice.cancel`` only when what would be published
differs from what was published last time (a content hash per invoice in
``sync_invoice_state``, recorded after the broker acknowledged).

Incremental, as transactions are: each (connection, kind) has an ``updated_at``
watermark (``sync_invoice_watermarks``); a pass asks ``filter[updated_at_from]`` =
watermark - ``overlap`` (the documented filter of both lists), sorted by ``created_at``
ascending (an update while paging moves nothing; a new invoice lands at the end). When
the pass has read every page, the watermark becomes the latest change Qonto showed
(``core.invoices.invoice_changed_at``: Qonto's clock, not ours, so an emulator or a
server with another clock is read right). Without a watermark (the first pass, or a
kind that never showed a time) everything is listed. A pass that fails keeps the old
watermark: the next one re-reads, and the hashes keep the topic free of repeats.

A missing OAuth scope for one kind is logged and that kind skipped; the other kind and
the transactions carry on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from qrecon.common.logging import get_logger
from qrecon.common.qonto import QontoForbidden
from qrecon.sync.app.ports import Fence, Publisher, QontoApi, Store
from qrecon.sync.core.invoices import (
    QontoInvoiceKind,
    content_hash,
    invoice_changed_at,
    invoices_since,
    map_invoice,
    to_invoice_event,
)
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)

#: The overlap when none is given (sync passes ``SYNC_OVERLAP_SECONDS``).
DEFAULT_OVERLAP = timedelta(minutes=10)
#: Pages sorted so that neither an update nor a new invoice shifts what is still unread.
SORT_BY = "created_at:asc"


async def sync_invoices_once(
    client: QontoApi,
    *,
    store: Store,
    sink: Publisher,
    metrics: SyncMetrics,
    connection_id: str,
    fence: Fence | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    organization_id: str | None = None,
) -> Counter[str]:
    """One pass over both kinds; returns counts by outcome (``listed`` counts what Qonto
    answered, ``<kind>:full`` a kind listed without a watermark).

    With a ``fence``, each record and the watermark are written only while the
    connection's invoices lease is held (``LeaseLost`` otherwise).
    """
    counts: Counter[str] = Counter()
    listings: list[tuple[QontoInvoiceKind, Callable[..., AsyncIterator[dict[str, Any]]]]] = [
        ("client_invoice", client.iter_client_invoices),
        ("supplier_invoice", client.iter_supplier_invoices),
    ]
    watermarks = await store.invoice_watermarks(connection_id)
    for kind, listing in listings:
        previous = watermarks.get(kind)
        since = invoices_since(previous, overlap)
        if since is None:
            counts[f"{kind}:full"] += 1
        latest: datetime | None = None
        try:
            batch: list[dict[str, Any]] = []
            async for raw in listing(updated_at_from=since, sort_by=SORT_BY):
                counts["listed"] += 1
                changed = invoice_changed_at(raw)
                if changed is not None and (latest is None or changed > latest):
                    latest = changed
                batch.append(raw)
                if len(batch) >= 100:
                    await _handle(
                        batch,
                        kind,
                        store,
                        sink,
                        metrics,
                        (connection_id, organization_id),
                        counts,
                        fence,
                    )
                    batch = []
            await _handle(
                batch, kind, store, sink, metrics, (connection_id, organization_id), counts, fence
            )
            if latest is not None and (previous is None or latest > previous):
                await store.set_invoice_watermark(connection_id, kind, latest, fence=fence)
        except QontoForbidden as exc:
            metrics.errors.labels(connection_id, "invoices", type(exc).__name__).inc()
            log.warning(
                "qonto_invoices_forbidden",
                connection_id=connection_id,
                kind=kind,
                detail=str(exc),
                hint="the OAuth scope client_invoices.read / supplier_invoice.read is missing",
            )
            counts[f"{kind}:forbidden"] += 1
    return counts


async def _handle(
    batch: list[dict[str, Any]],
    kind: QontoInvoiceKind,
    store: Store,
    sink: Publisher,
    metrics: SyncMetrics,
    source: tuple[str, str | None],  # the connection and its organisation
    counts: Counter[str],
    fence: Fence | None,
) -> None:
    if not batch:
        return
    connection_id, organization_id = source
    mapped = [map_invoice(kind, raw) for raw in batch]
    ids = [m.invoice.id for m in mapped if m.invoice is not None]
    previous = await store.invoice_hashes(ids)
    for mapping in mapped:
        if mapping.invoice is None or mapping.action == "skip":
            reason = (mapping.reason or "skipped").split(" ")[0]
            metrics.invoices_skipped.labels(connection_id, kind, reason).inc()
            counts["skipped"] += 1
            continue
        digest = content_hash(mapping)
        if previous.get(mapping.invoice.id) == digest:
            metrics.invoices_skipped.labels(connection_id, kind, "unchanged").inc()
            counts["unchanged"] += 1
            continue
        event = to_invoice_event(
            mapping, connection_id=connection_id, organization_id=organization_id
        )
        await sink.publish_invoice(event)
        await store.record_invoice(
            invoice_id=mapping.invoice.id,
            connection_id=connection_id,
            qonto_kind=kind,
            content_hash=digest,
            event_id=event.event_id,
            event_type=event.event_type,
            fence=fence,
        )
        metrics.invoices_published.labels(connection_id, kind, event.event_type).inc()
        counts[event.event_type] += 1
