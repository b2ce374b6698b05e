"""``qonto-sync run``: every connection's gap-fill (and invoices), the seen-versions
consumer, health and metrics, one process — one replica among any number.

Wiring: one PostgreSQL pool (migrations applied at start), one Kafka broker (idempotent
producer, the seen-versions consumer group), one ``RateLimiter`` shared by every
connection's client, one ``LeaseManager`` (``qrecon.sync.ownership``): every replica
discovers every (connection, bank account), but an account's gap-fill and a connection's
invoice poller run only on the replica holding their lease, which every checkpoint
checks. A connection that fails (credentials, scope, Qonto down) backs off on its own;
the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker

from qrecon.common.db import create_pool
from qrecon.common.kafka import kafka_security, make_broker, security_options
from qrecon.common.logging import get_logger
from qrecon.common.qonto import QontoClient, RateLimiter, RetryPolicy
from qrecon.common.timeutil import utcnow
from qrecon.common.topic_admin import require_topics
from qrecon.sync.adapters import qonto as qonto_adapter
from qrecon.sync.adapters.leases import Fence, LeaseLost, LeaseStore
from qrecon.sync.adapters.publisher import EventSink, KafkaSink
from qrecon.sync.adapters.qonto import Connection, CountingTransport
from qrecon.sync.adapters.seen import register_seen_consumer
from qrecon.sync.adapters.store import SyncStore, migrate
from qrecon.sync.core.leases import gapfill_lease, invoices_lease
from qrecon.sync.core.sweep import SweepPlan, backoff_delay, jittered
from qrecon.sync.gapfill import AccountSync
from qrecon.sync.invoices import sync_invoices_once
from qrecon.sync.metrics import SyncMetrics
from qrecon.sync.ownership import LeaseManager
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
    invoices_runs: int = 0
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
        self.leases: LeaseManager | None = None
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
        # Topics are provisioned, never auto-created: stop here, naming the missing ones.
        await require_topics(s.kafka_bootstrap_servers, s.required_topics(), **security_options(s))
        self.pool = await create_pool(s.database_url.get_secret_value(), min_size=1, max_size=10)
        applied = await migrate(self.pool)
        if applied:
            log.info("migrations_applied", applied=applied)
        self.store = SyncStore(self.pool)
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
        self.leases = LeaseManager(
            LeaseStore(self.pool),
            replica_id=s.effective_replica_id,
            ttl=s.lease_ttl,
            renew_every=s.lease_renew_interval,
            metrics=self.metrics,
            rng=random.Random(self.rng.random()),
        )
        self._tasks.append(asyncio.create_task(self.leases.run(self.stop_event)))
        for state in self.connections.values():
            self._tasks.append(asyncio.create_task(self._run_connection(state)))
            if state.connection.invoices:
                self.leases.want(invoices_lease(state.connection.id), self._invoices_runner(state))
        self._tasks.append(asyncio.create_task(self._update_gauges()))
        self.started = True
        log.info(
            "sync_started",
            replica_id=s.effective_replica_id,
            connections=[c.id for c in conns],
            topic=s.topics.transactions,
            rate_limits=limiter.limits,
        )

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
        leases = self.leases
        checks["replica"] = leases.snapshot() if leases is not None else None

        def ownership(name: str) -> dict[str, Any]:
            if leases is None:
                return {"owner": None, "owned": False}
            return {"owner": leases.holder(name), "owned": leases.owns(name)}

        checks["connections"] = {
            cid: {
                "ready": st.ready,
                "accounts": {
                    aid: {
                        "watermark": a.progress.watermark.isoformat()
                        if a.progress.watermark
                        else None,
                        "last_error": a.progress.last_error,
                        "sweeping": a.progress.running,
                        **ownership(gapfill_lease(cid, aid)),
                    }
                    for aid, a in st.accounts.items()
                },
                **({"invoices": ownership(invoices_lease(cid))} if st.connection.invoices else {}),
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
                assert self.leases is not None
                self.leases.want(gapfill_lease(cid, account_id), self._account_runner(worker))
                log.info("account_discovered", connection_id=cid, bank_account_id=account_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), s.accounts_refresh)

    def _account_runner(
        self, worker: AccountSync
    ) -> Callable[[Fence, asyncio.Event], Awaitable[None]]:
        """The gap-fill of one account, while this replica holds its lease."""
        s = self.settings

        async def run(fence: Fence, halt: asyncio.Event) -> None:
            await worker.run_forever(
                halt,
                interval=s.poll_interval,
                jitter=s.poll_jitter,
                backoff_max=s.error_backoff_max,
                rng=random.Random(self.rng.random()),
                fence=fence,
            )
            with contextlib.suppress(KeyError):  # another replica reports it now
                self.metrics.lag.remove(worker.connection_id, worker.bank_account_id)
                self.metrics.watermark.remove(worker.connection_id, worker.bank_account_id)

        return run

    def _invoices_runner(
        self, state: ConnectionState
    ) -> Callable[[Fence, asyncio.Event], Awaitable[None]]:
        """The invoice poller of one connection, while this replica holds its lease."""

        async def run(fence: Fence, halt: asyncio.Event) -> None:
            await self._run_invoices(state, halt, fence)

        return run

    async def _run_invoices(
        self, state: ConnectionState, halt: asyncio.Event, fence: Fence | None = None
    ) -> None:
        s = self.settings
        cid = state.connection.id
        failures = 0
        while not halt.is_set():
            assert self.store is not None
            assert self.sink is not None
            try:
                counts = await sync_invoices_once(
                    state.client,
                    store=self.store,
                    sink=self.sink,
                    metrics=self.metrics,
                    connection_id=cid,
                    fence=fence,
                )
                failures = 0
                state.invoices_runs += 1
                log.info("invoices_synced", connection_id=cid, **dict(counts))
                delay = jittered(s.invoices_interval, s.poll_jitter, self.rng.random())
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                log.warning("invoices_lease_lost", connection_id=cid)
                return
            except Exception as exc:
                failures += 1
                self.metrics.errors.labels(cid, "invoices", type(exc).__name__).inc()
                log.warning("invoices_sync_failed", connection_id=cid, error=str(exc)[:500])
                delay = backoff_delay(failures, 2.0, s.error_backoff_max, self.rng.random())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(halt.wait(), delay)

    def update_gauges(self) -> None:
        """Lag and watermark of the accounts this replica owns (others report the rest)."""
        leases = self.leases
        for cid, state in self.connections.items():
            for aid, worker in state.accounts.items():
                if leases is not None and leases.owns(gapfill_lease(cid, aid)):
                    worker.update_lag()
        if self.limiter is not None:
            self.metrics.rate_wait.set(self.limiter.waited_total)

    async def _update_gauges(self) -> None:
        while not self.stop_event.is_set():
            self.update_gauges()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 5.0)
