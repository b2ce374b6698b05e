"""``qonto-matcher run`` refuses to start when Kafka says its topics are missing."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from qrecon.common import testing
from qrecon.common.topic_admin import MissingTopicsError
from qrecon.common.topics import Topics
from qrecon.matcher.bootstrap import MatcherRuntime

from .conftest import settings_for

pytestmark = pytest.mark.integration


async def test_the_runtime_names_every_missing_topic(
    kafka_bootstrap: str, database_url: str
) -> None:
    topics = Topics(testing.unique_prefix())  # nothing provisioned under it
    runtime = MatcherRuntime(settings_for(kafka_bootstrap, database_url, topics))

    with pytest.raises(MissingTopicsError) as missing:
        await runtime.start()
    await runtime.stop()

    assert missing.value.missing == sorted(
        [
            topics.transactions,
            topics.invoices,
            topics.matches,
            topics.dlq(topics.transactions),
            topics.dlq(topics.invoices),
            # the payment links (MATCHER_PAYMENT_LINKS, on by default)
            topics.qonto_events,
            topics.dlq(topics.qonto_events),
        ]
    )


async def test_without_payment_links_the_events_topic_is_not_required(
    kafka_bootstrap: str, database_url: str
) -> None:
    topics = Topics(testing.unique_prefix())
    settings = settings_for(kafka_bootstrap, database_url, topics, MATCHER_PAYMENT_LINKS=False)

    assert topics.qonto_events not in MatcherRuntime(settings).required_topics()


async def test_the_command_exits_non_zero_with_the_message(
    kafka_bootstrap: str, database_url: str
) -> None:
    prefix = testing.unique_prefix()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": prefix,
        "MATCHER_API_TOKEN": "a-token-for-this-test",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qrecon.matcher",
        "run",
        "--no-api",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(120):
        out, _ = await process.communicate()
    output = out.decode()

    assert process.returncode == 1
    assert f"{prefix}reconciliation.matches.v1" in output
    assert "qrecon-topics apply" in output
