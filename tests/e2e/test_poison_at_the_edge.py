"""Hostile values in a correctly signed webhook, through ingest, Kafka and the matcher.

Each value is refused or sanitised once, in the schemas (``qrecon.common.schemas``): ingest
answers 400 for what no Qonto transaction can hold (an amount beyond any bank's, a number
JSON cannot represent, a control character in an id) and stores nothing; free text keeps
the bank line but loses its NUL bytes, so the matcher can store it (PostgreSQL refuses
``\\u0000``) and decides it instead of dead-lettering it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qrecon.common import testing
from qrecon.common.qonto.signature import signature_header
from qrecon.common.topics import Topics
from qrecon.devstack.stack import Stack, StackConfig

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]


def _transaction(tx_id: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event": "created",
        "id": tx_id,
        "transaction_id": f"tx-{tx_id[:8]}",
        "amount": 50.01,
        "currency": "EUR",
        "side": "credit",
        "status": "completed",
        "operation_type": "transfer",
        "label": "VIR SEPA MAISON DUPONT",
        "reference": "FAC-2026-0001",
        "settled_at": "2026-03-02T10:55:00.000Z",
        "emitted_at": "2026-03-02T10:54:00.000Z",
        "updated_at": "2026-03-02T10:55:00.000Z",
        "subject_type": "Transfer",
    }
    data.update(overrides)
    return data


def _signed(secret: str, data: dict[str, Any] | str) -> tuple[bytes, dict[str, str]]:
    envelope = {
        "id": str(uuid.uuid4()),
        "subscription_id": "sub-1",
        "organization_id": "org-1",
        "membership_id": "mem-1",
        "type": "v1/transactions",
        "created_at": "2026-03-02T10:55:00Z",
        "data": "__DATA__",
    }
    text = json.dumps(envelope, separators=(",", ":"))
    # a raw fragment, so that numbers JSON libraries would refuse to write reach the server
    raw = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    body = text.replace('"__DATA__"', raw).encode()
    headers = {
        "X-Qonto-Signature": signature_header(secret, body, int(time.time())),
        "Content-Type": "application/json",
    }
    return body, headers


@pytest.fixture
async def stack(
    kafka_bootstrap: str, postgres_admin_dsn: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    async with testing.fresh_database(postgres_admin_dsn) as dsn:
        config = StackConfig.private(tmp_path / "stack", kafka_bootstrap, dsn)
        running = Stack(config)
        await asyncio.to_thread(running.provision_topics)
        for name in ("ingest", "matcher"):
            await asyncio.to_thread(running.start, name)
        try:
            yield running
        finally:
            await asyncio.to_thread(running.stop_all)


async def test_poison_is_refused_at_ingest_and_a_nul_in_a_label_reaches_a_decision(
    stack: Stack, kafka_bootstrap: str
) -> None:
    secret = stack.config.webhook_secret
    refused: dict[str, dict[str, Any] | str] = {
        "amount beyond any bank's": _transaction(str(uuid.uuid4()), amount_cents=10**30),
        "non-finite amount": json.dumps(_transaction(str(uuid.uuid4()))).replace(
            '"amount": 50.01', '"amount": 1e999999'
        ),
        "NUL in the id": _transaction(f"{uuid.uuid4()}\u0000x"),
    }
    clean_id = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=stack.config.ingest_url, timeout=10) as client:
        for case, data in refused.items():
            body, headers = _signed(secret, data)
            response = await client.post("/webhooks/qonto", content=body, headers=headers)
            assert response.status_code == 400, case
            assert response.json()["error"]["code"], case
        body, headers = _signed(
            secret, _transaction(clean_id, label="VIR\u0000 SEPA <b>DUPONT</b>\u0000")
        )
        accepted = await client.post("/webhooks/qonto", content=body, headers=headers)
    assert accepted.status_code == 200

    topics = Topics(stack.config.topic_prefix)
    records = await testing.consume_until(kafka_bootstrap, topics.matches, count=1, timeout=120)
    results = [json.loads(r.value) for r in records]
    assert [r["transaction_id"] for r in results] == [clean_id]
    assert results[0]["status"] in ("unmatched", "suggested", "auto_matched")
    transactions = await testing.consume_until(
        kafka_bootstrap, topics.transactions, count=1, timeout=30
    )
    event = json.loads(transactions[0].value)
    assert event["transaction"]["label"] == "VIR SEPA <b>DUPONT</b>"
    assert await testing.topic_size(kafka_bootstrap, topics.transactions) == 1  # nothing else
    assert await testing.topic_size(kafka_bootstrap, topics.dlq(topics.transactions)) == 0
