"""Kafka consumers of the matcher: ``qonto.transactions.v1``, ``invoices.v1`` and (payment
links, ``MATCHER_PAYMENT_LINKS``) ``qonto.events.v1``.

Delivery and offsets
--------------------
Both topics are consumed in one consumer group (``MATCHER_GROUP_ID``) by FastStream
batch subscribers with ``AckPolicy.MANUAL`` and no auto-commit: a batch's offsets are
committed (``msg.ack()``) only after every record of it has been *effected* — its decision
committed in PostgreSQL (with the outbox row of its result) or the record dead-lettered.
If anything interrupts a batch (shutdown, a crash), the consumer seeks back / the group
re-delivers from the last commit, and the version check makes the replay a no-op.

``qonto.events.v1`` is read in a group of its own (``MATCHER_EVENTS_CONSUMER_GROUP``), with
the same commit, retry and dead-letter policy: ``v1/payment-links`` webhooks are recorded
(:mod:`qrecon.matcher.app.payment_links`), every other type is skipped from its
``event-type`` header without being decoded; a link that became paid re-examines its
organisation's open decisions once per batch.

Within a batch, records of different transactions are processed concurrently (up to
``MATCHER_CONCURRENCY``); records of one transaction (one key) stay in order.

Failures
--------
* *Transient* (PostgreSQL or Kafka unreachable, a deadlock, a serialisation failure): the
  record is retried with capped exponential backoff for as long as it takes — a poison
  verdict would be wrong when every record fails; ``/readyz`` turns red meanwhile.
* *Poison* (not JSON, not a valid event, or an error that persists): retried
  ``MATCHER_MAX_ATTEMPTS`` times with backoff, then published to ``<topic>.dlq`` with the
  original key, value and headers plus ``dlq-error``, ``dlq-source-topic``,
  ``dlq-source-partition``, ``dlq-source-offset``, ``dlq-attempts``; then its offset is
  committed like any other, so the partition moves on. An undecodable record goes to the
  DLQ at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from qrecon.common import topics as topic_names
from qrecon.common.logging import get_logger
from qrecon.common.schemas import (
    PAYMENT_LINKS_TYPE,
    InvoiceEvent,
    PaymentLinkEvent,
    QontoWebhookEvent,
    TransactionEvent,
)
from qrecon.common.topics import Topics
from qrecon.matcher import metrics
from qrecon.matcher.app.errors import MissingOrganization
from qrecon.matcher.app.payment_links import LinkOutcome, PaymentLinkEvents
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.settings import MatcherSettings

log = get_logger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    OSError,
    TimeoutError,
    KafkaError,
)


class Interrupted(Exception):
    """The service is stopping while a record waits for a transient failure to pass."""


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:1000]


def _headers(record: Any) -> dict[str, str]:
    return {
        name: (value or b"").decode("utf-8", errors="replace")
        for name, value in (record.headers or ())
    }


class StreamConsumers:
    """The subscribers of one replica, and the per-record retry / dead-letter policy."""

    def __init__(
        self,
        broker: KafkaBroker,
        service: MatcherService,
        settings: MatcherSettings,
        topics: Topics,
        links: PaymentLinkEvents | None = None,
    ) -> None:
        self.broker = broker
        self.links = links
        self.service = service
        self.settings = settings
        self.topics = topics
        self.stopping = asyncio.Event()
        self.transient_failures = 0
        common: dict[str, Any] = {
            "group_id": settings.group_id,
            "batch": True,
            "max_records": settings.batch_size,
            "auto_offset_reset": settings.auto_offset_reset,
            "ack_policy": AckPolicy.MANUAL,
            "heartbeat_interval_ms": settings.heartbeat_interval_ms,
            "session_timeout_ms": settings.session_timeout_ms,
            "decoder": _no_decode,
        }
        self.transactions_subscriber = broker.subscriber(topics.transactions, **common)
        self.invoices_subscriber = broker.subscriber(topics.invoices, **common)
        self.transactions_subscriber(self._batch_handler(self._transactions_batch))
        self.invoices_subscriber(self._batch_handler(self._invoices_batch))
        self.events_subscriber: Any = None
        if links is not None:
            self.events_subscriber = broker.subscriber(
                topics.qonto_events, **{**common, "group_id": settings.events_group_id}
            )
            self.events_subscriber(self._batch_handler(self._events_batch))

    @property
    def subscribers(self) -> list[Any]:
        found = [self.transactions_subscriber, self.invoices_subscriber]
        return found if self.events_subscriber is None else [*found, self.events_subscriber]

    # ------------------------------------------------------------------ batches
    @staticmethod
    def _batch_handler(
        process: Callable[[Sequence[Any]], Awaitable[None]],
    ) -> Callable[..., Awaitable[None]]:
        async def handle(msg: KafkaMessage) -> None:
            records = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
            try:
                await process(records)
            except BaseException:
                # Not effected: rewind so that nothing after it is committed.
                with contextlib.suppress(Exception):
                    await msg.nack()
                raise
            await msg.ack()

        return handle

    async def _transactions_batch(self, records: Sequence[Any]) -> None:
        by_key: dict[bytes | None, list[Any]] = {}
        for record in records:
            by_key.setdefault(record.key, []).append(record)
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def run(group: list[Any]) -> None:
            async with gate:
                for record in group:
                    await self._process(record, self._apply_transaction)

        outcomes = await asyncio.gather(*(run(g) for g in by_key.values()), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _invoices_batch(self, records: Sequence[Any]) -> None:
        currencies: dict[str, set[str]] = {}  # organisation -> currencies of new open invoices
        for record in records:
            outcome = await self._process(record, self._apply_invoice)
            if isinstance(outcome, tuple):
                currencies.setdefault(outcome[0], set()).add(outcome[1])
        for organization, wanted in sorted(currencies.items()):
            await self._retry_transient(
                lambda o=organization, w=wanted: self.service.reexamine(w, o),  # type: ignore[misc]
                "reexamine",
            )

    async def _events_batch(self, records: Sequence[Any]) -> None:
        paid: dict[str, set[str]] = {}  # organisation -> currencies of links now paid
        for record in records:
            kind = _headers(record).get(topic_names.HEADER_EVENT_TYPE)
            if kind is not None and kind != PAYMENT_LINKS_TYPE:
                continue  # another webhook type: not the matcher's
            outcome = await self._process(record, self._apply_link)
            if isinstance(outcome, LinkOutcome) and outcome.paid_currency is not None:
                paid.setdefault(outcome.organization, set()).add(outcome.paid_currency)
        for organization, wanted in sorted(paid.items()):
            await self._retry_transient(
                lambda o=organization, w=wanted: self.service.reexamine(w, o),  # type: ignore[misc]
                "reexamine",
            )

    # ------------------------------------------------------------------ records
    async def _apply_link(self, value: bytes) -> LinkOutcome | str:
        envelope = QontoWebhookEvent.model_validate_json(value)
        if envelope.type != PAYMENT_LINKS_TYPE:
            return "skipped"  # no event-type header, another type
        assert self.links is not None
        event = PaymentLinkEvent.model_validate_json(value)
        organization = self.service.organization_of(event.organization_id, "the payment link")
        outcome = await self.links.handle(event, organization)
        metrics.PAYMENT_LINKS.labels(
            "stale" if not outcome.applied else "paid" if outcome.paid_currency else "applied"
        ).inc()
        return outcome

    async def _apply_transaction(self, value: bytes) -> str:
        event = TransactionEvent.model_validate_json(value)
        outcome = await self.service.handle_transaction_event(event)
        return "applied" if outcome.applied else outcome.reason or "skipped"

    async def _apply_invoice(self, value: bytes) -> tuple[str, str] | None:
        event = InvoiceEvent.model_validate_json(value)
        outcome = await self.service.handle_invoice_event(event)
        # A new open invoice (or the replay of one): re-examine once per batch.
        return (outcome.organization, outcome.currency) if outcome.open else None

    async def _process(self, record: Any, apply: Callable[[bytes], Awaitable[Any]]) -> Any:
        """Effect one record: apply it, or dead-letter it. Raises only Interrupted."""
        started = time.perf_counter()
        attempts = 0
        delay = self.settings.retry_backoff_seconds
        while True:
            attempts += 1
            try:
                outcome = await apply(record.value or b"")
            except (ValidationError, ValueError, UnicodeDecodeError) as exc:
                if isinstance(exc, ValidationError | MissingOrganization) or _is_decode_error(exc):
                    await self._dead_letter(record, exc, attempts)
                    return None
                error: BaseException = exc
            except TRANSIENT as exc:
                await self._wait_transient(exc, record.topic)
                attempts -= 1
                continue
            except Exception as exc:
                error = exc
            else:
                metrics.PROCESSING.labels(record.topic).observe(time.perf_counter() - started)
                metrics.RECORDS.labels(
                    record.topic,
                    outcome
                    if isinstance(outcome, str) and outcome in {"applied", "stale", "duplicate"}
                    else "applied",
                ).inc()
                self.transient_failures = 0
                return outcome
            if attempts >= self.settings.max_attempts:
                await self._dead_letter(record, error, attempts)
                return None
            metrics.RETRIES.labels("error").inc()
            log.warning(
                "matcher_record_retry",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                attempt=attempts,
                error=_describe(error),
            )
            await self._sleep(delay)
            delay = min(delay * 2, self.settings.max_transient_backoff_seconds)

    async def _wait_transient(self, exc: BaseException, topic: str) -> None:
        self.transient_failures += 1
        metrics.RETRIES.labels("transient").inc()
        if self.transient_failures == 1 or self.transient_failures % 20 == 0:
            log.warning(
                "matcher_transient_failure",
                topic=topic,
                failures=self.transient_failures,
                error=_describe(exc),
            )
        if self.stopping.is_set():
            raise Interrupted(_describe(exc)) from exc
        backoff = min(
            self.settings.retry_backoff_seconds * 2 ** min(self.transient_failures, 10),
            self.settings.max_transient_backoff_seconds,
        )
        await self._sleep(backoff)
        if self.stopping.is_set():
            raise Interrupted(_describe(exc)) from exc

    async def _retry_transient(self, work: Callable[[], Awaitable[Any]], what: str) -> Any:
        while True:
            try:
                return await work()
            except TRANSIENT as exc:
                await self._wait_transient(exc, what)
            except Exception as exc:  # best effort: a sweep or a refresh will catch up
                log.error("matcher_step_failed", step=what, error=_describe(exc), exc_info=True)
                return None

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _dead_letter(self, record: Any, exc: BaseException, attempts: int) -> None:
        target = topic_names.dlq(record.topic)
        headers = _headers(record)
        headers.update(
            {
                topic_names.HEADER_DLQ_ERROR: _describe(exc),
                topic_names.HEADER_DLQ_SOURCE_TOPIC: record.topic,
                topic_names.HEADER_DLQ_SOURCE_PARTITION: str(record.partition),
                topic_names.HEADER_DLQ_SOURCE_OFFSET: str(record.offset),
                topic_names.HEADER_DLQ_ATTEMPTS: str(attempts),
            }
        )
        log.error(
            "matcher_dead_letter",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            attempts=attempts,
            error=_describe(exc),
        )

        async def publish() -> None:
            await self.broker.publish(record.value or b"", target, key=record.key, headers=headers)

        while True:
            try:
                await publish()
                break
            except Exception as error:  # Kafka down: the record waits, it is not lost
                await self._wait_transient(error, target)
        metrics.DLQ.labels(record.topic).inc()
        metrics.RECORDS.labels(record.topic, "dead_lettered").inc()

    # ------------------------------------------------------------------ lag
    async def update_lag(self) -> dict[str, int]:
        """Set ``matcher_consumer_lag`` from each assigned partition's high watermark."""
        lags: dict[str, int] = {}
        for subscriber in self.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None:
                continue
            for tp in consumer.assignment():
                highwater = consumer.highwater(tp)
                if highwater is None:
                    continue
                try:
                    position = await asyncio.wait_for(consumer.position(tp), 1.0)
                except Exception:  # noqa: S112 - rebalancing: next time
                    continue
                lag = max(0, highwater - position)
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)
                lags[f"{tp.topic}:{tp.partition}"] = lag
        return lags

    def assigned(self) -> bool:
        return any(
            getattr(s, "consumer", None) is not None and s.consumer.assignment()
            for s in self.subscribers
        )


def _is_decode_error(exc: BaseException) -> bool:
    return isinstance(exc, UnicodeDecodeError) or type(exc).__name__ == "JSONDecodeError"


async def _no_decode(msg: Any) -> None:
    """The handler reads the raw records itself (a poison body must reach it intact)."""
    return None
