"""The service end to end through real Kafka: consume, decide, publish, dead-letter, commit."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from qrecon.common import testing
from qrecon.common import topics as topic_names
from qrecon.common.schemas import MatchResult, QontoTransaction
from qrecon.common.topics import Topics
from qrecon.matcher.bootstrap import MatcherRuntime
from qrecon.matcher.core import EngineConfig, InvoiceBook, Knowledge, MatchingEngine

from .conftest import DEFAULT_ORG, RuntimeFactory, committed_lag, free_port, produce
from .factories import (
    assert_allocations_consistent,
    bump,
    cancel_event,
    invoice,
    invoice_event,
    invoice_state,
    transaction,
    tx_event,
)

TOKEN = "stream-token-0123456789"


class ExplodingEngine:
    """The real engine, except that it fails on one reference (a poison the decoder can't see)."""

    def __init__(self) -> None:
        self.real = MatchingEngine(EngineConfig())
        self.calls = 0

    def decide(
        self, tx: QontoTransaction, book: InvoiceBook, knowledge: Knowledge | None = None
    ) -> MatchResult:
        if tx.reference == "BOOM":
            self.calls += 1
            raise RuntimeError("engine failure on this record")
        return self.real.decide(tx, book, knowledge)


def _results(records: list[Any]) -> list[MatchResult]:
    return [MatchResult.model_validate_json(r.value) for r in records]


async def test_stream_lifecycle_dead_letters_and_offsets(
    runtimes: RuntimeFactory, kafka_bootstrap: str, topics: Topics
) -> None:
    port = free_port()
    engine = ExplodingEngine()
    runtime = await runtimes(
        engine, MATCHER_API_ENABLED=True, MATCHER_PORT=port, MATCHER_API_TOKEN=TOKEN
    )
    assert runtime.service is not None
    pool = runtime.service.db.pool
    inv_a, inv_b = invoice("FAC-2025-2001", 50000), invoice("FAC-2025-2002", 70000)
    await produce(
        kafka_bootstrap,
        topics.invoices,
        [(i.id, invoice_event(i).model_dump_json().encode()) for i in (inv_a, inv_b)]
        + [("broken-invoice", b'{"event_type": "invoice.upsert"}')],
    )
    tx1 = transaction(50000, reference="FAC-2025-2001")
    tx2 = transaction(70000, reference="FAC-2025-2002")
    boom = transaction(1234, reference="BOOM")
    e1 = tx_event(tx1).model_dump_json().encode()
    # Invoices first: the transactions then match at once (re-examination is tested elsewhere).
    for _ in range(100):
        if {inv_a.id, inv_b.id} <= set(iter_ids(runtime)):
            break
        await asyncio.sleep(0.05)
    await produce(
        kafka_bootstrap,
        topics.transactions,
        [
            (tx1.id, e1),
            (tx1.id, e1),  # a duplicate delivery
            (tx2.id, b"{not json"),  # a poison ahead of tx2 in its partition
            (tx2.id, tx_event(tx2).model_dump_json().encode()),
            (boom.id, tx_event(boom).model_dump_json().encode()),
            (tx1.id, tx_event(bump(tx1, status="declined")).model_dump_json().encode()),
        ],
    )

    records = await testing.consume_until(kafka_bootstrap, topics.matches, count=3, timeout=30)
    by_tx: dict[str, list[MatchResult]] = {}
    for result in _results(records):
        by_tx.setdefault(result.transaction_id, []).append(result)
    assert [r.status for r in by_tx[tx1.id]] == ["auto_matched", "reverted"]
    assert [r.status for r in by_tx[tx2.id]] == ["auto_matched"]
    assert boom.id not in by_tx
    assert all(r.headers for r in records)
    assert {h[0] for h in records[0].headers} >= {
        "event-id",
        "event-type",
        "schema-version",
        "result-seq",
    }

    dead = await testing.consume_until(
        kafka_bootstrap, topics.dlq(topics.transactions), count=2, timeout=30
    )
    headers = {r.key.decode(): dict((k, v.decode()) for k, v in r.headers) for r in dead}
    assert headers[tx2.id][topic_names.HEADER_DLQ_ATTEMPTS] == "1"
    assert "ValidationError" in headers[tx2.id][topic_names.HEADER_DLQ_ERROR]
    assert headers[tx2.id][topic_names.HEADER_DLQ_SOURCE_TOPIC] == topics.transactions
    assert headers[boom.id][topic_names.HEADER_DLQ_ATTEMPTS] == "3"
    assert "engine failure" in headers[boom.id][topic_names.HEADER_DLQ_ERROR]
    assert headers[boom.id]["event-type"] == "test"  # the original headers are kept
    assert engine.calls == 3
    assert {r.value for r in dead} >= {b"{not json"}
    dead_invoices = await testing.consume_until(
        kafka_bootstrap, topics.dlq(topics.invoices), count=1, timeout=30
    )
    assert [r.key for r in dead_invoices] == [b"broken-invoice"]

    assert await invoice_state(pool, inv_a.id) == (50000, 0, "open")
    assert await invoice_state(pool, inv_b.id) == (70000, 70000, "open")
    await assert_allocations_consistent(pool)

    # Offsets are committed once every record is effected (applied or dead-lettered).
    group = f"{topics.prefix}matcher"
    for _ in range(100):
        if await committed_lag(kafka_bootstrap, group, topics.transactions) == 0:
            break
        await asyncio.sleep(0.1)
    assert await committed_lag(kafka_bootstrap, group, topics.transactions) == 0
    assert await committed_lag(kafka_bootstrap, group, topics.invoices) == 0

    # Matching runs in both directions: a transaction that found nothing is matched when its
    # invoice arrives; a cancelled invoice gives its payment back to review.
    early = transaction(66600, reference="FAC-2025-2003", counterparty="TROIS SARL")
    await produce(
        kafka_bootstrap,
        topics.transactions,
        [(early.id, tx_event(early).model_dump_json().encode())],
    )
    records = await testing.consume_until(kafka_bootstrap, topics.matches, count=4, timeout=30)
    [before] = [r for r in _results(records) if r.transaction_id == early.id]
    assert before.status != "auto_matched"
    inv_c = invoice("FAC-2025-2003", 66600, counterparty="Trois SARL")
    await produce(
        kafka_bootstrap,
        topics.invoices,
        [
            (inv_c.id, invoice_event(inv_c).model_dump_json().encode()),
            (inv_b.id, cancel_event(inv_b.id).model_dump_json().encode()),
        ],
    )
    records = await testing.consume_until(kafka_bootstrap, topics.matches, count=6, timeout=30)
    latest = {r.transaction_id: r for r in _results(records)}
    assert latest[early.id].status == "auto_matched"
    assert latest[tx2.id].status in ("unmatched", "suggested")
    assert await invoice_state(pool, inv_c.id) == (66600, 66600, "open")
    assert await invoice_state(pool, inv_b.id) == (70000, 0, "canceled")
    await assert_allocations_consistent(pool)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        await asyncio.sleep(0.5)  # one lag measurement
        text = (await http.get("/metrics")).text
        assert 'matcher_results_total{cause="transaction",status="auto_matched"}' in text
        assert "matcher_event_to_result_seconds_bucket" in text
        assert f'matcher_consumer_lag{{partition="0",topic="{topics.transactions}"}}' in text
        assert (await http.get("/v1/unmatched")).status_code == 401
        listed = await http.get("/v1/unmatched", headers={"Authorization": f"Bearer {TOKEN}"})
        assert listed.status_code == 200


def iter_ids(runtime: MatcherRuntime) -> list[str]:
    return [i.id for i in runtime.state.org(DEFAULT_ORG).book]
