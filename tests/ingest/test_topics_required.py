"""``qonto-ingest`` refuses to start when Kafka says its topics are missing.

Topics are provisioned by ``qrecon-topics apply``, never auto-created: a service started
before that (or with the wrong ``KAFKA_TOPIC_PREFIX``) exits non-zero naming the topics.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import pytest

from qrecon.common import testing

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_ingest_exits_naming_the_missing_topics(
    kafka_bootstrap: str, database_url: str
) -> None:
    prefix = testing.unique_prefix()  # nothing provisioned under it
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": prefix,
        "QONTO_WEBHOOK_SECRET": "s" * 32,
        "INGEST_PORT": str(free_port()),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qrecon.ingest",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(120):
        out, _ = await process.communicate()
    output = out.decode()

    assert process.returncode != 0
    assert f"{prefix}qonto.transactions.v1" in output
    assert f"{prefix}qonto.events.v1" in output
    assert "qrecon-topics apply" in output
