"""The composition root of qonto-sync: reads the settings, builds the adapters, injects them
into the use cases (``qrecon.sync.app``) and runs the three commands.

``run`` (``SyncService`` + the HTTP server): one PostgreSQL pool (migrations applied at
start), one Kafka broker (idempotent producer, the seen-versions consumer group), one
``RateLimiter`` shared by every connection's client, one ``LeaseManager``, and the
``Supervisor`` that runs this replica's share of the work. ``backfill``
(``run_backfill``): the same adapters, one connection after the other. ``status``: the
watermarks and their owners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from datetime import date
from typing import Any

import asyncpg
import uvicorn
from faststream.kafka import KafkaBroker
from rich.console import Console

from qrecon.common.db import create_pool
from qrecon.common.http_server import bounded, uvicorn_options
from qrecon.common.kafka import kafka_security, make_broker, security_options
from qrecon.common.logging import get_logger
from qrecon.common.qonto import RateLimiter, RetryPolicy
from qrecon.common.topic_admin import require_topics
from qrecon.sync.adapters import console as console_adapter
from qrecon.sync.adapters import qonto as qonto_adapter
from qrecon.sync.adapters.clock import sync_clock
from qrecon.sync.adapters.events import register_events_consumer
from qrecon.sync.adapters.http import create_app
from qrecon.sync.adapters.leases import LeaseStore
from qrecon.sync.adapters.publisher import KafkaSink
from qrecon.sync.adapters.revocations import RevocationStore
from qrecon.sync.adapters.seen import register_seen_consumer
from qrecon.sync.adapters.store import SyncStore, migrate
from qrecon.sync.app.backfill import backfill_connection
from qrecon.sync.app.ownership import LeaseManager
from qrecon.sync.app.ports import BackfillReport, Clock
from qrecon.sync.app.supervisor import ConnectionState, Supervisor
from qrecon.sync.core.leases import gapfill_lease
from qrecon.sync.core.revocation import ConsentRevocation
from qrecon.sync.metrics import SyncMetrics
from qrecon.sync.settings import PRODUCER_TUNING, SyncSettings

log = get_logger(__name__)


def warn_if_clock_not_real(settings: SyncSettings) -> None:
    if settings.clock_start is not None:
        log.warning(
            "clock_not_real",
            clock_start=settings.clock_start.isoformat(),
            hint="SYNC_CLOCK_START is for tests, demos and replays only: unset it in production",
        )


class SyncService:
    """``qonto-sync run`` without its HTTP server: ``start()``, then ``stop()`` (graceful)."""

    def __init__(
        self,
        settings: SyncSettings,
        *,
        metrics: SyncMetrics | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or SyncMetrics()
        self.clock = clock or sync_clock(settings.clock_start)
        self.retry = retry
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.stop_event = asyncio.Event()
        self.pool: asyncpg.Pool | None = None
        self.broker: KafkaBroker | None = None
        self.connections: dict[str, ConnectionState] = {}
        self.leases: LeaseManager | None = None
        self.supervisor: Supervisor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    async def start(self) -> None:
        s = self.settings
        warn_if_clock_not_real(s)
        # Topics are provisioned, never auto-created: stop here, naming the missing ones.
        await require_topics(s.kafka_bootstrap_servers, s.required_topics(), **security_options(s))
        self.pool = await create_pool(s.database_url.get_secret_value(), min_size=1, max_size=10)
        applied = await migrate(self.pool)
        if applied:
            log.info("migrations_applied", applied=applied)
        store = SyncStore(self.pool)
        conns = qonto_adapter.connections(s)
        token_store = await qonto_adapter.oauth_token_store(self.pool, s, conns)
        self.broker = make_broker(
            s.kafka_bootstrap_servers,
            client_id="qonto-sync",
            security=kafka_security(s),
            log_level=logging.DEBUG,
            **PRODUCER_TUNING,
        )
        if s.seen_consumer_enabled:
            register_seen_consumer(
                self.broker,
                topic=s.topics.transactions,
                group_id=s.consumer_group,
                store=store,
                metrics=self.metrics,
            )
        if s.revocations_enabled:
            register_events_consumer(
                self.broker,
                topic=s.topics.qonto_events,
                group_id=s.events_consumer_group,
                on_revocation=self._on_revocation,
                metrics=self.metrics,
                clock=self.clock,
            )
        await self.broker.start()
        limiter = self.limiter or qonto_adapter.make_limiter(s)
        self.limiter = limiter
        for conn in conns:
            client, transport = qonto_adapter.build_client(
                s,
                conn.id,
                limiter=limiter,
                metrics=self.metrics,
                token_store=token_store,
                retry=self.retry,
            )
            self.connections[conn.id] = ConnectionState(conn, client, transport)
        if not conns:
            log.warning(
                "no_connection_configured",
                hint="set QONTO_ORGANIZATION_ID + QONTO_API_KEY, or SYNC_CONNECTIONS",
            )
        self.leases = LeaseManager(
            LeaseStore(self.pool),
            replica_id=s.effective_replica_id,
            ttl=s.lease_ttl,
            renew_every=s.lease_renew_interval,
            metrics=self.metrics,
            rng=random.Random(self.rng.random()),
        )
        self.supervisor = Supervisor(
            s,
            connections=self.connections,
            store=store,
            sink=KafkaSink(self.broker, s.topics),
            leases=self.leases,
            metrics=self.metrics,
            stop_event=self.stop_event,
            clock=self.clock,
            rng=self.rng,
            revocations=RevocationStore(self.pool),
            revocations_refresh=s.revocations_refresh,
            catch_up_after=s.catch_up_after,
        )
        await self.supervisor.refresh_revocations()  # revoked before: never polled again
        self._tasks.extend(self.supervisor.launch())
        self.started = True
        log.info(
            "sync_started",
            replica_id=s.effective_replica_id,
            connections=[c.id for c in conns],
            topic=s.topics.transactions,
            rate_limits=limiter.limits,
        )

    async def _on_revocation(self, revocation: ConsentRevocation) -> list[str]:
        if self.supervisor is None:  # not started yet: not committed, read again later
            raise RuntimeError("the supervisor is not running yet")
        return await self.supervisor.on_revocation(revocation)

    async def stop(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Graceful: finish the page being published, checkpoint, close everything."""
        self.stop_event.set()
        tasks = list(self._tasks)  # the lease manager halts its workers and releases
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for state in self.connections.values():
            with contextlib.suppress(Exception):
                await state.client.aclose()
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await self.broker.stop()
        if self.pool is not None:
            await self.pool.close()
        self.started = False
        log.info("sync_stopped")

    async def __aenter__(self) -> SyncService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            assert self.pool is not None
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2.0)
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"error: {type(exc).__name__}"
        try:
            assert self.broker is not None
            ok = await self.broker.ping(timeout=2.0)
            checks["kafka"] = "ok" if ok else "error: no answer"
        except Exception as exc:
            checks["kafka"] = f"error: {type(exc).__name__}"
        if self.supervisor is not None:
            checks.update(self.supervisor.status())
        else:
            checks.update(replica=None, connections={})
        checks["ready"] = checks["postgres"] == "ok" and checks["kafka"] == "ok"
        return checks

    def update_gauges(self) -> None:
        if self.supervisor is not None:
            self.supervisor.update_gauges()
        if self.limiter is not None:
            self.metrics.rate_wait.set(self.limiter.waited_total)
            for lane, granted in getattr(self.limiter, "granted", {}).items():
                self.metrics.rate_granted.labels(lane).set(granted)


# ---------------------------------------------------------------- qonto-sync run


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the service installs its own
        return None


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def serve(settings: SyncSettings) -> None:
    service = SyncService(settings)
    stop = asyncio.Event()
    _on_signals(stop)
    await service.start()
    server = _Server(
        uvicorn.Config(
            bounded(create_app(service), settings),
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            lifespan="off",
            **uvicorn_options(settings),
        )
    )
    http = asyncio.create_task(server.serve())
    try:
        await stop.wait()
        log.info("shutdown_requested")
    finally:
        await service.stop(settings.shutdown_timeout)
        server.should_exit = True
        await http


# ---------------------------------------------------------------- qonto-sync backfill


async def run_backfill(
    settings: SyncSettings,
    *,
    since: date,
    until: date | None,
    connection_id: str | None,
    restart: bool = False,
    console: Console | None = None,
    stop: asyncio.Event | None = None,
    retry: RetryPolicy | None = None,
    limiter: RateLimiter | None = None,
) -> list[BackfillReport]:
    """Backfill every account of the chosen connection(s), with a rich progress bar."""
    console = console or Console(stderr=True)
    warn_if_clock_not_real(settings)
    clock = sync_clock(settings.clock_start)
    metrics = SyncMetrics()
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=4)
    reports: list[BackfillReport] = []
    try:
        await migrate(pool)
        store = SyncStore(pool)
        leases = LeaseStore(pool)
        conns = [
            c
            for c in qonto_adapter.connections(settings)
            if connection_id is None or c.id == connection_id
        ]
        if not conns:
            raise SystemExit(
                f"no such connection: {connection_id!r}"
                if connection_id
                else "no connection configured (QONTO_* or SYNC_CONNECTIONS)"
            )
        token_store = await qonto_adapter.oauth_token_store(pool, settings, conns)
        limiter = limiter or qonto_adapter.make_limiter(settings)
        await require_topics(
            settings.kafka_bootstrap_servers,
            settings.required_topics(),
            **security_options(settings),
        )
        broker = make_broker(
            settings.kafka_bootstrap_servers,
            client_id="qonto-sync-backfill",
            security=kafka_security(settings),
            log_level=logging.DEBUG,
            **PRODUCER_TUNING,
        )
        await broker.start()
        sink = KafkaSink(broker, settings.topics)
        try:
            with console_adapter.backfill_progress(console) as progress:
                for conn in conns:
                    client, _ = qonto_adapter.build_client(
                        settings,
                        conn.id,
                        limiter=limiter,
                        metrics=metrics,
                        token_store=token_store,
                        retry=retry,
                    )
                    async with client:
                        reports += await backfill_connection(
                            client,
                            conn,
                            store=store,
                            sink=sink,
                            leases=leases,
                            metrics=metrics,
                            since=since,
                            until=until,
                            settings=settings,
                            progress=console_adapter.RichBackfillProgress(progress),
                            restart=restart,
                            stop=stop,
                            clock=clock,
                        )
        finally:
            await broker.stop()
    finally:
        await pool.close()
    return reports


async def backfill(
    settings: SyncSettings,
    *,
    since: date,
    until: date | None,
    connection_id: str | None,
    restart: bool,
) -> int:
    """``qonto-sync backfill``: 0 when every account is done, 3 otherwise."""
    stop = asyncio.Event()
    _on_signals(stop)
    reports = await run_backfill(
        settings,
        since=since,
        until=until,
        connection_id=connection_id,
        restart=restart,
        stop=stop,
    )
    console_adapter.print_backfill_reports(Console(stderr=True), reports)
    return 0 if all(r.completed for r in reports) else 3


# ---------------------------------------------------------------- qonto-sync status


async def status(settings: SyncSettings) -> int:
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=2)
    try:
        await migrate(pool)
        rows = await SyncStore(pool).list_accounts()
        holders = await LeaseStore(pool).holders([gapfill_lease(c, a) for c, a, _, _, _ in rows])
    finally:
        await pool.close()
    console_adapter.print_status(Console(), rows, holders)
    return 0


# ---------------------------------------------------------------- qonto-sync reinstate


async def reinstate(settings: SyncSettings, connection_id: str) -> int:
    """Forget a connection's revocation: every replica polls it again at its next start
    (a running replica keeps it stopped until restarted). 0 when it was revoked, 4 when
    it was not."""
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=2)
    try:
        await migrate(pool)
        done = await RevocationStore(pool).reinstate(connection_id)
    finally:
        await pool.close()
    Console(stderr=True).print(
        f"{connection_id}: reinstated (restart qonto-sync to poll it)"
        if done
        else f"{connection_id}: not revoked"
    )
    return 0 if done else 4
