"""``qonto-sync run`` refuses to start when Kafka says its topics are missing."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from qrecon.common import testing

pytestmark = pytest.mark.integration


async def test_sync_exits_naming_the_missing_topics(
    kafka_bootstrap: str, database_url: str
) -> None:
    prefix = testing.unique_prefix()  # nothing provisioned under it
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("QONTO_", "SYNC_"))},
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": prefix,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qrecon.sync",
        "run",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(120):
        out, _ = await process.communicate()
    output = out.decode()

    assert process.returncode == 1
    assert f"{prefix}qonto.transactions.v1" in output
    assert f"{prefix}qonto.events.v1" in output  # consent revocations are read there
    assert "qrecon-topics apply" in output
