"""Topics are provisioned by ``qrecon-topics apply``, never auto-created by the broker.

Against the real broker: apply creates every contract topic and its ``.dlq`` as
configured (checked with the broker's own DescribeConfigs), changes nothing the second
time, raises partitions but never lowers them, puts back a drifted config without
dropping the ones it does not manage; a missing topic is named by ``require_topics``; and
the broker refuses to create a topic a producer asks for.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import UnknownTopicOrPartitionError

from qrecon.common import testing, topics
from qrecon.common.topic_admin import (
    DAY_MS,
    MissingTopicsError,
    TopicKind,
    TopicSettings,
    apply_topics,
    require_topics,
    topic_specs,
)

CONTRACT = {
    "qonto.transactions.v1",
    "qonto.events.v1",
    "invoices.v1",
    "reconciliation.matches.v1",
}


# ---------------------------------------------------------------------- specs (no server)
def test_every_contract_topic_and_its_dlq_is_specified() -> None:
    specs = topic_specs("p.")
    assert {s.name for s in specs} == {f"p.{n}" for n in CONTRACT} | {
        f"p.{n}.dlq" for n in CONTRACT
    }
    assert set(topics.ALL_TOPICS) == CONTRACT


def test_compacted_where_the_latest_value_per_key_is_the_state() -> None:
    policy = {s.name: s.configs["cleanup.policy"] for s in topic_specs()}
    assert policy["invoices.v1"] == "compact"
    assert policy["reconciliation.matches.v1"] == "compact"
    # An older version can arrive after a newer one: the last offset is not the state.
    assert policy["qonto.transactions.v1"] == "delete"
    assert policy["qonto.events.v1"] == "delete"
    assert all(policy[f"{n}.dlq"] == "delete" for n in CONTRACT)


def test_retention_partitions_and_replication_come_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "KAFKA_TOPIC_PREFIX": "x.",
        "KAFKA_TOPIC_PARTITIONS": "12",
        "KAFKA_TOPIC_DLQ_PARTITIONS": "2",
        "KAFKA_TOPIC_REPLICATION_FACTOR": "3",
        "KAFKA_TOPIC_RETENTION_MS": str(7 * DAY_MS),
        "KAFKA_TOPIC_DLQ_RETENTION_MS": str(90 * DAY_MS),
    }.items():
        monkeypatch.setenv(name, value)
    specs = {s.name: s for s in TopicSettings(_env_file=None).specs()}
    transactions = specs["x.qonto.transactions.v1"]
    assert (transactions.kind, transactions.partitions, transactions.replication_factor) == (
        TopicKind.LOG,
        12,
        3,
    )
    assert transactions.configs["retention.ms"] == str(7 * DAY_MS)
    assert transactions.configs["min.insync.replicas"] == "2"  # acks=all survives a broker
    dlq = specs["x.invoices.v1.dlq"]
    assert (dlq.kind, dlq.partitions, dlq.configs["retention.ms"]) == (
        TopicKind.DLQ,
        2,
        str(90 * DAY_MS),
    )
    # Compacted topics keep the latest value per key for ever: no time retention.
    assert "retention.ms" not in specs["x.invoices.v1"].configs


# ---------------------------------------------------------------------- the real broker
@pytest.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[Any]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def broker_configs(admin: Any, name: str) -> dict[str, str]:
    """The topic's effective configuration, as the broker's DescribeConfigs reports it."""
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [resource] = response.to_object()["resources"]
    return {e["config_names"]: e["config_value"] for e in resource["config_entries"]}


async def partition_count(admin: Any, name: str) -> int:
    [meta] = await admin.describe_topics([name])
    return len(meta["partitions"])


@pytest.mark.integration
async def test_apply_creates_every_topic_as_configured(kafka_bootstrap: str, admin: Any) -> None:
    prefix = testing.unique_prefix()
    specs = topic_specs(prefix, partitions=4, dlq_partitions=2, retention_ms=3 * DAY_MS)

    changes = await apply_topics(kafka_bootstrap, specs)

    assert all(c.created for c in changes)
    assert set(await admin.list_topics()) >= {s.name for s in specs}
    transactions = await broker_configs(admin, f"{prefix}qonto.transactions.v1")
    assert transactions["cleanup.policy"] == "delete"
    assert transactions["retention.ms"] == str(3 * DAY_MS)
    assert (await broker_configs(admin, f"{prefix}invoices.v1"))["cleanup.policy"] == "compact"
    matches = await broker_configs(admin, f"{prefix}reconciliation.matches.v1")
    assert matches["cleanup.policy"] == "compact"
    assert await partition_count(admin, f"{prefix}qonto.transactions.v1") == 4
    assert await partition_count(admin, f"{prefix}invoices.v1.dlq") == 2


@pytest.mark.integration
async def test_a_second_apply_changes_nothing(kafka_bootstrap: str) -> None:
    specs = topic_specs(testing.unique_prefix())
    await apply_topics(kafka_bootstrap, specs)

    again = await apply_topics(kafka_bootstrap, specs)

    assert [c.actions for c in again] == [[]] * len(specs)
    assert not any(c.created or c.warnings for c in again)


@pytest.mark.integration
async def test_partitions_are_raised_never_lowered(kafka_bootstrap: str, admin: Any) -> None:
    prefix = testing.unique_prefix()
    name = f"{prefix}qonto.transactions.v1"
    await apply_topics(kafka_bootstrap, topic_specs(prefix, partitions=2))

    raised = await apply_topics(kafka_bootstrap, topic_specs(prefix, partitions=5))
    assert await partition_count(admin, name) == 5
    assert next(c for c in raised if c.name == name).actions == ["partitions 2 -> 5"]

    lowered = await apply_topics(kafka_bootstrap, topic_specs(prefix, partitions=3))
    assert await partition_count(admin, name) == 5
    change = next(c for c in lowered if c.name == name)
    assert not change.changed
    assert "never removed" in change.warnings[0]


@pytest.mark.integration
async def test_a_drifted_config_is_put_back_and_others_are_kept(
    kafka_bootstrap: str, admin: Any
) -> None:
    prefix = testing.unique_prefix()
    name = f"{prefix}invoices.v1"
    await apply_topics(kafka_bootstrap, topic_specs(prefix))
    # Someone switched compaction off and, separately, raised the message size.
    await admin.alter_configs(
        [
            ConfigResource(
                ConfigResourceType.TOPIC,
                name,
                {"cleanup.policy": "delete", "max.message.bytes": "2000000"},
            )
        ]
    )

    async with asyncio.timeout(30):
        while (await broker_configs(admin, name))["cleanup.policy"] != "delete":  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # the broker publishes a config change a moment later

    changes = await apply_topics(kafka_bootstrap, topic_specs(prefix))

    assert next(c for c in changes if c.name == name).actions == [
        "cleanup.policy delete -> compact"
    ]
    configs = await broker_configs(admin, name)
    assert configs["cleanup.policy"] == "compact"
    assert configs["max.message.bytes"] == "2000000"


@pytest.mark.integration
async def test_require_topics_names_every_missing_topic(kafka_bootstrap: str) -> None:
    prefix = testing.unique_prefix()
    names = [f"{prefix}qonto.transactions.v1", f"{prefix}invoices.v1"]

    with pytest.raises(MissingTopicsError) as missing:
        await require_topics(kafka_bootstrap, names)
    assert missing.value.missing == sorted(names)
    assert all(n in str(missing.value) for n in names)
    assert "qrecon-topics apply" in str(missing.value)

    await testing.provision_topics(kafka_bootstrap, prefix)
    await require_topics(kafka_bootstrap, names)  # no error once provisioned


@pytest.mark.integration
async def test_the_broker_does_not_create_a_topic_a_producer_asks_for(
    kafka_bootstrap: str, admin: Any
) -> None:
    name = f"{testing.unique_prefix()}qonto.transactions.v1"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises(UnknownTopicOrPartitionError):
            await producer.send_and_wait(name, b"{}", key=b"k")
    finally:
        await producer.stop()
    assert name not in await admin.list_topics()


# ---------------------------------------------------------------------- the command
async def qrecon_topics(*args: str, prefix: str, bootstrap: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_TOPIC_")}
    env |= {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TOPIC_PREFIX": prefix}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qrecon.common.topics_cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.integration
async def test_the_command_applies_says_what_changed_and_describes(kafka_bootstrap: str) -> None:
    prefix = testing.unique_prefix()

    async def run(*args: str) -> tuple[int, str, str]:
        return await qrecon_topics(*args, prefix=prefix, bootstrap=kafka_bootstrap)

    code, out, _ = await run("describe")
    assert code == 1
    assert f"{prefix}invoices.v1: MISSING" in out

    code, out, _ = await run("apply")
    assert code == 0
    assert out.splitlines()[-1] == "8 topics: 8 created, 0 updated"

    code, out, _ = await run("apply")
    assert code == 0
    assert out.splitlines()[-1] == "8 topics: nothing to change"

    code, out, _ = await run("describe")
    assert code == 0
    assert f"{prefix}invoices.v1: partitions=3 replication=1 cleanup.policy=compact" in out


@pytest.mark.integration
async def test_the_command_fails_clearly_without_a_broker() -> None:
    code, _, err = await qrecon_topics("apply", prefix="", bootstrap="127.0.0.1:1")
    assert code == 2
    assert "KafkaConnectionError" in err
