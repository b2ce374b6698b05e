"""Contract topics provisioned with their configuration: the broker never auto-creates them.

``qrecon-topics apply`` (see :mod:`qrecon.common.topics_cli`) creates or updates every
contract topic of :mod:`qrecon.common.topics` and its ``.dlq``; services check at startup
that their topics exist (:func:`require_topics`) and stop with a message naming the missing
ones instead of letting a producer create them with the broker's defaults.

Cleanup policy, per kind of topic:

* **state** (``invoices.v1``, ``reconciliation.matches.v1``): ``cleanup.policy=compact``.
  The last record of a key *is* the state: an invoice's latest upsert or cancel, a
  transaction's latest match result (the matcher publishes them through its outbox in
  decision order). A consumer starting from scratch needs only that record, and an
  invoice issued a year ago must still be there.
* **log** (``qonto.transactions.v1``, ``qonto.events.v1``): ``cleanup.policy=delete`` with
  ``KAFKA_TOPIC_RETENTION_MS``. For transactions this is a decision, not a default: sync and
  webhooks can deliver an *older* version of a transaction after a newer one (a webhook
  retried late, a poll overlapping a webhook), and consumers keep the version with the
  greatest ``updated_at``, never the last offset. Compaction keeps the last offset, so it
  could drop the newest version and keep a stale one: a consumer replaying the topic would
  end with the wrong state and no way to notice. Time retention keeps every version for the
  window; older history is republished from Qonto's API by ``qonto-sync backfill``.
* **dlq** (every ``<topic>.dlq``): ``cleanup.policy=delete`` with
  ``KAFKA_TOPIC_DLQ_RETENTION_MS``; each record is a distinct failure for a human, never a
  state to compact.

Every topic gets ``min.insync.replicas`` of 2 when replicated three times or more (1
otherwise), so that an ``acks=all`` write survives the loss of a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code
from pydantic import AliasChoices, Field

from qrecon.common import topics
from qrecon.common.settings import ServiceSettings

DAY_MS = 24 * 3600 * 1000
# Kafka's error code for a topic that exists already (another apply raced us).
_TOPIC_ALREADY_EXISTS = 36
# describe_configs' config_source for a value set on the topic itself.
_DYNAMIC_TOPIC_CONFIG = 1

APPLY_HINT = (
    "run `qrecon-topics apply` with the same KAFKA_BOOTSTRAP_SERVERS and KAFKA_TOPIC_PREFIX"
)


class TopicKind(StrEnum):
    LOG = "log"
    STATE = "state"
    DLQ = "dlq"


# The contract topics whose latest value per key is the state (see the module docstring).
STATE_TOPICS = frozenset({topics.INVOICES, topics.MATCHES})


@dataclass(frozen=True)
class TopicSpec:
    """How one topic must be: what ``apply`` makes true and ``describe`` checks."""

    name: str
    kind: TopicKind
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]


class TopicSettings(ServiceSettings):
    """What ``qrecon-topics`` provisions (KAFKA_BOOTSTRAP_SERVERS and KAFKA_TOPIC_PREFIX too)."""

    partitions: int = Field(3, ge=1, validation_alias=AliasChoices("KAFKA_TOPIC_PARTITIONS"))
    dlq_partitions: int = Field(
        1, ge=1, validation_alias=AliasChoices("KAFKA_TOPIC_DLQ_PARTITIONS")
    )
    replication_factor: int = Field(
        1, ge=1, validation_alias=AliasChoices("KAFKA_TOPIC_REPLICATION_FACTOR")
    )
    # Log topics only: compacted topics keep the latest value per key for ever.
    retention_ms: int = Field(
        30 * DAY_MS, ge=-1, validation_alias=AliasChoices("KAFKA_TOPIC_RETENTION_MS")
    )
    dlq_retention_ms: int = Field(
        30 * DAY_MS, ge=-1, validation_alias=AliasChoices("KAFKA_TOPIC_DLQ_RETENTION_MS")
    )

    def specs(self) -> list[TopicSpec]:
        return topic_specs(
            self.kafka_topic_prefix,
            partitions=self.partitions,
            dlq_partitions=self.dlq_partitions,
            replication_factor=self.replication_factor,
            retention_ms=self.retention_ms,
            dlq_retention_ms=self.dlq_retention_ms,
        )


def topic_specs(
    prefix: str = "",
    *,
    partitions: int = 3,
    dlq_partitions: int = 1,
    replication_factor: int = 1,
    retention_ms: int = 30 * DAY_MS,
    dlq_retention_ms: int = 30 * DAY_MS,
) -> list[TopicSpec]:
    """Every contract topic and its ``.dlq`` under ``prefix``, source topics first."""
    min_isr = "2" if replication_factor >= 3 else "1"
    sources: list[TopicSpec] = []
    dlqs: list[TopicSpec] = []
    for name in topics.ALL_TOPICS:
        if name in STATE_TOPICS:
            kind, configs = TopicKind.STATE, {"cleanup.policy": "compact"}
        else:
            kind = TopicKind.LOG
            configs = {"cleanup.policy": "delete", "retention.ms": str(retention_ms)}
        sources.append(
            TopicSpec(
                prefix + name,
                kind,
                partitions,
                replication_factor,
                {**configs, "min.insync.replicas": min_isr},
            )
        )
        dlqs.append(
            TopicSpec(
                topics.dlq(prefix + name),
                TopicKind.DLQ,
                dlq_partitions,
                replication_factor,
                {
                    "cleanup.policy": "delete",
                    "retention.ms": str(dlq_retention_ms),
                    "min.insync.replicas": min_isr,
                },
            )
        )
    return sources + dlqs


@dataclass(frozen=True)
class TopicState:
    """A topic as the broker reports it (``configs``: the effective value of every key)."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]
    dynamic: Mapping[str, str] = field(default_factory=dict)  # the ones set on the topic


@dataclass
class TopicChange:
    """What ``apply`` did to one topic (nothing when ``actions`` is empty)."""

    name: str
    actions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    created: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.actions)


class TopicAdminError(RuntimeError):
    """The broker refused a change (the message is the broker's)."""


class MissingTopicsError(RuntimeError):
    """Topics a service needs do not exist: they are provisioned, never auto-created."""

    def __init__(self, missing: Iterable[str]) -> None:
        self.missing = sorted(missing)
        super().__init__(f"Kafka topics missing: {', '.join(self.missing)}; {APPLY_HINT}")


def make_admin(bootstrap: str, **client_options: Any) -> AIOKafkaAdminClient:
    """The one place an admin client is built (security options pass through)."""
    options: dict[str, Any] = {"client_id": "qrecon-topics", "request_timeout_ms": 30000}
    options.update(client_options)
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)


@contextlib.asynccontextmanager
async def admin_client(bootstrap: str, **client_options: Any) -> AsyncIterator[Any]:
    admin = make_admin(bootstrap, **client_options)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _existing(admin: Any) -> set[str]:
    # A metadata request for *all* topics: naming one could auto-create it where allowed.
    return set(await admin.list_topics())


async def describe_topics(
    bootstrap: str, names: Iterable[str], **client_options: Any
) -> dict[str, TopicState | None]:
    """Each named topic as the broker reports it, or None when it does not exist."""
    async with admin_client(bootstrap, **client_options) as admin:
        return await _describe(admin, list(names))


async def _describe(admin: Any, names: list[str]) -> dict[str, TopicState | None]:
    existing = await _existing(admin)
    present = [n for n in names if n in existing]
    result: dict[str, TopicState | None] = dict.fromkeys(names)
    if not present:
        return result
    layout: dict[str, tuple[int, int]] = {}
    for meta in await admin.describe_topics(present):
        parts = meta["partitions"]
        layout[meta["topic"]] = (len(parts), len(parts[0]["replicas"]) if parts else 0)
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, n) for n in present]
    )
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                raise TopicAdminError(
                    f"describe {resource['resource_name']}: {resource['error_message']}"
                )
            name = resource["resource_name"]
            entries = resource["config_entries"]
            count, replicas = layout[name]
            result[name] = TopicState(
                name,
                count,
                replicas,
                {e["config_names"]: e["config_value"] for e in entries},
                {
                    e["config_names"]: e["config_value"]
                    for e in entries
                    if e["config_source"] == _DYNAMIC_TOPIC_CONFIG
                },
            )
    return result


def differences(spec: TopicSpec, state: TopicState) -> dict[str, tuple[str | None, str]]:
    """The configs of ``spec`` the topic does not have yet: ``{key: (current, wanted)}``."""
    return {
        key: (state.configs.get(key), value)
        for key, value in spec.configs.items()
        if state.configs.get(key) != value
    }


async def apply_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    wait_timeout: float = 30.0,
    **client_options: Any,
) -> list[TopicChange]:
    """Make every topic match its spec: create it, add partitions, alter configs.

    Idempotent: a topic already as specified is left alone. Partitions are only ever
    added (fewer would re-key every record); a replication factor that differs is
    reported, not changed (that takes a partition reassignment). Returns once every topic
    is in the broker's metadata, so producers can use them at once.
    """
    wanted = list(specs)
    async with admin_client(bootstrap, **client_options) as admin:
        states = await _describe(admin, [s.name for s in wanted])
        changes = {s.name: TopicChange(s.name) for s in wanted}
        await _create(admin, [s for s in wanted if states[s.name] is None], changes)
        present = [(s, st) for s in wanted if (st := states[s.name]) is not None]
        await _add_partitions(admin, present, changes)
        await _alter_configs(admin, present, changes)
        await _wait_visible(admin, wanted, wait_timeout)
    return [changes[s.name] for s in wanted]


async def _create(admin: Any, missing: list[TopicSpec], changes: dict[str, TopicChange]) -> None:
    if not missing:
        return
    response = await admin.create_topics(
        [
            NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.configs))
            for s in missing
        ]
    )
    by_name = {s.name: s for s in missing}
    for error in response.to_object()["topic_errors"]:
        name, code = error["topic"], error["error_code"]
        if code == _TOPIC_ALREADY_EXISTS:
            # Created meanwhile by a concurrent apply with the same specs.
            changes[name].warnings.append("created concurrently by another apply")
            continue
        if code:
            raise TopicAdminError(
                f"create {name}: {for_code(code).__name__}: {error['error_message']}"
            )
        spec = by_name[name]
        changes[name].created = True
        changes[name].actions.append(
            f"partitions={spec.partitions} replication={spec.replication_factor} "
            + " ".join(f"{k}={v}" for k, v in sorted(spec.configs.items()))
        )


async def _add_partitions(
    admin: Any, present: list[tuple[TopicSpec, TopicState]], changes: dict[str, TopicChange]
) -> None:
    more: dict[str, Any] = {}
    for spec, state in present:
        if state.partitions < spec.partitions:
            more[spec.name] = NewPartitions(spec.partitions)
            changes[spec.name].actions.append(f"partitions {state.partitions} -> {spec.partitions}")
        elif state.partitions > spec.partitions:
            changes[spec.name].warnings.append(
                f"has {state.partitions} partitions, {spec.partitions} configured: "
                "kept (partitions are never removed)"
            )
        if state.replication_factor != spec.replication_factor:
            changes[spec.name].warnings.append(
                f"replication factor {state.replication_factor}, {spec.replication_factor} "
                "configured: not changed (needs a partition reassignment)"
            )
    if more:
        await admin.create_partitions(more)


async def _alter_configs(
    admin: Any, present: list[tuple[TopicSpec, TopicState]], changes: dict[str, TopicChange]
) -> None:
    resources = []
    for spec, state in present:
        diff = differences(spec, state)
        if not diff:
            continue
        for key, (current, value) in sorted(diff.items()):
            changes[spec.name].actions.append(f"{key} {current} -> {value}")
        # AlterConfigs replaces every value set on the topic: keep the ones set by others.
        resources.append(
            ConfigResource(ConfigResourceType.TOPIC, spec.name, {**state.dynamic, **spec.configs})
        )
    if not resources:
        return
    for response in await admin.alter_configs(resources):
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                raise TopicAdminError(
                    f"alter {resource['resource_name']}: {resource['error_message']}"
                )


async def _wait_visible(admin: Any, specs: list[TopicSpec], timeout: float) -> None:  # noqa: ASYNC109
    """Until the broker reports every topic with its partitions and configs.

    The controller answers before every broker's metadata has the change.
    """
    async with asyncio.timeout(timeout):
        # Polling the metadata is the only way to see a change published.
        while not await _converged(admin, specs):  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def _converged(admin: Any, specs: list[TopicSpec]) -> bool:
    states = await _describe(admin, [s.name for s in specs])
    return all(
        (state := states[s.name]) is not None
        and state.partitions >= s.partitions
        and not differences(s, state)
        for s in specs
    )


async def missing_topics(bootstrap: str, names: Iterable[str], **client_options: Any) -> list[str]:
    """The named topics the broker does not have (raises when it cannot be reached)."""
    async with admin_client(bootstrap, **client_options) as admin:
        existing = await _existing(admin)
    return sorted(set(names) - existing)


async def require_topics(bootstrap: str, names: Iterable[str], **client_options: Any) -> None:
    """Raise :class:`MissingTopicsError` naming every missing topic, before anything publishes."""
    missing = await missing_topics(bootstrap, names, **client_options)
    if missing:
        raise MissingTopicsError(missing)
