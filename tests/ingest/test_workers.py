"""``INGEST_WORKERS``: several processes on one socket, as ops scale ingest across cores.

Each worker has its own inbox writer and relay; the relays claim disjoint batches, so
the topic holds each acknowledged event once. uvicorn's supervisor replaces a worker
that dies (``kill -9``), and SIGTERM drains every worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from qrecon.common.topics import Topics

from .test_faults import pending_rows, published_ids, send_many
from .test_integration import topic_size

pytestmark = pytest.mark.integration


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != "Z":  # alive, not a zombie
                found.append(int(entry.name))
    return found


def cmdline_of(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def wait_for_workers(
    pid: int,
    count: int,
    timeout: float = 30,  # noqa: ASYNC109
    exclude: tuple[int, ...] = (),
) -> list[int]:
    """The live worker processes (multiprocessing's resource tracker is not one of them)."""
    deadline = time.monotonic() + timeout
    while True:
        workers = []
        for child in children(pid):
            if child not in exclude and b"resource_tracker" not in cmdline_of(child):
                workers.append(child)
        if len(workers) >= count or time.monotonic() > deadline:
            return workers
        await asyncio.sleep(0.1)


async def test_two_workers_publish_every_event_once(
    spawn_ingest: Any, kafka_bootstrap: str, topics: Topics, database_url: str
) -> None:
    ingest = spawn_ingest(INGEST_WORKERS="2")
    assert ingest.proc is not None
    assert len(await wait_for_workers(ingest.proc.pid, 2)) == 2
    async with httpx.AsyncClient(base_url=ingest.url) as client:
        for _ in range(50):  # every worker answers readiness once its lifespan started
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
    acked = await send_many(ingest.url, 400, concurrency=24)
    assert len(acked) == 400
    ids = await published_ids(kafka_bootstrap, topics.transactions, 400)
    assert sorted(ids) == sorted(acked)
    await asyncio.sleep(1)  # nothing more arrives: each row was published once
    assert await topic_size(kafka_bootstrap, topics.transactions) == 400
    assert ingest.terminate() == 0
    assert await pending_rows(database_url) == (400, 0)


async def test_a_killed_worker_is_replaced_and_loses_nothing(
    spawn_ingest: Any, kafka_bootstrap: str, topics: Topics, database_url: str
) -> None:
    ingest = spawn_ingest(INGEST_WORKERS="2")
    assert ingest.proc is not None
    workers = await wait_for_workers(ingest.proc.pid, 2)
    first = await send_many(ingest.url, 300, concurrency=16)
    os.kill(workers[0], signal.SIGKILL)
    # Requests keep coming while the supervisor notices and starts a replacement: those
    # that reach the dead worker's connections fail (and Qonto retries them), the others
    # are acknowledged by the surviving worker.
    second = await send_many(ingest.url, 300, concurrency=16)
    # generous: the supervisor pings each live worker in turn (up to 60 s on a loaded machine)
    replaced = await wait_for_workers(ingest.proc.pid, 2, timeout=180, exclude=(workers[0],))
    assert len(replaced) == 2, "the supervisor did not replace the killed worker"
    third = await send_many(ingest.url, 200, concurrency=16)
    assert len(first) == 300
    assert len(third) == 200
    acked = first + second + third
    deadline = time.monotonic() + 60
    while (await pending_rows(database_url))[1] and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    size = await topic_size(kafka_bootstrap, topics.transactions)
    ids = await published_ids(kafka_bootstrap, topics.transactions, size)
    # Every acknowledged event is on the topic. Also possibly: an event the killed worker
    # committed but could not answer (Qonto's retry is then a duplicate webhook, one row),
    # and a duplicate record if the worker died between Kafka's ack and the row's mark.
    assert set(acked) <= set(ids)
    print(f"\n{len(acked)} acknowledged, {len(set(ids))} events in {size} records")
    assert ingest.terminate() == 0
