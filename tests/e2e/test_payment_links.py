"""A Qonto payment link decides a payment, end to end: the emulator's signed webhooks go
through ingest (verified, made durable, routed: ``v1/payment-links`` to ``qonto.events.v1``,
``v1/transactions`` to ``qonto.transactions.v1``) over real Kafka to the matcher, which
records the paid link and auto-matches a credit of its amount, with no reference and from
a payer it does not know, to the link's invoice (two clients owe that same amount).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from qrecon.common import testing
from qrecon.common.schemas import Invoice, InvoiceEvent, MatchResult
from qrecon.common.topics import Topics
from qrecon.ingest.adapters.http import create_http_app
from qrecon.ingest.bootstrap import IngestRuntime
from qrecon.ingest.settings import IngestSettings
from qrecon.matcher.bootstrap import MatcherRuntime
from qrecon.matcher.core.payment_links import REASON_PAID
from qrecon.matcher.settings import MatcherSettings
from qrecon.sim.state import Simulator
from qrecon.sim.testing import run_emulator

from ..sim.conftest import Receiver, receiver  # noqa: F401 - the webhook endpoint fixture

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]

SECRET = "e2e-links-secret-0123456789abcdef0123456789"
PAID_AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTLED_AT = PAID_AT + timedelta(hours=2)


@pytest.fixture
async def ingest(
    database_url: str, kafka_bootstrap: str, topics: Topics
) -> AsyncIterator[httpx.AsyncClient]:
    settings = IngestSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topics.prefix,
        webhook_secret=SECRET,
        relay_poll_interval_seconds=0.1,
    )
    runtime = IngestRuntime(settings)
    await runtime.start()
    transport = httpx.ASGITransport(app=create_http_app(runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield client
    finally:
        await runtime.stop()


async def forward(client: httpx.AsyncClient, endpoint: Receiver, done: int) -> int:
    """Hand the webhooks the emulator sent since ``done`` to ingest, as Qonto would."""
    requests = endpoint.requests[done:]
    for request in requests:
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-qonto")}
        headers["content-type"] = "application/json"
        response = await client.post("/webhooks/qonto", content=request.body, headers=headers)
        assert response.status_code in (200, 201, 202, 204), response.text
    return done + len(requests)


async def test_a_paid_payment_link_decides_a_bare_credit_through_the_whole_system(
    ingest: httpx.AsyncClient,
    receiver: Receiver,  # noqa: F811
    kafka_bootstrap: str,
    database_url: str,
    topics: Topics,
) -> None:
    sim = Simulator()
    org = sim.credentials().organization_id
    matcher = MatcherRuntime(
        MatcherSettings(
            KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
            DATABASE_URL=database_url,
            KAFKA_TOPIC_PREFIX=topics.prefix,
            MATCHER_GROUP_ID=f"{topics.prefix}matcher",
            MATCHER_EVENTS_CONSUMER_GROUP=f"{topics.prefix}matcher-events",
            MATCHER_API_ENABLED=False,
            MATCHER_CACHE_REFRESH_SECONDS=0.2,
            MATCHER_OUTBOX_POLL_SECONDS=0.1,
            LOG_LEVEL="WARNING",
        )
    )
    await matcher.start()
    try:
        with run_emulator(sim):
            sim.add_webhook_subscription(
                callback_url=receiver.url,
                secret=SECRET,
                types=("v1/transactions", "v1/payment-links"),
            )
            ours = sim.add_client_invoice(
                number="F-2026-0087",
                client_name="Boulangerie Martin SARL",
                amount_cents=240_000,
                issue_date="2026-02-20",
            )
            other = sim.add_client_invoice(
                number="F-2026-0091",
                client_name="Atelier Roux SAS",
                amount_cents=240_000,
                issue_date="2026-02-21",
            )
            # The books (what sync publishes from Qonto's client invoices): same ids.
            events = [
                InvoiceEvent(
                    event_type="invoice.upsert",
                    observed_at=PAID_AT,
                    invoice=Invoice(
                        id=raw["id"],
                        number=raw["number"],
                        kind="receivable",
                        counterparty_name=raw["client"]["name"],
                        amount_cents=240_000,
                        issue_date=date.fromisoformat(raw["issue_date"]),
                        organization_id=org,
                    ),
                )
                for raw in (ours, other)
            ]
            await _produce(kafka_bootstrap, topics.invoices, events)

            link = sim.create_payment_link(ours["id"], at=PAID_AT - timedelta(days=3))
            sim.update_payment_link(link["payment_link_id"], status="paid", at=PAID_AT)
            assert sim.webhooks.flush()
            sent = await forward(ingest, receiver, 0)
            assert sent == 2
            await _until_paid_link_held(matcher, org, ours["id"], other["id"])

            tx = sim.add_transaction(
                amount_cents=240_000,
                side="credit",
                operation_type="transfer",
                status="completed",
                label="VIR INST",
                reference=None,
                settled_at=SETTLED_AT.isoformat(),
                emitted_at=SETTLED_AT.isoformat(),
                at=SETTLED_AT,
            )
            assert sim.webhooks.flush()
            assert await forward(ingest, receiver, sent) == sent + 1

        [record] = await testing.consume_until(kafka_bootstrap, topics.matches, count=1, timeout=90)
        result = MatchResult.model_validate_json(record.value)
        assert result.transaction_id == tx["id"]
        assert result.status == "auto_matched"
        assert [(a.invoice_id, a.amount_cents) for a in result.allocations] == [
            (ours["id"], 240_000)
        ]
        assert REASON_PAID in result.reasons
    finally:
        await matcher.stop()


async def _produce(bootstrap: str, topic: str, events: list[InvoiceEvent]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                topic, event.model_dump_json().encode(), key=event.invoice_id.encode()
            )
    finally:
        await producer.stop()


async def _until_paid_link_held(
    matcher: MatcherRuntime, org: str, *invoice_ids: str, deadline: float = 90.0
) -> None:
    """Poll (generous deadline) until the matcher holds both invoices and the paid link."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while loop.time() < end:
        held = matcher.state.org(org)
        links = held.links.paid_with(240_000, "EUR")
        if links and all(i in held.book for i in invoice_ids):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the matcher never held the invoices and the paid link")
