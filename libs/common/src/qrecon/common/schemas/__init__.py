"""Event schemas: the source of truth for the contracts of ``shared/architecture.md``."""

from qrecon.common.schemas.events import (
    SCHEMA_VERSION,
    Allocation,
    Invoice,
    InvoiceEvent,
    MatchResult,
    QontoWebhookEvent,
    TransactionEvent,
    polled_event_id,
    webhook_resource_id,
)
from qrecon.common.schemas.qonto import QontoTransaction

__all__ = [
    "SCHEMA_VERSION",
    "Allocation",
    "Invoice",
    "InvoiceEvent",
    "MatchResult",
    "QontoTransaction",
    "QontoWebhookEvent",
    "TransactionEvent",
    "polled_event_id",
    "webhook_resource_id",
]
