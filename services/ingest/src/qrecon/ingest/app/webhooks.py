"""Receiving one webhook: verify it, turn it into its Kafka record, make it durable.

The HTTP adapter parses the request (headers, body limits, content type), calls
``ReceiveWebhook`` and renders the outcome; a webhook is acknowledged only once
``Inbox.write`` returned (the row is committed, or was already there: a redelivery).
Refusals are exceptions the adapter maps to statuses:

=========================  ===================================================
``SignatureError``         missing, malformed, stale or wrong signature (core)
``PayloadError``           signed, but not a usable Qonto event (core)
``RecordTooLarge``         the record would exceed Kafka's limit
``NotDurable``             the inbox could not take it now (the sender retries)
=========================  ===================================================

The signature header and its timestamp are checked before the body is read
(``read_body`` is called only then): a stale or unsigned request costs no body read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from qrecon.common.logging import get_logger
from qrecon.ingest.app.ports import Connection, Runtime
from qrecon.ingest.core.payload import route_webhook
from qrecon.ingest.core.signature import check_signature, check_timestamp
from qrecon.ingest.core.signature import parse_signature_header as parse_header

log = get_logger(__name__)


class RecordTooLarge(Exception):
    """The Kafka record the webhook becomes would be refused by the broker."""


class NotDurable(Exception):
    """The inbox could not make the event durable now."""


@dataclass(frozen=True, slots=True)
class Accepted:
    event_id: str
    new: bool  # False: a redelivery, already stored
    event_type: str = ""  # the webhook's type, e.g. "v1/transactions"


class ReceiveWebhook:
    """The use case behind ``POST /webhooks/qonto[/{connection_id}]``."""

    __slots__ = ("runtime",)

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def connection(self, connection_id: str) -> Connection | None:
        """The connection a request names (None: unknown, refused before anything else)."""
        return self.runtime.connections.get(connection_id)

    async def __call__(
        self,
        connection: Connection,
        signature: str | None,
        read_body: Callable[[], Awaitable[bytes]],
    ) -> Accepted:
        runtime = self.runtime
        now = runtime.now()
        header = parse_header(signature)
        check_timestamp(header, now=now, tolerance=runtime.signature_tolerance_seconds)
        body = await read_body()
        check_signature(header, body, connection.secrets)
        routed = route_webhook(
            body,
            connection_id=connection.id,
            observed_at=datetime.fromtimestamp(now, UTC),
            organization_id=connection.organization_id,
        )
        if routed.record_bytes > runtime.max_record_bytes:
            # Kafka would refuse it: acknowledging it would be a promise not kept.
            raise RecordTooLarge("event too large for a Kafka record")
        topic = routed.topic(runtime.topics.transactions, runtime.topics.qonto_events)
        try:
            # The inbox enforces INGEST_DURABLE_TIMEOUT_SECONDS itself (one reaper, no
            # timer per request).
            new = await runtime.inbox.write(connection.id, topic, routed)
        except Exception as exc:  # InboxUnavailable (down, slow): Qonto will retry
            log.warning(
                "webhook_not_durable",
                connection_id=connection.id,
                event_id=routed.event_id,
                error=type(exc).__name__,
            )
            raise NotDurable(type(exc).__name__) from exc
        return Accepted(routed.event_id, new, routed.event_type)
