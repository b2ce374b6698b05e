"""kill -9 of a ``qonto-matcher run`` process mid-stream: nothing lost, nothing doubled.

A real subprocess consumes a stream of invoices and transaction versions (payments,
duplicates, later notes, declines); it is SIGKILLed while deciding, the rest of the stream
is published, and a new process takes over. After it drains (and stops on SIGTERM, which
must be graceful):

* every transaction holds its last version and exactly one effective result, and each
  version was decided from the stream exactly once;
* no invoice is allocated beyond its amount (and the maintained sums are exact);
* the results topic carries every result committed (none lost), never two different
  payloads under one ``event-id`` (a relay replay is an exact duplicate), and its last
  record per transaction is the effective result.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import asyncpg

from qrecon.common import testing
from qrecon.common.schemas import MatchResult, QontoTransaction
from qrecon.common.topics import Topics

from .conftest import produce
from .factories import (
    assert_allocations_consistent,
    bump,
    invoice,
    invoice_event,
    transaction,
    tx_event,
)

ROOT = Path(__file__).resolve().parents[3]
INVOICES = 25


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "qrecon.matcher", "run", "--no-api"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _wait(pool: asyncpg.Pool, sql: str, done: Any, within: float, *args: Any) -> Any:
    deadline = time.monotonic() + within
    while True:
        async with pool.acquire() as conn:
            value = await conn.fetchval(sql, *args)
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


def _stream() -> tuple[list[Any], list[tuple[str, bytes]], dict[str, QontoTransaction]]:
    """Invoices, then transaction records (in publication order), and each one's last version."""
    invoices = [
        invoice(f"FAC-2025-{3000 + n}", 30_000 + 1_000 * n, counterparty=f"Client {n} SAS")
        for n in range(INVOICES)
    ]
    records: list[tuple[str, bytes]] = []
    last: dict[str, QontoTransaction] = {}

    def send(tx: QontoTransaction) -> None:
        records.append((tx.id, tx_event(tx).model_dump_json().encode()))
        last[tx.id] = tx

    later: list[QontoTransaction] = []
    for n, inv in enumerate(invoices):
        payer = f"CLIENT {n} SAS"
        # Odd: paid in full, then paid again by mistake. Even: three thirds and one too many.
        amounts = [inv.amount_cents] * 2 if n % 2 else [inv.amount_cents // 3] * 4
        for k, amount in enumerate(amounts):
            tx = transaction(amount, reference=f"Facture {inv.number}", counterparty=payer)
            send(tx)
            if k == 0:
                records.append(records[-1])  # a duplicate delivery
                if n % 4 == 1:
                    later.append(bump(tx, status="declined"))
                else:
                    later.append(bump(tx, note="checked"))
            if k == 1 and n % 2 == 0:
                later.append(bump(tx, status="declined"))
        send(transaction(inv.amount_cents, reference="unrelated", counterparty="Somebody Else"))
    for tx in later:
        send(tx)
    return invoices, records, last


async def test_kill_9_mid_stream_loses_and_doubles_nothing(
    kafka_bootstrap: str, database_url: str, topics: Topics, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    invoices, records, last = _stream()
    await produce(
        kafka_bootstrap,
        topics.invoices,
        [(i.id, invoice_event(i).model_dump_json().encode()) for i in invoices],
    )
    half = len(records) // 2
    await produce(kafka_bootstrap, topics.transactions, records[:half])
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": topics.prefix,
        "MATCHER_GROUP_ID": f"{topics.prefix}matcher",
        "MATCHER_EVENTS_CONSUMER_GROUP": f"{topics.prefix}matcher-events",
        "MATCHER_HEARTBEAT_INTERVAL_MS": "300",
        "MATCHER_SESSION_TIMEOUT_MS": "6000",
        "MATCHER_BATCH_SIZE": "20",
        "MATCHER_DEFAULT_ORGANIZATION": "org-default",
        "MATCHER_OUTBOX_POLL_SECONDS": "0.1",
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "matcher.log"
    first = _start(env, log)
    try:
        progressed = await _wait(
            pool, "SELECT count(*) FROM matcher_results", lambda n: n >= 25, 60
        )
        assert progressed >= 25, log.read_text()[-3000:]
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    async with pool.acquire() as conn:
        at_kill = await conn.fetchval("SELECT count(*) FROM matcher_transactions")
    assert at_kill < len(last)  # it really died mid-stream

    await produce(kafka_bootstrap, topics.transactions, records[half:])
    second = _start(env, log)
    try:
        applied = await _wait(
            pool,
            "SELECT count(*) FROM matcher_transactions t"
            " JOIN unnest($1::text[], $2::timestamptz[]) AS l(id, version)"
            " ON l.id = t.transaction_id AND l.version = t.version",
            lambda n: n == len(last),
            90,
            list(last),
            [tx.updated_at for tx in last.values()],
        )
        assert applied == len(last), log.read_text()[-3000:]
        pending = await _wait(
            pool,
            "SELECT count(*) FROM matcher_outbox_pending",
            lambda n: n == 0,
            30,
        )
        assert pending == 0
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, log.read_text()[-3000:]  # graceful
    finally:
        if second.poll() is None:
            second.kill()

    async with pool.acquire() as conn:
        txs = {
            r["transaction_id"]: r
            for r in await conn.fetch(
                "SELECT transaction_id, version, result, result_seq FROM matcher_transactions"
            )
        }
        audit = await conn.fetch(
            "SELECT transaction_id, seq, version, cause, event_id, result"
            " FROM matcher_results ORDER BY transaction_id, seq"
        )
    # Every transaction: its last version, exactly one effective result.
    assert set(txs) == set(last)
    seqs: dict[str, list[int]] = defaultdict(list)
    stream_decisions: dict[tuple[str, Any], int] = defaultdict(int)
    for row in audit:
        seqs[row["transaction_id"]].append(row["seq"])
        if row["cause"] == "transaction":
            stream_decisions[(row["transaction_id"], row["version"])] += 1
    for tx_id, row in txs.items():
        assert row["version"] == last[tx_id].updated_at
        assert seqs[tx_id] == list(range(1, row["result_seq"] + 1))
        result = MatchResult.model_validate(row["result"])
        if last[tx_id].status == "declined":
            assert result.status in ("reverted", "unmatched")
            assert result.allocations == []
    assert all(count == 1 for count in stream_decisions.values())  # no version decided twice
    await assert_allocations_consistent(pool)

    # What consumers of the results topic see.
    # Read the whole topic (its size first): a fixed short read could miss records on a
    # loaded machine and report them lost.
    size = await testing.topic_size(kafka_bootstrap, topics.matches)
    published = await testing.consume_until(kafka_bootstrap, topics.matches, count=size, timeout=60)
    assert len(published) == size
    payloads: dict[str, set[bytes]] = defaultdict(set)
    latest: dict[str, MatchResult] = {}
    for record in sorted(published, key=lambda r: (r.partition, r.offset)):
        event_id = dict(record.headers)["event-id"].decode()
        payloads[event_id].add(record.value)
        latest[record.key.decode()] = MatchResult.model_validate_json(record.value)
    assert all(len(values) == 1 for values in payloads.values())  # no conflicting duplicate
    assert set(payloads) == {row["event_id"] for row in audit}  # nothing lost, nothing extra
    for tx_id, row in txs.items():
        assert latest[tx_id] == MatchResult.model_validate(row["result"])
