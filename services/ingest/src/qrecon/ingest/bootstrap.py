"""The composition root of ingest: PostgreSQL inbox, Kafka relay, HTTP app, lifecycle, and
the uvicorn server (``serve``; ``worker_app`` for each worker process).

Durability design (why an inbox in PostgreSQL rather than publishing from the handler):
Qonto wants a 2xx within 1 s and retries anything else, so the answer must mean "this
event will reach Kafka". Publishing synchronously would make every webhook fail while
Kafka is down or slow, and a crash between Kafka's ack and the HTTP answer (or an
answer sent before the ack) loses or duplicates events. Instead the handler commits the
event into ``ingest_inbox`` (``INSERT … ON CONFLICT DO NOTHING``: a redelivery is one
row) and answers; PostgreSQL's commit is the durability point. The relay
(:class:`qrecon.common.outbox.OutboxRelay`) then publishes pending rows with the
idempotent ``acks=all`` producer and marks them, retrying with backoff while Kafka is
down. If PostgreSQL cannot take the row in time, the answer is 503 and Qonto retries.

Guarantees:

* every acknowledged webhook is published (at least once), also across Kafka outages and
  ``kill -9`` of ingest, as long as PostgreSQL keeps its committed data;
* one webhook event id (per connection) is one row, so redeliveries within the
  retention (``INGEST_RETENTION_HOURS``, 7 days) publish nothing more;
* a Kafka outage produces no duplicate (the producer retries idempotently and the relay
  never re-sends a record it is still waiting for); a duplicate record is possible only if
  ingest dies (or PostgreSQL fails) after Kafka acknowledged a record and before its row
  was marked — consumers dedupe by the ``event-id`` header / transaction version.

Shutdown (SIGTERM/SIGINT): uvicorn stops accepting and finishes in-flight requests, then
the lifespan stops the inbox writers, lets the relay publish what is pending (up to
``INGEST_DRAIN_TIMEOUT_SECONDS``), flushes and closes the producer, closes the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

import asyncpg
import uvicorn
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from starlette.types import ASGIApp

from qrecon.common.http_server import bounded, uvicorn_options
from qrecon.common.kafka import kafka_security, make_broker, security_options
from qrecon.common.logging import configure_logging, get_logger
from qrecon.common.outbox import OutboxRelay
from qrecon.common.topic_admin import APPLY_HINT, MissingTopicsError, missing_topics
from qrecon.ingest import metrics
from qrecon.ingest.adapters import pg
from qrecon.ingest.adapters.http import create_http_app, serve_app
from qrecon.ingest.adapters.kafka import BrokerConnector
from qrecon.ingest.app.ports import Connection, Inbox, InboxUnavailable
from qrecon.ingest.core.payload import Routed
from qrecon.ingest.settings import PRODUCER_TUNING, TOPIC_CHECK_SECONDS, IngestSettings

log = get_logger(__name__)


class IngestRuntime:
    """The real runtime behind the HTTP routes (the ``app.ports.Runtime``)."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.connections: Mapping[str, Connection] = settings.resolve_connections()
        self.topics = settings.topics
        self.max_body_bytes = settings.max_body_bytes
        self.max_record_bytes = settings.max_record_bytes
        self.signature_tolerance_seconds = settings.signature_tolerance_seconds
        self.pool: asyncpg.Pool | None = None
        self.inbox: Inbox = _NotStarted()
        self.relay: OutboxRelay | None = None
        self.connector: BrokerConnector | None = None

    def now(self) -> float:
        return time.time()

    async def start(self) -> None:
        s = self.settings
        await self._check_topics()
        self.pool = await pg.wait_for_pool(
            s.database_url.get_secret_value(),
            size=s.pg_pool_size,
            timeout=s.startup_timeout_seconds,
        )
        applied = await pg.migrate(self.pool)
        writer = pg.InboxWriter(
            self.pool,
            writers=s.inbox_writers,
            batch_max=s.inbox_batch_max,
            timeout=s.durable_timeout_seconds,
            gather=s.inbox_gather_seconds,
        )
        await writer.start()
        self.inbox = writer
        broker = make_broker(
            s.kafka_bootstrap_servers,
            client_id="qonto-ingest",
            security=kafka_security(s),
            **PRODUCER_TUNING,
        )
        self.connector = BrokerConnector(broker)
        await self.connector.start()
        self.relay = OutboxRelay(
            self.pool,
            broker,
            table=pg.INBOX_TABLE,
            batch_size=s.relay_batch_size,
            poll_interval=s.relay_poll_interval_seconds,
            linger=s.relay_linger_seconds,
            retention=timedelta(hours=s.retention_hours),
            drain_timeout=s.drain_timeout_seconds,
            max_record_bytes=s.max_record_bytes,
        )
        await self.relay.start()
        # Everything allocated so far (modules, pydantic schemas, the app) lives as long as
        # the process: move it out of the collector's reach, so that the collections the
        # per-request garbage triggers do not traverse it again and again.
        gc.collect()
        gc.freeze()
        if not self.connections:
            log.warning("no_webhook_connection", hint="set QONTO_WEBHOOK_SECRET")
        log.info(
            "ingest_started",
            connections=sorted(self.connections),
            migrations=applied,
            topics=[self.topics.transactions, self.topics.qonto_events],
        )

    async def _check_topics(self) -> None:
        """Refuse to start when Kafka says our topics are missing (they are provisioned).

        Kafka unreachable is no reason to refuse webhooks: they wait in the inbox, so the
        check is then skipped with a warning.
        """
        names = [self.topics.transactions, self.topics.qonto_events]
        try:
            async with asyncio.timeout(TOPIC_CHECK_SECONDS):
                missing = await missing_topics(
                    self.settings.kafka_bootstrap_servers,
                    names,
                    **security_options(self.settings),
                )
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("topics_unchecked", error=f"{type(exc).__name__}: {exc}")
            return
        if missing:
            log.error("topics_missing", missing=missing, hint=APPLY_HINT)
            raise MissingTopicsError(missing)

    async def stop(self) -> None:
        if isinstance(self.inbox, pg.InboxWriter):
            await self.inbox.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self.connector is not None:
            try:
                async with asyncio.timeout(5):
                    await self.connector.stop()
            except TimeoutError:
                log.warning("kafka_close_timeout")
        if self.pool is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.pool.close()
        log.info("ingest_stopped")

    async def readiness(self) -> dict[str, bool]:
        async def postgres() -> bool:
            if self.pool is None:
                return False
            try:
                await pg.ping(self.pool, timeout=1.0)
            except Exception:
                return False
            return True

        async def kafka() -> bool:
            return self.connector is not None and await self.connector.ping(timeout=1.0)

        pg_ok, kafka_ok = await asyncio.gather(postgres(), kafka())
        metrics.KAFKA_CONNECTED.set(1 if kafka_ok else 0)
        return {"postgres": pg_ok, "kafka": kafka_ok}


class _NotStarted:
    async def write(self, connection_id: str, topic: str, routed: Routed) -> bool:
        raise InboxUnavailable("not started")


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """The ASGI application of ``qonto-ingest`` (settings from the environment by default)."""
    runtime = IngestRuntime(settings or IngestSettings())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return create_http_app(runtime, lifespan=lifespan)


def worker_app() -> ASGIApp:
    """The app of one worker process (uvicorn's factory; settings from the environment)."""
    settings = IngestSettings()
    configure_logging(settings.log_level, settings.log_format)
    return bounded(serve_app(create_app(settings)), settings)


def serve(settings: IngestSettings) -> None:
    """Run uvicorn until SIGTERM/SIGINT (one process, or ``settings.workers`` of them)."""
    # One process serves the app directly; several are started by uvicorn's supervisor
    # from the factory, each building its own app (and pool, writer, relay).
    several = settings.workers > 1
    app: ASGIApp | str = (
        "qrecon.ingest.bootstrap:worker_app"
        if several
        else bounded(serve_app(create_app(settings)), settings)
    )
    uvicorn.run(
        app,
        factory=several,
        workers=settings.workers if several else None,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        lifespan="on",
        backlog=2048,
        # A worker answers the supervisor's health check only once it has imported the
        # app (seconds on a busy or CPU-capped host): at uvicorn's 5 s default, workers
        # were killed and respawned for ever there.
        timeout_worker_healthcheck=60,
        timeout_graceful_shutdown=int(settings.drain_timeout_seconds) + 10,
        proxy_headers=False,  # nothing in ingest reads the client's address
        **uvicorn_options(settings),  # httptools with header timeout, connection cap, logs
    )
