"""The composition root of ``qonto-matcher run``: reads settings, builds the adapters,
injects them into the use cases (:mod:`qrecon.matcher.app`), starts and stops them.

Start order: PostgreSQL (migrations applied under an advisory lock, so replicas can start
together), the cache, Kafka (consumers and producer), the outbox relay (one active per
deployment, see :mod:`.adapters.relay`), background loops (cache refresh, sweep of
``needs_redecide``, consumer lag), then the HTTP server.

Graceful stop (SIGTERM/SIGINT): the HTTP server stops taking requests; the consumers stop
fetching and finish the batch in hand (a record waiting on a transient failure gives up
and is re-delivered later); the relay publishes what is pending (bounded); then Kafka and
PostgreSQL are closed. Nothing in flight is lost either way: a decision is committed with
its outbox row or not at all, and offsets follow the decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import uvicorn

from qrecon.common.db import apply_migrations, create_pool, load_migrations
from qrecon.common.http_server import bounded, uvicorn_options
from qrecon.common.kafka import kafka_security, make_broker, security_options
from qrecon.common.logging import get_logger
from qrecon.common.outbox import OutboxRelay
from qrecon.common.topic_admin import require_topics
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.adapters.kafka import StreamConsumers
from qrecon.matcher.adapters.postgres_desk import PgDeskStore
from qrecon.matcher.adapters.postgres_keys import PgKeyStore
from qrecon.matcher.adapters.postgres_links import PgPaymentLinks
from qrecon.matcher.adapters.postgres_orgs import adopt_default_organization
from qrecon.matcher.adapters.postgres_uow import OUTBOX_TABLE, PgDatabase
from qrecon.matcher.adapters.relay import RelayLeadership
from qrecon.matcher.adapters.runtime import Server, bind, every
from qrecon.matcher.adapters.web import Desk
from qrecon.matcher.adapters.web.security import Argon2Hasher
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.desk_people import People
from qrecon.matcher.app.desk_queue import BulkConfirm, DeskQueries
from qrecon.matcher.app.keys import ApiKeys
from qrecon.matcher.app.payment_links import PaymentLinkEvents
from qrecon.matcher.app.ports import Engine
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.core import EngineConfig, MatchingEngine
from qrecon.matcher.settings import MatcherSettings

log = get_logger(__name__)

COMPONENT = "matcher"
MIGRATIONS_PACKAGE = "qrecon.matcher.migrations"


async def migrate(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        return await apply_migrations(conn, load_migrations(COMPONENT, MIGRATIONS_PACKAGE))


def required_topics(topics: Topics, *, events: bool = False) -> list[str]:
    """What the matcher consumes, publishes and dead-letters to (``events``: it reads the
    payment links of ``qonto.events.v1`` too)."""
    t = topics
    names = [t.transactions, t.invoices, t.matches, t.dlq(t.transactions), t.dlq(t.invoices)]
    return [*names, t.qonto_events, t.dlq(t.qonto_events)] if events else names


def database(pool: asyncpg.Pool, topics: Topics) -> PgDatabase:
    """The store on ``pool``; results are published to ``topics.matches`` via the outbox."""
    return PgDatabase(pool, topics.matches)


def build_service(
    pool: asyncpg.Pool,
    engine: Engine,
    state: MatcherState,
    topics: Topics,
    settings: MatcherSettings | None = None,
    **overrides: Any,
) -> MatcherService:
    """The use cases on PostgreSQL (``overrides``: tuning, for tests)."""
    tuning: dict[str, Any] = {}
    if settings is not None:
        tuning = {
            "conflict_retries": settings.conflict_retries,
            "reexamine_days": settings.reexamine_days,
            "reexamine_limit": settings.reexamine_limit,
            "default_organization": settings.default_organization,
            "auto_match": settings.auto_match,
        }
    tuning.update(overrides)
    return MatcherService(database(pool, topics), engine, state, **tuning)


@contextlib.asynccontextmanager
async def key_store(database_url: str) -> AsyncIterator[ApiKeys]:
    """The review API keys (``qonto-matcher keys``), on a migrated database."""
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        await migrate(pool)
        yield ApiKeys(PgKeyStore(pool))
    finally:
        await pool.close()


def build_desk(pool: asyncpg.Pool, service: MatcherService) -> Desk:
    """The review desk (``/desk``) on ``pool``, deciding through ``service``."""
    store = PgDeskStore(pool)
    return Desk(
        people=People(store, Argon2Hasher(), clock=service.clock),
        queries=DeskQueries(store, lambda org: service.for_organization(org).queries),
        bulk=BulkConfirm(store, service),
        decider=service,
    )


class MatcherRuntime:
    """One replica of the matcher service."""

    def __init__(self, settings: MatcherSettings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.engine: Engine = engine if engine is not None else MatchingEngine(EngineConfig())
        self.pool: asyncpg.Pool | None = None  # the consumers', relay's and caches'
        self.api_pool: asyncpg.Pool | None = None  # the review API's alone
        self.state = MatcherState(
            refresh_overlap=timedelta(seconds=settings.cache_refresh_overlap_seconds),
            link_window=(
                timedelta(days=settings.payment_link_days_before),
                timedelta(days=settings.payment_link_days_after),
            ),
        )
        self.service: MatcherService | None = None
        self.consumers: StreamConsumers | None = None
        self.relay: OutboxRelay | None = None
        self.leadership: RelayLeadership | None = None
        self.broker: Any = None
        self.server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._server_task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._sock: socket.socket | None = None

    def required_topics(self) -> list[str]:
        return required_topics(self.topics, events=self.settings.payment_links)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        s = self.settings
        if s.api_enabled and (s.api_token is None or not s.api_token.get_secret_value()):
            raise RuntimeError("MATCHER_API_TOKEN is not set (the review API requires it)")
        # Topics are provisioned, never auto-created: stop here, naming the missing ones.
        await require_topics(
            s.kafka_bootstrap_servers, self.required_topics(), **security_options(s)
        )
        # Bound first: a port in use fails the start before anything else (and is an error
        # here, where uvicorn would exit the process).
        sock = self._sock = bind(s.host, s.port) if s.api_enabled else None
        self.pool = await create_pool(
            s.database_url.get_secret_value(), min_size=2, max_size=s.db_pool_size
        )
        applied = await migrate(self.pool)
        if applied:
            log.info("matcher_migrations_applied", migrations=applied)
        await adopt_default_organization(self.pool, s.default_organization)
        self.service = build_service(self.pool, self.engine, self.state, self.topics, s)
        links: PaymentLinkEvents | None = None
        if s.payment_links:
            self.state.link_store = PgPaymentLinks(self.pool)
            links = PaymentLinkEvents(self.state.link_store, self.state)
        await self.state.load(self.service.db)
        self.broker = make_broker(
            s.kafka_bootstrap_servers,
            client_id=s.client_id,
            security=kafka_security(s),
            log_level=logging.DEBUG,
        )
        self.consumers = StreamConsumers(self.broker, self.service, s, self.topics, links)
        self.relay = OutboxRelay(
            self.pool,
            self.broker,
            table=OUTBOX_TABLE,
            poll_interval=s.outbox_poll_seconds,
            retention=timedelta(days=s.outbox_retention_days),
        )
        self.leadership = RelayLeadership(
            self.pool, self.relay, retry_seconds=s.relay_retry_seconds
        )
        await self.broker.start()
        await self.leadership.start()
        self._tasks = [
            asyncio.create_task(
                every(s.cache_refresh_seconds, self._refresh, "refresh"), name="cache"
            ),
            asyncio.create_task(
                every(s.cache_full_reload_seconds, self._reload, "reload"), name="reload"
            ),
            asyncio.create_task(every(s.sweep_seconds, self._sweep, "sweep"), name="sweep"),
            asyncio.create_task(every(s.lag_seconds, self._lag, "lag"), name="lag"),
        ]
        if s.api_enabled:
            await self._start_api(sock)
        log.info(
            "matcher_started",
            group_id=s.group_id,
            client_id=s.client_id,
            http=f"{s.host}:{s.port}" if s.api_enabled else None,
            topics=[self.topics.transactions, self.topics.invoices]
            + ([self.topics.qonto_events] if s.payment_links else []),
        )

    async def _start_api(self, sock: socket.socket | None) -> None:
        s = self.settings
        assert self.service is not None
        self.api_pool = await create_pool(
            s.database_url.get_secret_value(),
            min_size=1,
            max_size=s.api_pool_size,
        )
        api_service = self.service.with_database(database(self.api_pool, self.topics))
        app = create_app(
            api_service,
            api_token=s.api_token,
            readiness=self.readiness,
            max_body_bytes=s.api_max_body_bytes,
            keys=ApiKeys(PgKeyStore(self.api_pool)),
            desk=build_desk(self.api_pool, api_service),
        )
        config = uvicorn.Config(
            bounded(app, s), host=s.host, port=s.port, lifespan="off", **uvicorn_options(s)
        )
        self.server = Server(config)
        assert sock is not None
        self._server_task = asyncio.create_task(self.server.serve([sock]), name="http")
        while not self.server.started and not self._server_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if self._server_task.done():
            try:
                self._server_task.result()
            except BaseException as exc:
                raise RuntimeError(f"HTTP server failed on {s.host}:{s.port}") from exc
            raise RuntimeError(f"HTTP server stopped on {s.host}:{s.port}")

    async def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        timeout = self.settings.shutdown_timeout_seconds
        if self.consumers is not None:
            self.consumers.stopping.set()
        if self.server is not None and self._server_task is not None:
            self.server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server_task, timeout)
        if self.consumers is not None:
            for subscriber in self.consumers.subscribers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(subscriber.stop(), timeout)
        for task in self._tasks:
            task.cancel()
        # Every step is bounded, so a stop always ends (compose's grace period counts on it).
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, timeout)
        if self.leadership is not None:
            with contextlib.suppress(Exception):
                # the leader drains what is pending
                await asyncio.wait_for(self.leadership.stop(), timeout)
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.broker.stop(), timeout)
        if self._sock is not None:
            self._sock.close()
        for pool in (self.api_pool, self.pool):
            if pool is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pool.close(), timeout)
        log.info("matcher_stopped")

    async def __aenter__(self) -> MatcherRuntime:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ probes
    async def readiness(self) -> dict[str, bool]:
        checks = {"postgres": False, "kafka": False, "cache": self.state.loaded}
        if self.pool is not None:
            with contextlib.suppress(Exception):
                async with self.pool.acquire(timeout=2.0) as conn:
                    await conn.fetchval("SELECT 1", timeout=2.0)
                checks["postgres"] = True
        if self.broker is not None:
            with contextlib.suppress(Exception):
                checks["kafka"] = bool(await self.broker.ping(timeout=2.0))
        checks["consumers"] = self.consumers is not None and not self.consumers.stopping.is_set()
        return checks

    # ------------------------------------------------------------------ loops
    async def _refresh(self) -> None:
        assert self.service is not None
        await self.state.refresh(self.service.db)

    async def _reload(self) -> None:
        assert self.service is not None
        await self.state.load(self.service.db)

    async def _sweep(self) -> None:
        assert self.service is not None
        await self.service.sweep(self.settings.sweep_limit)

    async def _lag(self) -> None:
        if self.consumers is not None:
            await self.consumers.update_lag()


async def serve(settings: MatcherSettings) -> int:
    """Run one replica until SIGTERM or SIGINT; 1 if it cannot start."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runtime = MatcherRuntime(settings)
    try:
        await runtime.start()
    except Exception as exc:
        log.error("matcher_start_failed", error=f"{type(exc).__name__}: {exc}")
        await runtime.stop()
        return 1
    try:
        await stop.wait()
        log.info("matcher_stopping")
    finally:
        await runtime.stop()
    return 0
