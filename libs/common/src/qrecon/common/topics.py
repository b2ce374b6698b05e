"""Kafka topic names: the contract of ``shared/architecture.md``."""

from __future__ import annotations

TRANSACTIONS = "qonto.transactions.v1"
QONTO_EVENTS = "qonto.events.v1"
INVOICES = "invoices.v1"
MATCHES = "reconciliation.matches.v1"

ALL_TOPICS = (TRANSACTIONS, QONTO_EVENTS, INVOICES, MATCHES)


def dlq(topic: str) -> str:
    """The dead-letter topic of a source topic."""
    return f"{topic}.dlq"


# Message headers every producer sets.
HEADER_EVENT_ID = "event-id"
HEADER_EVENT_TYPE = "event-type"
HEADER_SCHEMA_VERSION = "schema-version"
# Set on dead-lettered messages.
HEADER_DLQ_ERROR = "dlq-error"
HEADER_DLQ_SOURCE_TOPIC = "dlq-source-topic"
HEADER_DLQ_SOURCE_PARTITION = "dlq-source-partition"
HEADER_DLQ_SOURCE_OFFSET = "dlq-source-offset"
HEADER_DLQ_ATTEMPTS = "dlq-attempts"


class Topics:
    """The contract's topic names under an optional prefix.

    Production runs with no prefix; tests give each case its own prefix so that topics
    never leak between them (``KAFKA_TOPIC_PREFIX``).
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.transactions = prefix + TRANSACTIONS
        self.qonto_events = prefix + QONTO_EVENTS
        self.invoices = prefix + INVOICES
        self.matches = prefix + MATCHES

    def dlq(self, topic: str) -> str:
        return dlq(topic)

    def all(self) -> tuple[str, ...]:
        return (self.transactions, self.qonto_events, self.invoices, self.matches)
