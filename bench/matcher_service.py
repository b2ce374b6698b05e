"""Benchmark of ``qonto-matcher run``: event -> result latency, and results per second.

Each phase runs real ``qonto-matcher run`` subprocesses against the real Kafka and
PostgreSQL (``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL``; else the local servers of
``infra/up.sh``), on a fresh database and fresh topics (6 partitions):

* **latency**: one replica; invoices loaded first; then transaction events published at a
  sustained rate; latency = the result's arrival on ``reconciliation.matches.v1`` minus
  the event's publication (same clock), p50/p99;
* **throughput**: one, then two replicas (same consumer group); a burst of transaction
  events published at once; results per second = results / (last result - first publish).

The transactions mix what a month looks like: about 60 % pay an invoice (by reference,
some by a partial amount), the rest are unrelated spend. Writes
``bench/results/matcher_service.json``. Durations are bounded (about 2 minutes in all).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from qrecon.common import testing
from qrecon.common.schemas import Invoice, InvoiceEvent, QontoTransaction, TransactionEvent
from qrecon.common.topics import Topics

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "matcher_service.json"
PARTITIONS = 6

LATENCY_RATE = int(os.environ.get("BENCH_MATCHER_RATE", "50"))  # tx/s
LATENCY_SECONDS = float(os.environ.get("BENCH_MATCHER_SECONDS", "15"))
BURST = int(os.environ.get("BENCH_MATCHER_BURST", "2000"))
DEADLINE = 90.0  # seconds, per phase, to get every result


@dataclass
class Phase:
    name: str
    replicas: int
    sent_at: dict[str, float] = field(default_factory=dict)
    received_at: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


def make_data(n_tx: int, seed: int) -> tuple[list[Invoice], list[QontoTransaction]]:
    rng = _rng(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    issued = (now - timedelta(days=20)).date()
    paying = int(n_tx * 0.6)
    invoices = [
        Invoice(
            id=f"inv-{seed}-{i}",
            number=f"FAC-{2025}-{10000 + i}",
            kind="receivable",
            counterparty_name=f"Client {i} SAS",
            amount_cents=rng.randrange(10_000, 500_000, 100),
            currency="EUR",
            issue_date=issued,
            due_date=issued + timedelta(days=30),
        )
        for i in range(max(paying, 50) + 100)
    ]
    txs: list[QontoTransaction] = []
    for n in range(n_tx):
        if n < paying:
            inv = invoices[n]
            amount = inv.amount_cents if rng.random() < 0.8 else inv.amount_cents // 2
            payer, reference = f"CLIENT {n} SAS", f"Facture {inv.number}"
        else:
            amount = rng.randrange(500, 200_000)
            payer, reference = f"Fournisseur {rng.randrange(1000)}", None
        txs.append(
            QontoTransaction.model_validate(
                {
                    "id": str(uuid.uuid4()),
                    "amount_cents": amount,
                    "currency": "EUR",
                    "side": "credit" if n < paying or rng.random() < 0.3 else "debit",
                    "operation_type": "transfer",
                    "status": "completed",
                    "label": payer,
                    "clean_counterparty_name": payer,
                    "reference": reference,
                    "settled_at": now - timedelta(days=2),
                    "emitted_at": now - timedelta(days=2),
                    "updated_at": now - timedelta(days=2),
                }
            )
        )
    rng.shuffle(txs)
    return invoices, txs


def start_replica(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "qrecon.matcher", "run", "--no-api"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_count(dsn: str, sql: str, target: int, within: float) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within
        while True:
            try:
                value = int(await conn.fetchval(sql))
            except asyncpg.UndefinedTableError:  # the replica has not migrated yet
                value = 0
            if value >= target or time.monotonic() > deadline:
                return value
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


class ResultReader:
    """Reads reconciliation.matches.v1 from the start, noting when each result arrives."""

    def __init__(self, bootstrap: str, topic: str, phase: Phase) -> None:
        self.consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        self.phase = phase
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    key = record.key.decode()
                    if key not in self.phase.received_at:
                        self.phase.received_at[key] = now
                        self.phase.statuses[key] = json.loads(record.value)["status"]

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.consumer.stop()


async def run_phase(
    bootstrap: str, admin_dsn: str, phase: Phase, n_tx: int, rate: float | None, seed: int
) -> dict[str, Any]:
    topics = await testing.provision_topics(
        bootstrap, testing.unique_prefix(), partitions=PARTITIONS
    )
    invoices, txs = make_data(n_tx, seed)
    async with testing.fresh_database(admin_dsn) as dsn:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": dsn,
            "KAFKA_TOPIC_PREFIX": topics.prefix,
            "MATCHER_GROUP_ID": f"{topics.prefix}matcher",
            "MATCHER_HEARTBEAT_INTERVAL_MS": "500",
            "MATCHER_CACHE_REFRESH_SECONDS": "0.5",
            "MATCHER_OUTBOX_POLL_SECONDS": "0.05",
            "LOG_LEVEL": "WARNING",
        }
        log = ROOT / ".run" / f"bench-matcher-{phase.name}.log"
        log.parent.mkdir(exist_ok=True)
        log.write_bytes(b"")
        procs = [start_replica(env, log) for _ in range(phase.replicas)]
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
        )
        await producer.start()
        reader = ResultReader(bootstrap, topics.matches, phase)
        await reader.start()
        try:
            for inv in invoices:
                event = InvoiceEvent(invoice=inv)
                await producer.send(
                    topics.invoices, event.model_dump_json().encode(), key=inv.id.encode()
                )
            await producer.flush()
            loaded = await wait_count(
                dsn, "SELECT count(*) FROM matcher_invoices", len(invoices), 60
            )
            if loaded < len(invoices):
                raise RuntimeError(f"{phase.name}: invoices not loaded; see {log}")
            # Warm up: every replica's consumers joined and its cache refreshed.
            warm = make_data(PARTITIONS * 2, seed + 1000)[1]
            for tx in warm:
                await send_tx(producer, topics, tx, phase)
            await wait_received(phase, [t.id for t in warm], 60)
            await asyncio.sleep(2.0)
            phase.sent_at.clear()
            phase.received_at.clear()
            phase.statuses.clear()

            pids = [p.pid for p in procs]
            cpu_before = cpu_seconds(pids)
            load_before = os.getloadavg()[0]
            started = time.monotonic()
            if rate is None:
                for tx in txs:
                    await send_tx(producer, topics, tx, phase, wait=False)
                await producer.flush()
            else:
                interval = 1.0 / rate
                for n, tx in enumerate(txs):
                    delay = started + n * interval - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await send_tx(producer, topics, tx, phase, wait=False)
                await producer.flush()
            await wait_received(phase, [t.id for t in txs], DEADLINE)
            cpu_used = cpu_seconds(pids) - cpu_before
            load_after = os.getloadavg()[0]
        finally:
            await reader.stop()
            await producer.stop()
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    ids = [t.id for t in txs]
    got = [i for i in ids if i in phase.received_at]
    latencies = sorted((phase.received_at[i] - phase.sent_at[i]) * 1000 for i in got)
    first_sent = min(phase.sent_at[i] for i in ids)
    last_result = max((phase.received_at[i] for i in got), default=first_sent)
    elapsed = max(last_result - first_sent, 1e-9)
    statuses: dict[str, int] = {}
    for i in got:
        statuses[phase.statuses[i]] = statuses.get(phase.statuses[i], 0) + 1
    return {
        "replicas": phase.replicas,
        "transactions": len(ids),
        "results": len(got),
        "rate_offered_per_s": rate,
        "elapsed_s": round(elapsed, 3),
        "results_per_s": round(len(got) / elapsed, 1),
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p99": round(percentile(latencies, 0.99), 1) if latencies else None,
        "latency_ms_max": round(latencies[-1], 1) if latencies else None,
        "statuses": statuses,
        "invoices": len(invoices),
        "replica_cpu_s": round(cpu_used, 2),
        "replica_cpu_ms_per_result": round(1000 * cpu_used / len(got), 2) if got else None,
        "load_average_1m": [round(load_before, 2), round(load_after, 2)],
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (Linux /proc), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def percentile(values: list[float], q: float) -> float:
    index = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[index]


async def send_tx(
    producer: AIOKafkaProducer,
    topics: Topics,
    tx: QontoTransaction,
    phase: Phase,
    wait: bool = True,
) -> None:
    event = TransactionEvent(event_id=str(uuid.uuid4()), source="webhook", transaction=tx)
    phase.sent_at[tx.id] = time.monotonic()
    future = await producer.send(
        topics.transactions, event.model_dump_json().encode(), key=tx.id.encode()
    )
    if wait:
        await future


async def wait_received(phase: Phase, ids: list[str], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(i in phase.received_at for i in ids):
            return
        await asyncio.sleep(0.05)


async def main() -> None:
    with testing.kafka_backend() as bootstrap, testing.postgres_backend() as admin_dsn:
        latency = await run_phase(
            bootstrap,
            admin_dsn,
            Phase("latency", 1),
            int(LATENCY_RATE * LATENCY_SECONDS),
            LATENCY_RATE,
            seed=1,
        )
        one = await run_phase(bootstrap, admin_dsn, Phase("burst-1", 1), BURST, None, seed=2)
        two = await run_phase(bootstrap, admin_dsn, Phase("burst-2", 2), BURST, None, seed=3)
    figures = [
        {
            "name": f"event -> result latency p50 at {LATENCY_RATE} tx/s (1 replica)",
            "value": latency["latency_ms_p50"],
            "unit": "ms",
        },
        {
            "name": f"event -> result latency p99 at {LATENCY_RATE} tx/s (1 replica)",
            "value": latency["latency_ms_p99"],
            "unit": "ms",
        },
        {
            "name": "replica CPU per result (burst, 1 replica)",
            "value": one["replica_cpu_ms_per_result"],
            "unit": "ms",
            "note": "load-independent; one core would give 1000 / this results/s",
        },
        {
            "name": "results per second, 1 replica",
            "value": one["results_per_s"],
            "unit": "results/s",
        },
        {
            "name": "results per second, 2 replicas",
            "value": two["results_per_s"],
            "unit": "results/s",
            "ceiling": one["results_per_s"] * 2,
            "ratio": round(two["results_per_s"] / (one["results_per_s"] * 2), 3)
            if one["results_per_s"]
            else None,
            "note": "ceiling: twice one replica",
        },
    ]
    result = {
        "benchmark": "matcher_service",
        "title": "qonto-matcher run: event -> result latency and throughput (real Kafka + PG)",
        "figures": figures,
        "details": {
            "latency": latency,
            "throughput_1_replica": one,
            "throughput_2_replicas": two,
            "partitions": PARTITIONS,
            "measured_at": date.today().isoformat(),
            "note": "subprocess replicas; the machine's cores are shared with the broker, "
            "PostgreSQL and the benchmark itself",
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    missing = [p for p in (latency, one, two) if p["results"] < p["transactions"]]
    if missing:
        raise SystemExit(f"matcher_service: results missing in {missing}")


if __name__ == "__main__":
    asyncio.run(main())
