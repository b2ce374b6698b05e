"""End to end: webhooks lossy, API faulty, data changing while sync pages through it.

Real Kafka, real PostgreSQL, the Qonto emulator over HTTP. The webhook side of ingest is
simulated by a small receiver that publishes every delivered webhook as a
``TransactionEvent`` (source ``webhook``, the webhook's event id), as ingest does. The
emulator drops 20% of webhooks, duplicates and reorders others; its API answers random
5xx and 429s, a 429 storm, slow pages; transactions are created, edited and settled
while sync runs. Afterwards the newest version of every transaction on
``qonto.transactions.v1`` must be the emulator's ground truth, with nothing missing.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import uvicorn

from qrecon.common.kafka import make_broker, publish_event
from qrecon.common.qonto import RetryPolicy
from qrecon.common.schemas import QontoTransaction, TransactionEvent
from qrecon.common.topics import Topics
from qrecon.sim.testing import EmulatorHandle
from qrecon.sync.bootstrap import SyncService
from qrecon.sync.settings import SyncSettings

from .helpers import latest_by_id, read_topic, start_clocks, ts, wait_for

pytestmark = pytest.mark.e2e

COMPARED = ("status", "amount_cents", "side", "note", "settled_at", "label", "category")


def same(published: dict[str, Any], truth: dict[str, Any]) -> bool:
    """The published version is the true one (same updated_at and fields)."""
    for key in ("updated_at", "settled_at"):
        a, b = published.get(key), truth.get(key)
        if (a is None) != (b is None) or (a is not None and ts(a) != ts(b)):
            return False
    return all(published.get(k) == truth.get(k) for k in COMPARED if k != "settled_at")


class WebhookReceiver:
    """Stands in for ingest: every delivered webhook becomes an event on the topic."""

    def __init__(self, broker: Any, topic: str) -> None:
        self.broker = broker
        self.topic = topic
        self.received = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        payload = json.loads(body)
        self.received += 1
        event = TransactionEvent(
            event_id=payload["id"],
            source="webhook",
            organization_id=payload.get("organization_id"),
            transaction=QontoTransaction.model_validate(payload["data"]),
        )
        await publish_event(
            self.broker,
            self.topic,
            key=event.key,
            value=event,
            event_id=event.event_id,
            event_type=event.event_type,
        )
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def churn(emulator: EmulatorHandle, stop_after: float, rng: random.Random) -> Counter[str]:
    """Create, edit and settle transactions for ``stop_after`` seconds."""
    sim = emulator.sim
    done: Counter[str] = Counter()
    pending: list[str] = []
    ids: list[str] = [tx["id"] for tx in sim.transactions_latest()]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stop_after
    while loop.time() < deadline:
        roll = rng.random()
        if roll < 0.45 or not ids:
            status = "pending" if rng.random() < 0.3 else "completed"
            tx = sim.add_transaction(
                amount_cents=rng.randrange(100, 500_000),
                side=rng.choice(("credit", "debit")),
                status=status,
                label=f"Client {rng.randrange(1000)}",
            )
            ids.append(tx["id"])
            if status == "pending":
                pending.append(tx["id"])
            done["created"] += 1
        elif roll < 0.6 and pending:
            tx_id = pending.pop(rng.randrange(len(pending)))
            sim.update_transaction(tx_id, status=rng.choice(("completed", "completed", "declined")))
            done["settled"] += 1
        elif roll < 0.8:
            sim.update_transaction(rng.choice(ids), note=f"note {rng.randrange(10**6)}")
            done["noted"] += 1
        else:
            tx_id = rng.choice(ids)
            sim.update_transaction(tx_id, category=rng.choice(("fees", "sales", "rent")))
            sim.update_transaction(tx_id, note="edited twice", notify=rng.random() < 0.5)
            done["double_edits"] += 1
        await asyncio.sleep(rng.uniform(0.0, 0.02))
    return done


async def test_latest_version_of_every_transaction_matches_the_ground_truth(
    emulator: EmulatorHandle,
    make_settings: Callable[..., SyncSettings],
    kafka_bootstrap: str,
    topics: Topics,
    record_property: Callable[[str, object], None],
) -> None:
    rng = random.Random(20251121)
    sim = emulator.sim
    # History before sync ever ran (and before the webhook subscription: never sent).
    past = start_clocks(emulator) - timedelta(days=30)
    for i in range(400):
        sim.add_transaction(
            amount_cents=rng.randrange(100, 200_000),
            side=rng.choice(("credit", "debit")),
            at=past + timedelta(minutes=90 * i),
            notify=False,
        )

    broker = make_broker(kafka_bootstrap, client_id="test-webhook-receiver")
    await broker.start()
    receiver = WebhookReceiver(broker, topics.transactions)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = uvicorn.Server(
        uvicorn.Config(receiver, log_level="warning", access_log=False, lifespan="off")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_for(lambda: server.started)
    sim.add_webhook_subscription(callback_url=f"http://127.0.0.1:{sock.getsockname()[1]}/hook")
    sim.set_faults(
        drop=0.2,
        duplicate=0.15,
        reorder=0.15,
        error_rate=0.08,
        slow_ms=15,
        rate_limit_rate=0.05,
        seed=11,
    )

    settings = make_settings(
        emulator,
        per_page=25,
        poll_interval=1.0,
        overlap=5.0,
        settle_delay=0.3,
        clock_start=sim.clock.now(),  # Qonto's now: never ahead of it
    )
    service = SyncService(
        settings, retry=RetryPolicy(max_attempts=8, base_delay=0.05, max_delay=1.0)
    )
    await service.start()
    try:
        churning = asyncio.create_task(churn(emulator, 8.0, rng))
        await asyncio.sleep(3.0)
        sim.set_faults(storm_seconds=2.0)  # every request answers 429 for two seconds
        changes = await churning
        sim.set_faults(drop=0.2, error_rate=0.08, rate_limit_rate=0.05, slow_ms=15)
        last_change = max(ts(tx["updated_at"]) for tx in sim.transactions_latest())
        await asyncio.to_thread(sim.webhooks.flush, 20.0)
        state = service.connections["default"]
        worker = next(iter(state.accounts.values()))
        await wait_for(
            lambda: (
                worker.progress.watermark is not None and worker.progress.watermark > last_change
            ),
            limit=60,
        )
        await asyncio.sleep(1.0)  # let the seen consumer read the last publishes back
        redundant_metric = sum(
            service.metrics.redundant.labels(s)._value.get() for s in ("poll", "backfill")
        )
        rate_limited = service.metrics.api_rate_limited.labels("default")._value.get()
        webhook_after_sync = service.metrics.delivered_first._value.get()
        requests = state.transport.requests
    finally:
        await service.stop()
        server.should_exit = True
        await serving
        await broker.stop()

    bodies = await read_topic(kafka_bootstrap, topics.transactions)
    truth = {tx["id"]: tx for tx in sim.transactions_latest()}
    latest = latest_by_id(bodies)
    missing = set(truth) - set(latest)
    assert not missing, f"{len(missing)} transactions never reached the topic"
    assert set(latest) == set(truth)
    wrong = [tx_id for tx_id, tx in truth.items() if not same(latest[tx_id]["transaction"], tx)]
    assert not wrong, f"{len(wrong)} transactions end on a stale or different version"

    # What the webhooks really did, and what sync added.
    fates = Counter(str(w.get("outcome")) for w in sim.webhooks.log())
    by_version: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
    for b in bodies:
        key = (b["transaction"]["id"], ts(b["transaction"]["updated_at"]))
        by_version.setdefault(key, []).append(b)
    sync_events = [b for b in bodies if b["source"] in ("poll", "backfill")]
    redundant = 0
    for events in by_version.values():
        ids = {e["event_id"] for e in events}
        sync_ids = {e["event_id"] for e in events if e["source"] in ("poll", "backfill")}
        if sync_ids and len(ids) > 1:
            redundant += len([e for e in events if e["source"] in ("poll", "backfill")])
    filled = sum(1 for events in by_version.values() if {e["source"] for e in events} == {"poll"})
    report = {
        "transactions": len(truth),
        "changes_during_sync": dict(changes),
        "webhooks_delivered": receiver.received,
        "webhook_fates": dict(fates),
        "events_on_topic": len(bodies),
        "sync_published": len(sync_events),
        "versions_only_sync_delivered": filled,
        "redundant_sync_publishes": redundant,
        "redundant_sync_publishes_metric": redundant_metric,
        "webhook_versions_sync_had_already_published": webhook_after_sync,
        "api_requests": requests,
        "api_429s": rate_limited,
    }
    print("\nsync e2e:", json.dumps(report, indent=1))
    for key, value in report.items():
        record_property(key, value)
    assert rate_limited > 0
    assert filled > 0
