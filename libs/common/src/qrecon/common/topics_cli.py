"""``qrecon-topics``: provision the contract topics (the broker never auto-creates them).

    qrecon-topics apply      create missing topics, add partitions, fix configs; says what
                             changed (nothing on a second run)
    qrecon-topics describe   each topic as the broker reports it; exit 1 when one is
                             missing or differs from its configuration

Settings from the environment (:class:`qrecon.common.topic_admin.TopicSettings`):
``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_TOPIC_PREFIX``, ``KAFKA_TOPIC_PARTITIONS`` (3),
``KAFKA_TOPIC_DLQ_PARTITIONS`` (1), ``KAFKA_TOPIC_REPLICATION_FACTOR`` (1; 3 in a
production cluster), ``KAFKA_TOPIC_RETENTION_MS`` (30 days, ``qonto.transactions.v1`` and
``qonto.events.v1``), ``KAFKA_TOPIC_DLQ_RETENTION_MS`` (30 days).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from aiokafka.errors import KafkaError

from qrecon.common.kafka import security_options
from qrecon.common.topic_admin import (
    TopicAdminError,
    TopicSettings,
    TopicSpec,
    TopicState,
    apply_topics,
    describe_topics,
    differences,
)


def _configs(values: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(values.items()))


async def apply(settings: TopicSettings) -> int:
    changes = await apply_topics(
        settings.kafka_bootstrap_servers, settings.specs(), **security_options(settings)
    )
    for change in changes:
        status = "created" if change.created else "updated" if change.changed else "unchanged"
        print(f"{status:9} {change.name}")
        for line in change.actions:
            print(f"          {line}")
        for line in change.warnings:
            print(f"          warning: {line}")
    created = sum(c.created for c in changes)
    updated = sum(c.changed and not c.created for c in changes)
    if created or updated:
        print(f"{len(changes)} topics: {created} created, {updated} updated")
    else:
        print(f"{len(changes)} topics: nothing to change")
    return 0


def _describe_line(spec: TopicSpec, state: TopicState | None) -> tuple[bool, list[str]]:
    if state is None:
        return False, [f"{spec.name}: MISSING"]
    managed = {k: state.configs.get(k, "?") for k in spec.configs}
    lines = [
        f"{spec.name}: partitions={state.partitions} "
        f"replication={state.replication_factor} {_configs(managed)}"
    ]
    ok = True
    for key, (current, wanted) in sorted(differences(spec, state).items()):
        ok = False
        lines.append(f"  differs: {key}={current}, configured {wanted}")
    if state.partitions < spec.partitions:
        ok = False
        lines.append(f"  differs: {state.partitions} partitions, configured {spec.partitions}")
    return ok, lines


async def describe(settings: TopicSettings) -> int:
    specs = settings.specs()
    states = await describe_topics(
        settings.kafka_bootstrap_servers, [s.name for s in specs], **security_options(settings)
    )
    all_ok = True
    for spec in specs:
        ok, lines = _describe_line(spec, states[spec.name])
        all_ok = all_ok and ok
        print("\n".join(lines))
    if not all_ok:
        print("some topics are missing or differ: run `qrecon-topics apply`", file=sys.stderr)
    return 0 if all_ok else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qrecon-topics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("apply", help="create or update every contract topic and its .dlq")
    sub.add_parser("describe", help="the topics as the broker reports them")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    settings = TopicSettings()
    command = apply if args.command == "apply" else describe
    try:
        code = asyncio.run(command(settings))
    except (KafkaError, TopicAdminError, TimeoutError) as exc:
        print(
            f"qrecon-topics {args.command} on {settings.kafka_bootstrap_servers}: "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
