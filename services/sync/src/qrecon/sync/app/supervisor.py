"""The work of one ``qonto-sync run`` replica: every connection's discovery of its bank
accounts, and the gap-fill of each account and the invoice poller of each connection
while this replica holds their lease (``LeaseManager``).

Every replica discovers every (connection, bank account) and wants every unit of work;
a unit runs only on the replica holding its lease, and every checkpoint checks it. A
connection that fails (credentials, scope, Qonto down) backs off on its own; the others
carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from qrecon.common.logging import get_logger
from qrecon.common.timeutil import utcnow
from qrecon.sync.app.accounts import discover_bank_accounts
from qrecon.sync.app.gapfill import AccountSync
from qrecon.sync.app.invoices import sync_invoices_once
from qrecon.sync.app.ownership import LeaseManager
from qrecon.sync.app.ports import (
    Clock,
    Connection,
    Fence,
    LeaseLost,
    Publisher,
    QontoApi,
    RequestCounter,
    Store,
    WorkSettings,
)
from qrecon.sync.core.leases import gapfill_lease, invoices_lease
from qrecon.sync.core.sweep import SweepPlan, backoff_delay, jittered, status_keys
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)


@dataclass
class ConnectionState:
    connection: Connection
    client: QontoApi
    transport: RequestCounter
    organization_id: str | None = None
    accounts: dict[str, AccountSync] = field(default_factory=dict)
    invoices_runs: int = 0
    last_error: str | None = None
    ready: bool = False


class Supervisor:
    """Runs the connections' work of this replica until ``stop_event`` is set."""

    def __init__(
        self,
        settings: WorkSettings,
        *,
        connections: dict[str, ConnectionState],
        store: Store,
        sink: Publisher,
        leases: LeaseManager,
        metrics: SyncMetrics,
        stop_event: asyncio.Event,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.connections = connections
        self.store = store
        self.sink = sink
        self.leases = leases
        self.metrics = metrics
        self.stop_event = stop_event
        self.clock = clock
        self.rng = rng or random.Random()

    @property
    def plan(self) -> SweepPlan:
        s = self.settings
        return SweepPlan(
            overlap=s.overlap_delta, settle_delay=s.settle_delta, initial=s.initial_watermark
        )

    def launch(self) -> list[asyncio.Task[None]]:
        """Start the lease manager, every connection's discovery and the gauges."""
        tasks = [asyncio.create_task(self.leases.run(self.stop_event))]
        for state in self.connections.values():
            tasks.append(asyncio.create_task(self._run_connection(state)))
            if state.connection.invoices:
                self.leases.want(invoices_lease(state.connection.id), self._invoices_runner(state))
        tasks.append(asyncio.create_task(self._update_gauges()))
        return tasks

    # ------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        """This replica's view: the leases, and per connection and account the watermark,
        last error, sweeping, lease owner."""
        leases = self.leases

        def ownership(name: str) -> dict[str, Any]:
            return {"owner": leases.holder(name), "owned": leases.owns(name)}

        return {
            "replica": leases.snapshot(),
            "connections": {
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
                    **(
                        {"invoices": ownership(invoices_lease(cid))}
                        if st.connection.invoices
                        else {}
                    ),
                    "last_error": st.last_error,
                }
                for cid, st in self.connections.items()
            },
        }

    def update_gauges(self) -> None:
        """Lag and watermark of the accounts this replica owns (others report the rest)."""
        for cid, state in self.connections.items():
            for aid, worker in state.accounts.items():
                if self.leases.owns(gapfill_lease(cid, aid)):
                    worker.update_lag()

    async def _update_gauges(self) -> None:
        while not self.stop_event.is_set():
            self.update_gauges()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 5.0)

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
        if configured:
            return list(configured)
        return await discover_bank_accounts(state.client, organization)

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
                    statuses=status_keys(s.status_per_request),
                    clock=self.clock,
                )
                state.accounts[account_id] = worker
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
            try:
                counts = await sync_invoices_once(
                    state.client,
                    store=self.store,
                    sink=self.sink,
                    metrics=self.metrics,
                    connection_id=cid,
                    fence=fence,
                    overlap=s.overlap_delta,
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
