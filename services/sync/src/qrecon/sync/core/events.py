"""The events sync publishes for what it reads from the API. No I/O."""

from __future__ import annotations

from qrecon.common.schemas import QontoTransaction, TransactionEvent
from qrecon.common.schemas.events import TransactionSource, polled_event_id


def transaction_event(
    transaction: QontoTransaction,
    *,
    source: TransactionSource,
    connection_id: str,
    organization_id: str | None,
) -> TransactionEvent:
    """The event of a version read from the API (deterministic id: same version, same id)."""
    return TransactionEvent(
        event_id=polled_event_id(transaction.id, transaction.updated_at),
        source=source,
        connection_id=connection_id,
        organization_id=organization_id,
        transaction=transaction,
    )
