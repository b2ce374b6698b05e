"""Publishing to Kafka: transaction versions and invoice events, acknowledged before return."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from qrecon.common import topics as topic_names
from qrecon.common.kafka import publish_event
from qrecon.common.schemas import InvoiceEvent, TransactionEvent
from qrecon.common.topics import Topics


class KafkaSink:
    """The ``Publisher`` port on Kafka: publishes on the contract topics and returns only
    once the broker acknowledged all."""

    def __init__(self, broker: KafkaBroker, topics: Topics) -> None:
        self.broker = broker
        self.topics = topics

    async def publish_transactions(self, events: Sequence[TransactionEvent]) -> None:
        if not events:
            return
        # Sent concurrently (the producer batches them; same key -> same partition, in
        # call order), then every acknowledgement awaited. A failure raises after all
        # settled: the caller does not checkpoint, the page is published again later
        # (same event ids, harmless).
        results = await asyncio.gather(
            *(
                publish_event(
                    self.broker,
                    self.topics.transactions,
                    key=event.key,
                    value=event,
                    event_id=event.event_id,
                    event_type=event.event_type,
                )
                for event in events
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def publish_invoice(self, event: InvoiceEvent) -> None:
        await publish_event(
            self.broker,
            self.topics.invoices,
            key=event.key,
            value=event,
            event_id=event.event_id,
            event_type=event.event_type,
        )

    async def publish_poison(self, raw: Any, error: str, *, key: str | None) -> None:
        """An API item that does not parse, kept on ``<topic>.dlq`` for a human."""
        body = json.dumps(raw, default=str, separators=(",", ":")).encode()
        await self.broker.publish(
            body,
            self.topics.dlq(self.topics.transactions),
            key=key.encode() if key else None,
            headers={
                topic_names.HEADER_DLQ_ERROR: error[:1000],
                topic_names.HEADER_DLQ_SOURCE_TOPIC: "qonto-api:/v2/transactions",
                topic_names.HEADER_EVENT_TYPE: "qonto.transaction.unparseable",
            },
        )
