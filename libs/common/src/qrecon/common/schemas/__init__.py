"""Event schemas: the source of truth for the contracts of ``shared/architecture.md``."""

from qrecon.common.schemas.events import (
    MAX_ALTERNATIVES,
    SCHEMA_VERSION,
    Allocation,
    Alternative,
    Invoice,
    InvoiceEvent,
    MatchResult,
    QontoWebhookEvent,
    TransactionEvent,
    polled_event_id,
    webhook_resource_id,
)
from qrecon.common.schemas.payment_links import PAYMENT_LINKS_TYPE, PaymentLinkEvent
from qrecon.common.schemas.qonto import QontoTransaction

__all__ = [
    "MAX_ALTERNATIVES",
    "PAYMENT_LINKS_TYPE",
    "SCHEMA_VERSION",
    "Allocation",
    "Alternative",
    "Invoice",
    "InvoiceEvent",
    "MatchResult",
    "PaymentLinkEvent",
    "QontoTransaction",
    "QontoWebhookEvent",
    "TransactionEvent",
    "polled_event_id",
    "webhook_resource_id",
]
