"""The whole system under faults: nothing lost, no effect doubled.

Each test runs the emulator, ingest, sync and matcher as real processes over the real
Kafka and PostgreSQL, plays a generated month with the emulator dropping 20% of the
webhooks and duplicating and reordering others, breaks something mid-stream, and then
checks the settled state against the emulator's ground truth:

* every transaction's latest version reached ``qonto.transactions.v1`` and has a match
  result for that version (nothing lost);
* no auto-match disagrees with the true allocation;
* no invoice is allocated beyond its amount, on the topic or in the matcher's database,
  and the matcher's stored decision of every transaction is the one last published
  (a result is published if and only if its state change committed: no doubled effect).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from qrecon.common import testing
from qrecon.common.topics import Topics
from qrecon.devstack.observe import same_version
from qrecon.devstack.run import (
    PlayOptions,
    RunResult,
    accuracy,
    over_allocated_invoices,
    play_and_settle,
)
from qrecon.devstack.stack import Stack, StackConfig

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]

# The first business day of the month each test plays. Which invoices and payments fall
# inside a fault window depends on it (the suite once passed on the day it was written and
# failed a month later), so every fault runs at each of these, all explicit: a 31st at a
# month end, the last days of February (common and leap year), a Saturday, and the 30 days
# that ended on 2026-12-06, the day the calendar bug was found.
START_DATES = {
    "31st-month-end": date(2026, 1, 31),
    "february-end": date(2027, 2, 26),
    "leap-february-end": date(2028, 2, 27),
    "saturday": date(2026, 3, 7),
    "2026-11-06": date(2026, 11, 6),
}


def faulty_webhooks(start: date, **overrides: Any) -> PlayOptions:
    options = {
        "seed": 11,
        "month_seconds": 30.0,
        "size": "small",
        "drop": 0.2,
        "duplicate": 0.1,
        "reorder": 0.2,
        "settle_timeout": 150.0,
        "start": start,
        **overrides,
    }
    return PlayOptions(**options)


@pytest.fixture(params=list(START_DATES.values()), ids=list(START_DATES))
def start(request: pytest.FixtureRequest) -> date:
    value = request.param
    assert isinstance(value, date)
    return value


@pytest.fixture
async def system(
    kafka_bootstrap: str, postgres_admin_dsn: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    async with testing.fresh_database(postgres_admin_dsn) as dsn:
        config = StackConfig.private(
            tmp_path / "stack", kafka_bootstrap, dsn, sync_poll_seconds=2.0
        )
        stack = Stack(config)
        await asyncio.to_thread(stack.start_all)
        try:
            yield stack
        finally:
            await asyncio.to_thread(stack.stop_all)


async def assert_reconciled(stack: Stack, result: RunResult) -> None:
    missing = result.missing()
    assert not missing, f"{len(missing)} of {len(result.truth)} transactions never settled"
    assert result.settled
    acc = accuracy(result)
    assert acc.auto_wrong == 0, f"wrong auto-matches: {acc.wrong_ids}"
    invoices = stack.ground_truth("invoices")
    amounts = {str(i["id"]): int(i["amount_cents"]) for i in invoices}
    assert over_allocated_invoices(result, amounts) == {}
    conn = await asyncpg.connect(stack.config.database_url)
    try:
        over = await conn.fetch(
            "SELECT i.invoice_id FROM matcher_invoices i"
            " LEFT JOIN matcher_allocations a USING (invoice_id)"
            " GROUP BY i.invoice_id, i.amount_cents, i.allocated_cents"
            " HAVING abs(coalesce(sum(a.amount_cents), 0)) > abs(i.amount_cents)"
            "     OR coalesce(sum(a.amount_cents), 0) <> i.allocated_cents"
        )
        assert over == []
        rows = await conn.fetch(
            "SELECT transaction_id, version, result_status, result FROM matcher_transactions"
        )
        orphan = await conn.fetchval(
            "SELECT count(*) FROM matcher_allocations a JOIN matcher_transactions t"
            " USING (transaction_id) WHERE t.result_status IN ('unmatched', 'reverted')"
        )
    finally:
        await conn.close()
    assert orphan == 0, "allocations left behind by an unmatched or reverted transaction"
    stored = {r["transaction_id"]: r for r in rows}
    assert set(stored) >= {str(t["id"]) for t in result.truth}
    # "Settled" means every transaction has *a* result for its latest version; a later result
    # for the same version (an invoice arrived, the payment is decided again) may still be
    # in the matcher's outbox then. Compare the database with the whole topic once the
    # outbox is drained, not with what the observer had read when the run settled.
    for tx_id, published in (await _last_published(stack)).items():
        row = stored[tx_id]
        assert row["result_status"] == published["status"], tx_id
        assert same_version(row["version"].isoformat(), str(published["transaction_version"]))
        assert _allocations(row["result"]) == _allocations(published), tx_id


async def _last_published(stack: Stack) -> dict[str, dict[str, Any]]:
    """The last result per transaction on the results topic, once nothing is pending."""
    conn = await asyncpg.connect(stack.config.database_url)
    try:
        deadline = time.monotonic() + 120
        while await conn.fetchval("SELECT count(*) FROM matcher_outbox_pending"):
            assert time.monotonic() < deadline, "the matcher's outbox never drained"
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    bootstrap = stack.config.kafka_bootstrap
    topic = Topics(stack.config.topic_prefix).matches
    size = await testing.topic_size(bootstrap, topic)
    records = await testing.consume_until(bootstrap, topic, count=size, timeout=120)
    assert len(records) == size
    last: dict[str, dict[str, Any]] = {}
    for record in records:  # one key lives in one partition: its records come in order
        value = json.loads(record.value)
        last[str(value["transaction_id"])] = value
    return last


def _allocations(result: dict[str, Any] | str) -> list[tuple[str, int]]:
    if isinstance(result, str):  # jsonb as text on a plain connection
        result = json.loads(result)
    assert isinstance(result, dict)
    return sorted(
        (str(a["invoice_id"]), int(a["amount_cents"])) for a in result.get("allocations", [])
    )


def _infra(script: str, action: str, address: str) -> None:
    testing.control_infra(ROOT, script, action, address)


async def test_lost_duplicated_and_reordered_webhooks_and_failing_api_lose_nothing(
    system: Stack, start: date
) -> None:
    result = await play_and_settle(system, faulty_webhooks(start, api_error_rate=0.2))
    await assert_reconciled(system, result)
    dropped = result.emulator_status["webhooks"].get("dropped", 0)
    assert dropped > 0, "the emulator dropped no webhook: the test proved nothing"
    assert result.observation.events_by_source["poll"] > 0


async def test_kill_9_of_each_service_mid_stream(system: Stack, start: date) -> None:
    async def crash_each_service() -> None:
        for name in ("ingest", "matcher", "sync"):
            await asyncio.sleep(6)
            system.kill(name)  # SIGKILL: no graceful shutdown
            await asyncio.sleep(2)
            await asyncio.to_thread(system.start, name)

    result = await play_and_settle(system, faulty_webhooks(start), during=crash_each_service)
    await assert_reconciled(system, result)


async def test_kafka_broker_stopped_and_restarted_mid_stream(system: Stack, start: date) -> None:
    async def broker_outage() -> None:
        await asyncio.sleep(8)
        kafka = system.config.kafka_bootstrap
        await asyncio.to_thread(_infra, "kafka.sh", "stop", kafka)
        await asyncio.sleep(10)
        await asyncio.to_thread(_infra, "kafka.sh", "start", kafka)

    result = await play_and_settle(system, faulty_webhooks(start), during=broker_outage)
    await assert_reconciled(system, result)


async def test_postgresql_restarted_mid_stream(system: Stack, start: date) -> None:
    async def database_restart() -> None:
        await asyncio.sleep(8)
        database = system.config.database_url
        await asyncio.to_thread(_infra, "postgres.sh", "stop", database)
        await asyncio.sleep(5)
        await asyncio.to_thread(_infra, "postgres.sh", "start", database)

    result = await play_and_settle(system, faulty_webhooks(start), during=database_restart)
    await assert_reconciled(system, result)
