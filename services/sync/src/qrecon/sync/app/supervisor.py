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
from qrecon.common.qonto import QontoOAuthError
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
    Revocations,
    Store,
    WorkSettings,
)
from qrecon.sync.app.revocations import record_revocation
from qrecon.sync.core.leases import gapfill_lease, invoices_lease
from qrecon.sync.core.revocation import (
    CONNECTION_STATES,
    ConnectionIdentity,
    ConnectionStateName,
    ConsentRevocation,
    connection_state,
)
from qrecon.sync.core.sweep import SweepPlan, backoff_delay, jittered, status_keys
from qrecon.sync.metrics import SyncMetrics

log = get_logger(__name__)


def consent_gone(connection: Connection, exc: BaseException) -> bool:
    """An OAuth connection whose refresh token Qonto refuses can never poll again without a
    new consent (a plain 401 is not that: a wrong key may be fixed, it only fails)."""
    return (
        connection.uses_oauth
        and isinstance(exc, QontoOAuthError)
        and exc.oauth_error == "invalid_grant"
    )


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
    revoked: ConsentRevocation | None = None
    halt: asyncio.Event = field(default_factory=asyncio.Event)  # set once revoked

    @property
    def organization(self) -> str | None:
        """The organisation its events carry: the id Qonto reports (``GET
        /v2/organization``, the same id as in the webhooks ingest receives), else the
        configured one (when the organisation cannot be read and accounts are configured)."""
        return self.organization_id or self.connection.organization_id

    def identity(self) -> ConnectionIdentity:
        orgs = {o for o in (self.connection.organization_id, self.organization_id) if o}
        client = self.connection.oauth_client_id if self.connection.uses_oauth else None
        return ConnectionIdentity(self.connection.id, frozenset(orgs), client)

    def state(self, owns: Callable[[str], bool]) -> ConnectionStateName:
        accounts = [
            a for aid, a in self.accounts.items() if owns(gapfill_lease(self.connection.id, aid))
        ]
        return connection_state(
            revoked=self.revoked is not None,
            failing=self.last_error is not None or any(a.progress.last_error for a in accounts),
            catching_up=any(a.progress.catching_up for a in accounts),
        )


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
        revocations: Revocations | None = None,
        revocations_refresh: float = 5.0,
        catch_up_after: float = 3600.0,
    ) -> None:
        self.settings = settings
        self.revocations = revocations
        self.revocations_refresh = revocations_refresh
        self.catch_up_after = catch_up_after
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
            if state.revoked is not None:
                continue  # revoked before this start (``refresh_revocations`` first)
            tasks.append(asyncio.create_task(self._run_connection(state)))
            if state.connection.invoices:
                self.leases.want(invoices_lease(state.connection.id), self._invoices_runner(state))
        tasks.append(asyncio.create_task(self._update_gauges()))
        if self.revocations is not None:
            tasks.append(asyncio.create_task(self._watch_revocations()))
        return tasks

    # ------------------------------------------------------------ revocations

    def identities(self) -> list[ConnectionIdentity]:
        return [st.identity() for st in self.connections.values()]

    async def on_revocation(self, revocation: ConsentRevocation) -> list[str]:
        """A consent revocation read from ``qonto.events.v1``: record it, stop here at once
        (the other replicas read the record at their next refresh)."""
        if self.revocations is None:
            return []
        newly = await record_revocation(
            revocation, connections=self.identities(), store=self.revocations
        )
        await self.refresh_revocations()
        return newly

    async def refresh_revocations(self) -> None:
        """Stop every connection recorded as revoked (by this replica or another)."""
        if self.revocations is None:
            return
        for cid, revocation in (await self.revocations.revoked()).items():
            state = self.connections.get(cid)
            if state is not None and state.revoked is None:
                self._stop_connection(state, revocation)

    def _stop_connection(self, state: ConnectionState, revocation: ConsentRevocation) -> None:
        """No more requests for this connection: its workers halt at their next page
        boundary and give their leases up; its data stays."""
        cid = state.connection.id
        state.revoked = revocation
        state.halt.set()
        for account_id in state.accounts:
            self.leases.unwant(gapfill_lease(cid, account_id))
        self.leases.unwant(invoices_lease(cid))
        log.warning("connection_stopped_revoked", connection_id=cid)

    async def _revoked_by_qonto(self, state: ConnectionState) -> None:
        """Qonto refused the connection's refresh token (``invalid_grant``): the consent
        is gone (revoked, or its token family revoked), as surely as with the webhook (which
        may have been lost). Recorded for every replica like a webhook's revocation."""
        conn = state.connection
        revocation = ConsentRevocation(
            event_id=f"invalid_grant:{conn.id}",
            organization_id=state.organization,
            client_id=conn.oauth_client_id,
            revoked_at=self.clock(),
            connection_id=conn.id,
        )
        log.warning("connection_refresh_token_refused", connection_id=conn.id)
        if self.revocations is not None:
            with contextlib.suppress(Exception):  # stopped here anyway; others retry it
                await self.revocations.revoke(conn.id, revocation)
        if state.revoked is None:
            self._stop_connection(state, revocation)

    async def _watch_revocations(self) -> None:
        while not self.stop_event.is_set():
            try:
                await self.refresh_revocations()
            except Exception as exc:  # PostgreSQL down: try again at the next refresh
                self.metrics.errors.labels("-", "revocations", type(exc).__name__).inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), self.revocations_refresh)

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
                    "state": st.state(leases.owns),
                    "organization_id": st.organization,
                    "revoked_at": st.revoked.revoked_at.isoformat() if st.revoked else None,
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
            now = state.state(self.leases.owns)
            for name in CONNECTION_STATES:
                self.metrics.connection_state.labels(cid, name).set(1 if name == now else 0)
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
        if state.organization is None:
            raise RuntimeError("the organisation is unknown (GET /v2/organization has no id)")
        if configured:
            return list(configured)
        return await discover_bank_accounts(state.client, organization)

    async def _run_connection(self, state: ConnectionState) -> None:
        s = self.settings
        cid = state.connection.id
        failures = 0
        while not self.stop_event.is_set() and state.revoked is None:
            try:
                accounts = await self._discover(state)
            except Exception as exc:
                if consent_gone(state.connection, exc):
                    await self._revoked_by_qonto(state)
                    return
                failures += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
                self.metrics.errors.labels(cid, "discover", type(exc).__name__).inc()
                log.warning(
                    "connection_discovery_failed", connection_id=cid, error=state.last_error
                )
                delay = backoff_delay(failures, 2.0, s.error_backoff_max, self.rng.random())
                await self._pause(state, delay)
                continue
            failures = 0
            state.last_error = None
            state.ready = True
            for account_id in accounts:
                if account_id in state.accounts or state.revoked is not None:
                    continue
                worker = AccountSync(
                    client=state.client,
                    store=self.store,
                    sink=self.sink,
                    metrics=self.metrics,
                    plan=self.plan,
                    connection_id=cid,
                    bank_account_id=account_id,
                    organization_id=state.organization,
                    per_page=s.per_page,
                    prefetch=s.prefetch,
                    statuses=status_keys(s.status_per_request),
                    clock=self.clock,
                    catch_up_after=self.catch_up_after,
                )
                state.accounts[account_id] = worker
                self.leases.want(gapfill_lease(cid, account_id), self._account_runner(worker))
                log.info("account_discovered", connection_id=cid, bank_account_id=account_id)
            await self._pause(state, s.accounts_refresh)

    async def _pause(self, state: ConnectionState, delay: float) -> None:
        """Sleep ``delay``, or less: until the service stops or the connection is revoked."""
        waiters = {
            asyncio.ensure_future(self.stop_event.wait()),
            asyncio.ensure_future(state.halt.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

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
                    organization_id=state.organization,
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
