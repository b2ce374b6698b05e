"""The service against the emulator over HTTP, real Kafka and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from qrecon.common.kafka import make_broker, publish_event
from qrecon.common.schemas import QontoTransaction, TransactionEvent
from qrecon.common.topics import Topics
from qrecon.sim.testing import EmulatorHandle
from qrecon.sync.adapters.http import create_app
from qrecon.sync.bootstrap import SyncService
from qrecon.sync.settings import SyncSettings

from .helpers import add_transactions, latest_by_id, read_topic, ts, versions, wait_for


async def test_sync_publishes_every_version_once_and_skips_webhook_ones(
    emulator: EmulatorHandle,
    make_settings: Callable[..., SyncSettings],
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    created = add_transactions(emulator, 250)
    # 30 versions already on the topic, delivered by ingest from webhooks.
    broker = make_broker(kafka_bootstrap, client_id="test-webhooks")
    async with broker:
        await broker.start()
        for tx in created[:30]:
            event = TransactionEvent(
                event_id=f"webhook-{tx['id']}",
                source="webhook",
                transaction=QontoTransaction.model_validate(tx),
            )
            await publish_event(
                broker,
                topics.transactions,
                key=tx["id"],
                value=event,
                event_id=event.event_id,
                event_type=event.event_type,
            )
    settings = make_settings(emulator)
    service = SyncService(settings)
    await service.start()
    try:
        state = service.connections["default"]
        await wait_for(lambda: bool(state.accounts))
        worker = next(iter(state.accounts.values()))
        # The seen consumer must have read the webhook versions before the first page.
        # (It races the first sweep; whatever it misses is counted as redundant.)
        await wait_for(lambda: worker.progress.sweeps_completed >= 1)
        # Edits after the first sweep are picked up by the next one.
        edited = emulator.sim.update_transaction(created[5]["id"], note="edited", notify=False)
        await wait_for(
            lambda: (
                worker.progress.watermark is not None
                and worker.progress.watermark >= ts(edited["updated_at"])
            )
        )
        await wait_for(lambda: worker.progress.published + worker.progress.skipped >= 251)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(service)), base_url="http://sync"
        )
        async with client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            metrics = (await client.get("/metrics")).text
        assert "qonto_sync_lag_seconds" in metrics
        assert (
            'qonto_sync_api_requests_total{connection="default",endpoint="/v2/transactions"'
            in metrics
        )
    finally:
        await service.stop()

    bodies = await read_topic(kafka_bootstrap, topics.transactions)
    latest = latest_by_id(bodies)
    truth = {tx["id"]: tx for tx in emulator.sim.transactions_latest()}
    assert set(latest) == set(truth)
    for tx_id, tx in truth.items():
        assert ts(latest[tx_id]["transaction"]["updated_at"]) == ts(tx["updated_at"])
    polled = versions(bodies, "poll")
    assert len(polled) == len(set(polled)), "a version was polled and published twice"
    assert len(polled) <= 251  # 220 unseen + the edit, + whatever raced the seen consumer
    assert latest[created[5]["id"]]["transaction"]["note"] == "edited"
