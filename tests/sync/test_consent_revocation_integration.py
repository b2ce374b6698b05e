"""A user revokes the app's consent for one organisation: through the real chain (emulator
-> signed webhook -> ingest over HTTP -> PostgreSQL inbox -> ``qonto.events.v1`` on Kafka
-> sync), that connection stops polling (no more request with its credentials), the others
carry on, ``/readyz`` and the metrics say ``revoked``, its data is kept, and the revocation
holds across a restart."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn

from qrecon.common.qonto import FairRateLimiter, RetryPolicy
from qrecon.common.topics import Topics
from qrecon.ingest.bootstrap import create_app as create_ingest_app
from qrecon.ingest.settings import IngestSettings
from qrecon.sim.testing import EmulatorHandle
from qrecon.sync.adapters.http import create_app
from qrecon.sync.bootstrap import SyncService
from qrecon.sync.settings import SyncSettings

from .helpers import add_transactions, read_topic, wait_for

pytestmark = pytest.mark.integration

WEBHOOK_SECRET = "whsec_" + "beta" * 10
ORGS = ("beta", "gamma", "delta")


@contextlib.asynccontextmanager
async def ingest_over_http(settings: IngestSettings) -> AsyncIterator[str]:
    """The real ingest app (lifespan: PostgreSQL inbox, relay to Kafka) on a loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = uvicorn.Server(
        uvicorn.Config(
            create_ingest_app(settings), log_level="warning", access_log=False, lifespan="on"
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_for(lambda: server.started, 60.0)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving
        sock.close()


def organisations(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    """Three more organisations with an API key and transactions each."""
    sim = emulator.sim
    specs = []
    for n, name in enumerate(ORGS):
        org = sim.add_organization(slug=f"{name}-sas", secret_key=f"sk_{name}_secret")
        account = sim.add_bank_account(organization_id=org["id"], main=True)
        for i in range(5 + n):
            sim.add_transaction(
                amount_cents=900 + i, side="credit", notify=False, bank_account_id=account["id"]
            )
        specs.append(
            {
                "id": name,
                "organization_id": f"{name}-sas",
                "api_key": f"sk_{name}_secret",
                "api_base_url": emulator.base_url,
                "_org": org["id"],
            }
        )
    return specs


async def test_a_revoked_connection_stops_polling_and_the_others_carry_on(
    emulator: EmulatorHandle,
    make_settings: Callable[..., SyncSettings],
    database_url: str,
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    sim = emulator.sim
    add_transactions(emulator, 6)
    specs = organisations(emulator)
    beta_org = specs[0]["_org"]
    org_ids = {"default": emulator.organization_id} | {s["id"]: s["_org"] for s in specs}
    connections = [{k: v for k, v in s.items() if k != "_org"} for s in specs]
    settings = make_settings(
        emulator,
        connections=connections,
        revocations_refresh=0.2,
        events_consumer_group=f"{topics.prefix}sync-events",
    )
    ingest_settings = IngestSettings(
        _env_file=None,
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topics.prefix,
        connections={"beta": {"secrets": [WEBHOOK_SECRET], "organization_id": "beta-sas"}},
        relay_poll_interval_seconds=0.1,
    )
    retry = RetryPolicy(max_attempts=2, base_delay=0.05)
    async with ingest_over_http(ingest_settings) as ingest_url:
        sim.add_webhook_subscription(
            callback_url=f"{ingest_url}/webhooks/qonto/beta",
            secret=WEBHOOK_SECRET,
            types=["v1/transactions", "v1/consent-revocations"],
            organization_id=beta_org,
        )
        service = SyncService(settings, retry=retry)
        await service.start()
        try:
            conns = service.connections
            # One budget, shared fairly: every client draws through its lane of it.
            assert isinstance(service.limiter, FairRateLimiter)
            lanes = {c.client.limiter.parent for c in conns.values()}  # type: ignore[attr-defined]
            assert lanes == {service.limiter}

            def cycles(cid: str) -> int:
                return sum(a.progress.sweeps_completed for a in conns[cid].accounts.values())

            await wait_for(lambda: all(cycles(c) >= 1 for c in conns), 60.0)
            assert service.pool is not None

            # The user revokes the app in Qonto: its key dies, the webhook goes out.
            async with httpx.AsyncClient(base_url=emulator.base_url) as http:
                answer = await http.post(
                    "/_sim/consent-revocations",
                    json={"organization_id": beta_org, "api_key": True},
                )
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["webhook_events"]) == 1

            await wait_for(lambda: conns["beta"].revoked is not None, 60.0)
            # Its workers finish the page they were on (if any), then nothing more.
            await wait_for(
                lambda: not any(a.progress.running for a in conns["beta"].accounts.values())
            )
            sent = conns["beta"].transport.requests
            others = {c: cycles(c) for c in ("default", "gamma", "delta")}
            await wait_for(lambda: all(cycles(c) >= n + 3 for c, n in others.items()), 60.0)
            assert conns["beta"].transport.requests == sent  # not one request more

            app = create_app(service)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sync"
            ) as http:
                ready = (await http.get("/readyz")).json()
                metrics = (await http.get("/metrics")).text
            assert ready["status"] == "ready"
            assert ready["connections"] == {
                "default": "polling",
                "beta": "revoked",
                "gamma": "polling",
                "delta": "polling",
            }
            assert 'qonto_sync_connection_state{connection="beta",state="revoked"} 1.0' in metrics
            assert 'qonto_sync_connection_state{connection="gamma",state="polling"} 1.0' in metrics
            assert 'qonto_sync_consent_revocations_total{outcome="revoked"} 1.0' in metrics

            row = await service.pool.fetchrow(
                "SELECT organization_id, event_id FROM sync_connection_revocations"
                " WHERE connection_id = 'beta'"
            )
            assert row is not None
            assert row["organization_id"] == beta_org
            assert row["event_id"] == answer.json()["webhook_events"][0]
            # Its data is kept.
            kept = await service.pool.fetchval(
                "SELECT count(*) FROM sync_watermarks WHERE connection_id = 'beta'"
            )
            assert kept >= 1
        finally:
            await service.stop()

    # Revoked for good: a restarted service never sends one request for it.
    again = SyncService(settings, retry=retry)
    await again.start()
    try:
        conns = again.connections
        await wait_for(
            lambda: (
                all(
                    a.progress.sweeps_completed >= 1
                    for c in ("default", "gamma", "delta")
                    for a in conns[c].accounts.values()
                )
                and all(conns[c].accounts for c in ("default", "gamma", "delta"))
            ),
            60.0,
        )
        assert conns["beta"].revoked is not None
        assert conns["beta"].transport.requests == 0
        assert (await again.readiness())["connections"]["beta"]["state"] == "revoked"
    finally:
        await again.stop()

    bodies = await read_topic(kafka_bootstrap, topics.transactions)
    by_connection: dict[str, set[str]] = {}
    for body in bodies:
        by_connection.setdefault(body["connection_id"], set()).add(body["transaction"]["id"])
        # Every event carries its connection's organisation (Qonto's id, as in webhooks).
        assert body["organization_id"] == org_ids[body["connection_id"]]
    assert {c: len(ids) for c, ids in by_connection.items()} == {
        "default": 6,
        "beta": 5,
        "gamma": 6,
        "delta": 7,
    }


async def test_a_refused_refresh_token_revokes_the_oauth_connection_even_without_webhook(
    emulator: EmulatorHandle, make_settings: Callable[..., SyncSettings]
) -> None:
    """The webhook may be lost (or sent while sync was down): Qonto refusing the refresh
    token (``invalid_grant``, at the next refresh) says the same. Only that OAuth
    connection stops; the API-key one of the same organisation, another credential,
    carries on."""
    add_transactions(emulator, 4)
    code = emulator.mint_authorization_code()
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            emulator.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": emulator.redirect_uri,
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
            },
        )
        answer.raise_for_status()
        # The user revokes the app; no subscription: no webhook will tell.
        revoked = await http.post(f"{emulator.base_url}/_sim/consent-revocations", json={})
    assert revoked.json()["tokens_revoked"] >= 2
    oauth = {
        "id": "oauth",
        "auth": "oauth",
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "refresh_token": answer.json()["refresh_token"],
        "api_base_url": emulator.base_url,
    }
    settings = make_settings(emulator, connections=[oauth], accounts_refresh=0.3)
    service = SyncService(settings, retry=RetryPolicy(max_attempts=2, base_delay=0.05))
    await service.start()
    try:
        conns = service.connections

        def cycles(cid: str) -> int:
            return sum(a.progress.sweeps_completed for a in conns[cid].accounts.values())

        await wait_for(lambda: conns["oauth"].revoked is not None, 60.0)
        oauth_state = conns["oauth"]
        assert oauth_state.revoked is not None
        assert oauth_state.revoked.event_id == "invalid_grant:oauth"
        assert not oauth_state.accounts  # never polled
        sent = oauth_state.transport.requests
        await wait_for(lambda: cycles("default") >= 3, 60.0)
        assert oauth_state.transport.requests == sent
        readiness = await service.readiness()
        assert readiness["connections"]["oauth"]["state"] == "revoked"
        assert readiness["connections"]["default"]["state"] == "polling"
        assert service.pool is not None
        recorded = await service.pool.fetchval(
            "SELECT event_id FROM sync_connection_revocations WHERE connection_id = 'oauth'"
        )
        assert recorded == "invalid_grant:oauth"
    finally:
        await service.stop()
