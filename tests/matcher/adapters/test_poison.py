"""Poison the schemas now stop at the edge, followed from a signed webhook's body through
ingest's routing to the matcher's decoding (the Kafka consumer's) and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from qrecon.common.schemas import TransactionEvent
from qrecon.ingest.core.payload import PayloadError, route_webhook
from qrecon.matcher.adapters.postgres import PgRepository
from qrecon.matcher.app.service import MatcherService

from .conftest import DEFAULT_ORG
from .factories import OBSERVED


def _webhook(**data: Any) -> str:
    transaction = {
        "id": str(uuid.uuid4()),
        "amount": 50.01,
        "currency": "EUR",
        "side": "credit",
        "status": "completed",
        "label": "Client SAS",
        "updated_at": "2025-01-24T10:55:00.000Z",
        **data,
    }
    return json.dumps({"id": str(uuid.uuid4()), "type": "v1/transactions", "data": transaction})


def _route(body: str | bytes) -> bytes:
    raw = body.encode() if isinstance(body, str) else body
    return route_webhook(raw, connection_id="default", observed_at=OBSERVED).value


async def test_a_nul_in_a_label_reaches_postgresql_removed(service: MatcherService) -> None:
    value = _route(_webhook(label="Client\x00 SAS", reference="FAC\x00-1", extra={"k\x00": "\x00"}))
    event = TransactionEvent.model_validate_json(value)  # as the consumer decodes it
    await service.handle_transaction_event(event)
    async with service.db.pool.acquire() as conn:
        row = await PgRepository(conn, DEFAULT_ORG).get_transaction(event.transaction.id)
    assert row is not None
    assert row.transaction["label"] == "Client SAS"
    assert row.transaction["extra"] == {"k": ""}


@pytest.mark.parametrize(
    "raw",
    ['"amount_cents": 1000000000000000000000000000000', '"amount": 1e999999'],
)
def test_out_of_range_numbers_stop_at_ingest_and_at_the_matcher_decoder(raw: str) -> None:
    body = _webhook().replace('"amount": 50.01', raw)
    with pytest.raises(PayloadError) as refused:
        _route(body)
    assert refused.value.code == PayloadError.INVALID_TRANSACTION
    # a record that bypassed ingest is refused by the consumer's decoding (dead-lettered
    # without a retry), before PostgreSQL sees it
    data = json.loads(_webhook())["data"]
    value = json.dumps({"event_id": "e", "source": "poll", "transaction": data})
    value = value.replace('"amount": 50.01', raw)
    assert raw in value
    with pytest.raises(ValidationError):
        TransactionEvent.model_validate_json(value)
