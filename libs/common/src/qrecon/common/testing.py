"""Where the tests find real Kafka and PostgreSQL: one switchable backend for every test.

Order: ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` from the environment; else the
project's own local servers (``infra/up.sh``) if they answer; else testcontainers when a
Docker engine answers. When none is found the test fails (it never skips: a green run
must mean the servers were really there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qrecon.common.topics import Topics

LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_DATABASE_URL = "postgresql://qrecon:qrecon@127.0.0.1:15432/qrecon"
KAFKA_IMAGE = "apache/kafka:3.9.1"
POSTGRES_IMAGE = "postgres:16-alpine"


class BackendUnavailable(RuntimeError):
    pass


def _answers(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
    except Exception:
        return False
    return True


_MISSING = (
    "no {what}: set {var}, or start the project's servers with `infra/up.sh` "
    "(`make test` does it for you), or run where a Docker engine answers"
)


@contextlib.contextmanager
def kafka_backend() -> Iterator[str]:
    """Yields a bootstrap address of a real Kafka broker."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if _answers("127.0.0.1", 9092):
        yield LOCAL_KAFKA
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    raise BackendUnavailable(_MISSING.format(what="Kafka", var="KAFKA_BOOTSTRAP_SERVERS"))


@contextlib.contextmanager
def postgres_backend() -> Iterator[str]:
    """Yields the DSN of a real PostgreSQL server (a role allowed to create databases)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    if _answers("127.0.0.1", 15432):
        yield LOCAL_DATABASE_URL
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
            yield container.get_connection_url()
        return
    raise BackendUnavailable(_MISSING.format(what="PostgreSQL", var="DATABASE_URL"))


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


@contextlib.asynccontextmanager
async def fresh_database(admin_dsn: str) -> AsyncIterator[str]:
    """A new, empty database for one test; dropped afterwards."""
    import asyncpg

    name = "t_" + uuid.uuid4().hex[:16]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield with_database(admin_dsn, name)
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def unique_prefix() -> str:
    """A topic prefix no other test uses (provision its topics: :func:`provision_topics`)."""
    return f"t{uuid.uuid4().hex[:10]}."


async def provision_topics(bootstrap: str, prefix: str, *, partitions: int = 3) -> Topics:
    """Create the contract topics and their ``.dlq`` under ``prefix``, as in production.

    The broker never auto-creates a topic, so a test (or benchmark, or local stack) that
    publishes or consumes under a prefix of its own provisions it first.
    """
    from qrecon.common.topic_admin import apply_topics, topic_specs

    await apply_topics(bootstrap, topic_specs(prefix, partitions=partitions))
    return Topics(prefix)


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic under ``prefix`` (a test's own), best effort.

    Tests never share a prefix, so nothing else reads these topics. Keeping the broker
    small keeps each restart in the fault tests short: a broker holding thousands of
    partitions takes a minute to serve them all again.
    """
    from qrecon.common.topic_admin import admin_client

    try:
        async with admin_client(bootstrap) as admin:
            names = [name for name in await admin.list_topics() if name.startswith(prefix)]
            if names:
                await admin.delete_topics(names)
    except Exception as exc:  # clean-up must not fail the test it follows
        logging.getLogger(__name__).warning("could not delete topics under %s: %s", prefix, exc)


async def consume_until(
    bootstrap: str,
    topic: str,
    *,
    count: int,
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for the whole read, simpler for tests
    group_id: str | None = None,
) -> list[Any]:
    """Read ``count`` records from the start of ``topic`` (aiokafka ConsumerRecords)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for part in batch.values():
                    records.extend(part)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return records


async def topic_size(bootstrap: str, topic: str) -> int:
    """Records in ``topic``: the sum of its end offsets (for topics that are neither
    compacted nor written transactionally, as every topic here)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            raise LookupError(f"no metadata for topic {topic}")
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


def control_infra(root: Path, script: str, action: str, address: str) -> float:
    """Stop or start a server with ``infra/<script> <action>`` and check that it was the
    server at ``address`` (``host:port``, or a DSN) that stopped or started.

    A fault test that stops a server the tests do not use proves nothing: this happens
    when the tests are given servers (``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL``) that
    ``infra/`` was not started for with the same ``QRECON_RUN_DIR`` / ports. Returns the
    seconds the script took.
    """
    started = time.monotonic()
    completed = subprocess.run(  # noqa: S603 - our own script
        [str(root / "infra" / script), action], capture_output=True, text=True, check=False
    )
    took = time.monotonic() - started
    if completed.returncode != 0:
        raise AssertionError(
            f"infra/{script} {action} failed (the fault tests need the servers started by "
            f"infra/up.sh):\n{completed.stderr}"
        )
    parts = urlsplit(address if "://" in address else f"tcp://{address.split(',')[0]}")
    host, port = parts.hostname or "127.0.0.1", parts.port or 0
    if (action == "stop") == _answers(host, port):
        raise AssertionError(
            f"infra/{script} {action} did not {action} the server the tests use "
            f"({host}:{port}): give the tests the QRECON_RUN_DIR and ports infra/up.sh "
            "started them with (scripts/test.sh does)"
        )
    return took


def json_log_lines(output: str) -> list[dict[str, Any]]:
    """Every line of a process's output as the JSON object it must be (AssertionError
    naming the first line that is not one, or lacks ``level``, ``timestamp`` or ``logger``)."""
    lines = []
    for number, line in enumerate(output.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"line {number} is not JSON: {line[:300]!r}") from None
        if not isinstance(record, dict) or not {"level", "timestamp", "logger"} <= record.keys():
            raise AssertionError(f"line {number} lacks level/timestamp/logger: {line[:300]!r}")
        lines.append(record)
    return lines
