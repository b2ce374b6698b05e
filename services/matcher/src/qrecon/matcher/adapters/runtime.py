"""Composition root of ``qonto-matcher run``: pool, migrations, cache, broker, relay, API.

Start order: PostgreSQL (migrations applied under an advisory lock, so replicas can start
together), the cache, Kafka (consumers and producer), the outbox relay (one active per
deployment, see :mod:`.relay`), background loops
(cache refresh, sweep of ``needs_redecide``, consumer lag), then the HTTP server.

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
import socket
from collections.abc import Awaitable, Callable, Iterator
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
from qrecon.matcher.adapters.http import create_app
from qrecon.matcher.adapters.kafka import TRANSIENT, StreamConsumers
from qrecon.matcher.adapters.postgres import OUTBOX_TABLE
from qrecon.matcher.adapters.relay import RelayLeadership
from qrecon.matcher.core import EngineConfig, MatchingEngine
from qrecon.matcher.service.cache import MatcherState
from qrecon.matcher.service.matching import Engine, MatcherService
from qrecon.matcher.service.settings import MatcherSettings

log = get_logger(__name__)

COMPONENT = "matcher"
MIGRATIONS_PACKAGE = "qrecon.matcher.migrations"


async def migrate(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        return await apply_migrations(conn, load_migrations(COMPONENT, MIGRATIONS_PACKAGE))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP
    # (without it each keep-alive response waited ~40 ms for the client's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the runtime owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MatcherRuntime:
    """One replica of the matcher service."""

    def __init__(self, settings: MatcherSettings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.engine: Engine = engine if engine is not None else MatchingEngine(EngineConfig())
        self.pool: asyncpg.Pool | None = None  # the consumers', relay's and caches'
        self.api_pool: asyncpg.Pool | None = None  # the review API's alone
        self.state = MatcherState()
        self.service: MatcherService | None = None
        self.consumers: StreamConsumers | None = None
        self.relay: OutboxRelay | None = None
        self.leadership: RelayLeadership | None = None
        self.broker: Any = None
        self.server: _Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._server_task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._sock: socket.socket | None = None

    def required_topics(self) -> list[str]:
        """What the matcher consumes, publishes and dead-letters to."""
        t = self.topics
        return [t.transactions, t.invoices, t.matches, t.dlq(t.transactions), t.dlq(t.invoices)]

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
        sock = self._sock = _bind(s.host, s.port) if s.api_enabled else None
        self.pool = await create_pool(
            s.database_url.get_secret_value(), min_size=2, max_size=s.db_pool_size
        )
        applied = await migrate(self.pool)
        if applied:
            log.info("matcher_migrations_applied", migrations=applied)
        await self.state.load(self.pool)
        self.service = MatcherService(
            self.pool,
            self.engine,
            self.state,
            self.topics,
            conflict_retries=s.conflict_retries,
            reexamine_days=s.reexamine_days,
            reexamine_limit=s.reexamine_limit,
        )
        self.broker = make_broker(
            s.kafka_bootstrap_servers,
            client_id=s.client_id,
            security=kafka_security(s),
            log_level=logging.DEBUG,
        )
        self.consumers = StreamConsumers(self.broker, self.service, s, self.topics)
        self.relay = OutboxRelay(
            self.pool,
            self.broker,
            table=OUTBOX_TABLE,
            poll_interval=s.outbox_poll_seconds,
            retention=timedelta(days=7),
        )
        self.leadership = RelayLeadership(
            self.pool, self.relay, retry_seconds=s.relay_retry_seconds
        )
        await self.broker.start()
        await self.leadership.start()
        self._tasks = [
            asyncio.create_task(self._every(s.cache_refresh_seconds, self._refresh), name="cache"),
            asyncio.create_task(
                self._every(s.cache_full_reload_seconds, self._reload), name="reload"
            ),
            asyncio.create_task(self._every(s.sweep_seconds, self._sweep), name="sweep"),
            asyncio.create_task(self._every(s.lag_seconds, self._lag), name="lag"),
        ]
        if s.api_enabled:
            self.api_pool = await create_pool(
                s.database_url.get_secret_value(),
                min_size=1,
                max_size=s.api_pool_size,
            )
            app = create_app(
                self.service.with_pool(self.api_pool),
                api_token=s.api_token,
                readiness=self.readiness,
                max_body_bytes=s.api_max_body_bytes,
            )
            config = uvicorn.Config(
                bounded(app, s), host=s.host, port=s.port, lifespan="off", **uvicorn_options(s)
            )
            self.server = _Server(config)
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
        log.info(
            "matcher_started",
            group_id=s.group_id,
            client_id=s.client_id,
            http=f"{s.host}:{s.port}" if s.api_enabled else None,
            topics=[self.topics.transactions, self.topics.invoices],
        )

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
    async def _every(self, seconds: float, step: Callable[[], Awaitable[Any]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except TRANSIENT as exc:
                log.warning("matcher_loop_transient", step=step.__name__, error=str(exc))
            except Exception:
                log.error("matcher_loop_failed", step=step.__name__, exc_info=True)

    async def _refresh(self) -> None:
        assert self.pool is not None
        await self.state.refresh(self.pool)

    async def _reload(self) -> None:
        assert self.pool is not None
        await self.state.load(self.pool)

    async def _sweep(self) -> None:
        assert self.service is not None
        await self.service.sweep()

    async def _lag(self) -> None:
        if self.consumers is not None:
            await self.consumers.update_lag()
