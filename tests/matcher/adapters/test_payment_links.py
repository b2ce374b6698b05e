"""Payment links on PostgreSQL (``matcher_payment_links``) and through real Kafka: a
``v1/payment-links`` webhook on ``qonto.events.v1`` is recorded, and a credit of the paid
link's amount, with no reference and from an unknown payer, is auto-matched to its invoice.
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from qrecon.common import testing
from qrecon.common import topics as topic_names
from qrecon.common.schemas import MatchResult
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.postgres_links import PgPaymentLinks
from qrecon.matcher.core.payment_links import REASON_PAID, PaymentLink

from .conftest import DEFAULT_ORG, RuntimeFactory, committed_lag
from .factories import invoice, invoice_event, transaction, tx_event

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[2] / "fixtures" / "qonto"
PAID_AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def link(
    status: str = "paid",
    *,
    at: datetime = PAID_AT,
    org: str = "org-a",
    link_id: str = "pl-1",
    amount: int = 240000,
) -> PaymentLink:
    return PaymentLink(
        link_id=link_id,
        organization_id=org,
        invoice_id="inv-1",
        invoice_number="F-2026-0087",
        amount_cents=amount,
        currency="EUR",
        status=status,
        paid_at=at if status == "paid" else None,
        updated_at=at,
    )


# ---------------------------------------------------------------------- the store
async def test_the_store_keeps_the_newest_version_of_each_link(pool: asyncpg.Pool) -> None:
    store = PgPaymentLinks(pool)
    assert await store.upsert_link(link("open", at=PAID_AT - timedelta(hours=1)), "e1")
    assert await store.upsert_link(link("paid"), "e2")
    assert not await store.upsert_link(link("paid"), "e2")  # a replay
    assert not await store.upsert_link(link("open", at=PAID_AT - timedelta(hours=2)), "e0")
    # a later paid version keeps the time the link became paid
    assert await store.upsert_link(link("paid", at=PAID_AT + timedelta(hours=5)), "e3")

    _, links = await store.links_changed_since(None)

    assert [(x.link_id, x.status, x.paid_at) for x in links] == [("pl-1", "paid", PAID_AT)]
    assert links[0].updated_at == PAID_AT + timedelta(hours=5)

    assert await store.upsert_link(link("canceled", at=PAID_AT + timedelta(days=1)), "e4")
    _, links = await store.links_changed_since(None)
    assert [(x.status, x.paid_at) for x in links] == [("canceled", None)]


async def test_links_are_kept_per_organisation_and_read_incrementally(
    pool: asyncpg.Pool,
) -> None:
    store = PgPaymentLinks(pool)
    await store.upsert_link(link(org="org-a"), "e1")
    clock, first = await store.links_changed_since(None)
    await store.upsert_link(link(org="org-b"), "e2")  # the same link id, another organisation

    _, later = await store.links_changed_since(clock)

    assert [x.organization_id for x in first] == ["org-a"]
    assert [x.organization_id for x in later] == ["org-b"]


async def test_the_table_refuses_a_paid_link_without_a_paid_time(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO matcher_payment_links (organization_id, link_id, amount_cents,"
                " currency, status, link_updated_at, event_id)"
                " VALUES ('o', 'l', 100, 'EUR', 'paid', now(), 'e')"
            )


# ---------------------------------------------------------------------- through Kafka
def webhook(status: str, *, invoice_id: str, number: str, at: datetime, **envelope: Any) -> bytes:
    """Qonto's documented example (fixture) for one of our invoices, as ingest publishes
    it: the body as received."""
    raw: dict[str, Any] = copy.deepcopy(
        json.loads((FIXTURES / "webhook_payment_links.json").read_text())
    )
    raw.update(envelope)
    raw["organization_id"] = DEFAULT_ORG
    raw["data"].update(
        event="updated",
        status=status,
        resource_id=invoice_id,
        resource_metadata={"invoice_number": number},
        amount={"currency": "EUR", "value": "2400.00"},
        updated_at=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return json.dumps(raw).encode()


async def publish(bootstrap: str, topic: str, records: list[tuple[str, bytes, str]]) -> None:
    """``(key, value, event-type)`` records, with the headers ingest sets."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value, kind in records:
            await producer.send_and_wait(
                topic,
                value,
                key=key.encode(),
                headers=[("event-type", kind.encode()), ("schema-version", b"1")],
            )
    finally:
        await producer.stop()


async def test_a_paid_link_from_the_events_topic_auto_matches_a_bare_credit(
    runtimes: RuntimeFactory, kafka_bootstrap: str, topics: Topics
) -> None:
    runtime = await runtimes()
    assert runtime.service is not None
    pool = runtime.service.db.pool
    # Two clients owe 2 400 €: without the link, a bare credit of it is not decided alone.
    ours = invoice("F-2026-0087", 240000, counterparty="Boulangerie Martin SARL")
    other = invoice("F-2026-0091", 240000, counterparty="Atelier Roux SAS")
    await publish(
        kafka_bootstrap,
        topics.invoices,
        [
            (i.id, invoice_event(i).model_dump_json().encode(), "invoice.upsert")
            for i in (ours, other)
        ],
    )
    tx = transaction(240000, counterparty="VIR SEPA INST")
    settled = tx.settled_at or tx.updated_at
    accounts = (FIXTURES / "webhook_accounts.json").read_bytes()
    await publish(
        kafka_bootstrap,
        topics.qonto_events,
        [
            ("acc-1", accounts, "v1/accounts"),  # not the matcher's: skipped
            (
                "pl-broken",
                b'{"id": "e", "type": "v1/payment-links", "data": {}}',
                "v1/payment-links",
            ),
            (
                "pl-1",
                webhook(
                    "paid",
                    invoice_id=ours.id,
                    number=ours.number,
                    at=settled - timedelta(hours=2),
                ),
                "v1/payment-links",
            ),
        ],
    )
    for _ in range(300):  # the link is recorded (the consumer commits after the batch)
        async with pool.acquire() as conn:
            status = await conn.fetchval(
                "SELECT status FROM matcher_payment_links WHERE organization_id = $1",
                DEFAULT_ORG,
            )
        if status == "paid" and ours.id in runtime.state.org(DEFAULT_ORG).book:
            break
        await asyncio.sleep(0.1)
    assert status == "paid"

    await publish(
        kafka_bootstrap,
        topics.transactions,
        [(tx.id, tx_event(tx).model_dump_json().encode(), "qonto.transaction")],
    )

    [record] = await testing.consume_until(kafka_bootstrap, topics.matches, count=1, timeout=60)
    result = MatchResult.model_validate_json(record.value)
    assert result.transaction_id == tx.id
    assert result.status == "auto_matched"
    assert [(a.invoice_id, a.amount_cents) for a in result.allocations] == [(ours.id, 240000)]
    assert REASON_PAID in result.reasons

    [dead] = await testing.consume_until(
        kafka_bootstrap, topics.dlq(topics.qonto_events), count=1, timeout=30
    )
    headers = {k: v.decode() for k, v in dead.headers}
    assert dead.key == b"pl-broken"
    assert "ValidationError" in headers[topic_names.HEADER_DLQ_ERROR]
    assert headers["event-type"] == "v1/payment-links"

    group = f"{topics.prefix}matcher-events"
    for _ in range(100):
        if await committed_lag(kafka_bootstrap, group, topics.qonto_events) == 0:
            break
        await asyncio.sleep(0.1)
    assert await committed_lag(kafka_bootstrap, group, topics.qonto_events) == 0
