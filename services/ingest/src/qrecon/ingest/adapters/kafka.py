"""Kafka side of ingest: keeps the broker connected, in the background.

Webhooks only need PostgreSQL to be acknowledged, so ingest starts and answers while
Kafka is down; :class:`BrokerConnector` connects the (idempotent, ``acks=all``) producer
as soon as Kafka answers and the relay publishes the backlog then. Once connected,
aiokafka reconnects by itself after an outage.
"""

from __future__ import annotations

import asyncio
import contextlib

from faststream.kafka import KafkaBroker

from qrecon.common.logging import get_logger

log = get_logger(__name__)


class BrokerConnector:
    def __init__(self, broker: KafkaBroker, *, backoff_max: float = 5.0) -> None:
        self.broker = broker
        self.backoff_max = backoff_max
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._connect(), name="kafka-connector")

    async def _connect(self) -> None:
        delay = 0.2
        attempts = 0
        while True:
            attempts += 1
            try:
                await self.broker.connect()
            except Exception as exc:
                if attempts == 1 or attempts % 10 == 0:
                    log.warning(
                        "kafka_unreachable", attempts=attempts, error=f"{type(exc).__name__}: {exc}"
                    )
                with contextlib.suppress(Exception):
                    await self.broker.stop()  # drop a half-started producer before retrying
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            log.info("kafka_connected", attempts=attempts)
            self.connected.set()
            return

    async def ping(self, *, timeout: float) -> bool:  # noqa: ASYNC109
        if not self.connected.is_set():
            return False
        try:
            return bool(await self.broker.ping(timeout=timeout))
        except Exception:
            return False

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.broker.stop()
        self.connected.clear()
