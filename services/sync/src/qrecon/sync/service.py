"""``qonto-sync run``: every connection's gap-fill (and invoices), the seen-versions
consumer, health and metrics, one process.

Wiring: one PostgreSQL pool (migrations applied at start), one Kafka broker (idempotent
producer, the seen-versions consumer group), one ``RateLimiter`` shared by every
connection's client, one task per (connection, bank account). A connection that fails
(credentials, scope, Qonto down) backs off on its own; the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker

from qrecon.common.db import create_pool
from qrecon.common.kafka import make_broker
from qrecon.common.logging import get_logger
from qrecon.common.qonto import PostgresTokenStore, QontoClient, RateLimiter, RetryPolicy
from qrecon.common.timeutil import utcnow
from qrecon.sync.adapters import qonto as qonto_adapter
from qrecon.sync.adapters.publisher import EventSink, KafkaSink
from qrecon.sync.adapters.qonto import Connection, CountingTransport
from qrecon.sync.adapters.seen import register_seen_consumer
from qrecon.sync.adapters.store import SyncStore, migrate
from qrecon.sync.core.sweep import SweepPlan, backoff_delay, jittered
from qrecon.sync.gapfill import AccountSync
from qrecon.sync.invoices import sync_invoices_once
from qrecon.sync.metrics import SyncMetrics
from qrecon.sync.settings import SyncSettings

log = get_logger(__name__)

# A page is published as one burst of up to 100 records: let them share produce requests.
PRODUCER_TUNING: dict[str, Any] = {"max_batch_size": 1 << 20, "linger_ms": 2}


@dataclass
class ConnectionState:
    connection: Connection
    client: QontoClient
    transport: CountingTransport
    organization_id: str | None = None
    accounts: dict[str, AccountSync] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    last_error: str | None = None
    ready: bool = False


class SyncService:
    """The running service; ``start()``, then ``stop()`` (graceful)."""

    def __init__(
        self,
        settings: SyncSettings,
        *,
        metrics: SyncMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or SyncMetrics()
        self.clock = clock
        self.retry = retry
        self.limiter = limiter
        self.rng = rng or random.Random()
        self.stop_event = asyncio.Event()
        self.pool: asyncpg.Pool | None = None
        self.broker: KafkaBroker | None = None
        self.store: SyncStore | None = None
        self.sink: EventSink | None = None
        self.connections: dict[str, ConnectionState] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    @property
    def plan(self) -> SweepPlan:
        s = self.settings
        return SweepPlan(
            overlap=s.overlap_delta, settle_delay=s.settle_delta, initial=s.initial_watermark
        )

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        s = self.settings
        self.pool = await create_pool(s.database_url.get_secret_value(), min_size=1, max_size=10)
        applied = await migrate(self.pool)
        if applied:
            log.info("migrations_applied", applied=applied)
        self.store = SyncStore(self.pool)
        conns = qonto_adapter.connections(s)
        token_store: PostgresTokenStore | None = None
        if any(c.uses_oauth for c in conns):
            token_store = PostgresTokenStore(self.pool)
            await token_store.migrate()
            for c in conns:
                if c.refresh_token_seed is not None:
                    await qonto_adapter.seed_refresh_token(token_store, c.id, c.refresh_token_seed)
        self.broker = make_broker(
            s.kafka_bootstrap_servers,
            client_id="qonto-sync",
            log_level=logging.DEBUG,
            **PRODUCER_TUNING,
        )
        if s.seen_consumer_enabled:
            register_seen_consumer(
                self.broker,
                topic=s.topics.transactions,
                group_id=s.consumer_group,
                store=self.store,
                metrics=self.metrics,
            )
        await self.broker.start()
        self.sink = KafkaSink(self.broker, s.topics)
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
        for state in self.connections.values():
            self._tasks.append(asyncio.create_task(self._run_connection(state)))
            if state.connection.invoices:
                self._tasks.append(asyncio.create_task(self._run_invoices(state)))
        self._tasks.append(asyncio.create_task(self._update_gauges()))
        self.started = True
        log.info(
            "sync_started",
            connections=[c.id for c in conns],
            topic=s.topics.transactions,
            rate_limits=limiter.limits,
        )

    async def stop(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Graceful: finish the page being published, checkpoint, close everything."""
        self.stop_event.set()
        tasks = self._tasks + [t for c in self.connections.values() for t in c.tasks.values()]
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

    # ------------------------------------------------------------ health

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
        checks["connections"] = {
            cid: {
                "ready": st.ready,
                "accounts": {
                    aid: {
                        "watermark": a.progress.watermark.isoformat()
                        if a.progress.watermark
                        else None,
                        "last_error": a.progress.last_error,
                    }
                    for aid, a in st.accounts.items()
                },
                "last_error": st.last_error,
            }
            for cid, st in self.connections.items()
        }
        checks["ready"] = checks["postgres"] == "ok" and checks["kafka"] == "ok"
        return checks

    # ------------------------------------------------------------ connections

    async def _discover(self, state: ConnectionState) -> list[str]:
        """The organization's id and the bank accounts to poll."""
        configured = state.connection.bank_account_ids
        try:
            organization = await state.client.get_organization()
        except Exception:
            if configured:
                return list(configured)  # e.g. no organization.read on an odd scope set
            raise
        org_id = organization.get("id")
        state.organization_id = str(org_id) if org_id is not None else None
        found = [str(a["id"]) for a in qonto_adapter.bank_accounts_of(organization)]
        if not found:
            found = [str(a["id"]) async for a in state.client.iter_bank_accounts() if a.get("id")]
        if configured:
            return [a for a in configured]
        return found

    async def _run_connection(self, state: ConnectionState) -> None:
        s = self.settings
        cid = state.connection.id
        failures = 0
        while not self.stop_event.is_set():
            try:
                accounts = await self._discover(state)
            except Exception as exc:
                failures += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
                self.metrics.errors.labels(cid, "discover", type(exc).__name__).inc()
                log.warning(
                    "connection_discovery_failed", connection_id=cid, error=state.last_error
                )
                delay = backoff_delay(failures, 2.0, s.error_backoff_max, self.rng.random())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), delay)
                continue
            failures = 0
            state.last_error = None
            state.ready = True
            assert self.store is not None
            assert self.sink is not None
            for account_id in accounts:
                if account_id in state.accounts:
                    continue
                worker = AccountSync(
                    client=state.client,
                    store=self.store,
                    sink=self.sink,
                    metrics=self.metrics,
                    plan=self.plan,
                    connection_id=cid,
                    bank_account_id=account_id,
                    organization_id=state.organization_id,
                    per_page=s.per_page,
                    prefetch=s.prefetch,
                    clock=self.clock,
                )
                state.accounts[account_id] = worker
                state.tasks[account_id] = asyncio.create_task(
                    worker.run_forever(
                        self.stop_event,
                        interval=s.poll_interval,
                        jitter=s.poll_jitter,
                        backoff_max=s.error_backoff_max,
                        rng=random.Random(self.rng.random()),
                    )
                )
                log.info("account_sync_started", connection_id=cid, bank_account_id=account_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), s.accounts_refresh)

    async def _run_invoices(self, state: ConnectionState) -> None:
        s = self.settings
        cid = state.connection.id
        failures = 0
        while not self.stop_event.is_set():
            assert self.store is not None
            assert self.sink is not None
            try:
                counts = await sync_invoices_once(
                    state.client,
                    store=self.store,
                    sink=self.sink,
                    metrics=self.metrics,
                    connection_id=cid,
                )
                failures = 0
                log.info("invoices_synced", connection_id=cid, **dict(counts))
                delay = jittered(s.invoices_interval, s.poll_jitter, self.rng.random())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.metrics.errors.labels(cid, "invoices", type(exc).__name__).inc()
                log.warning("invoices_sync_failed", connection_id=cid, error=str(exc)[:500])
                delay = backoff_delay(failures, 2.0, s.error_backoff_max, self.rng.random())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), delay)

    async def _update_gauges(self) -> None:
        while not self.stop_event.is_set():
            for state in self.connections.values():
                for worker in state.accounts.values():
                    worker.update_lag()
            if self.limiter is not None:
                self.metrics.rate_wait.set(self.limiter.waited_total)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 5.0)
