"""docker-compose.yml, checked without a Docker engine (none runs on the dev/CI machines).

Static checks read the file; where Debian's ``docker-compose`` is installed
(scripts/test.sh installs it when it can), its own ``config`` validation runs too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from qrecon.common.kafka import GRACEFUL_TIMEOUT_SECONDS
from qrecon.ingest.settings import IngestSettings
from qrecon.matcher.settings import MatcherSettings
from qrecon.sync.settings import SyncSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"ingest": "qonto-ingest", "sync": "qonto-sync", "matcher": "qonto-matcher"}
# What `docker compose up` cannot run without (compose stops naming the one unset).
REQUIRED = {
    "POSTGRES_PASSWORD": "pg-password",
    "MATCHER_API_TOKEN": "review-token",
    "KAFKA_SASL_USERNAME": "qrecon",
    "KAFKA_SASL_PASSWORD": "kafka-password",
}
QONTO_ENV = {
    "QONTO_ORGANIZATION_ID",
    "QONTO_API_KEY",
    "QONTO_WEBHOOK_SECRET",
    "QONTO_ENVIRONMENT",
    "QONTO_SANDBOX_ORGANIZATION_ID",
    "QONTO_SANDBOX_API_KEY",
    "QONTO_STAGING_TOKEN",
    "QONTO_API_BASE_URL",
    "QONTO_CLIENT_ID",
    "QONTO_CLIENT_SECRET",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_kafka_is_apache_kafka_in_kraft_mode_at_the_local_scripts_version(
    compose: dict[str, Any],
) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    version = kafka["image"].split(":", 1)[1]
    pom = (ROOT / "infra/kafka/pom.xml").read_text()
    assert f"<version>{version}</version>" in pom or f"<kafka.version>{version}" in pom
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "healthcheck" in kafka


def test_postgres_has_a_healthcheck(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


@pytest.mark.parametrize(("service", "script"), SERVICES.items())
def test_each_service_runs_its_console_script_after_healthy_infrastructure(
    compose: dict[str, Any], service: str, script: str
) -> None:
    spec = compose["services"][service]
    assert spec["command"][0] == script
    assert spec["build"]["dockerfile"] == "Dockerfile"
    assert spec["build"]["target"] == "runtime"
    assert spec["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
        "topics": {"condition": "service_completed_successfully"},
    }
    assert "healthz" in " ".join(spec["healthcheck"]["test"])
    env = spec["environment"]
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["DATABASE_URL"].startswith("postgresql://")
    assert set(env) >= QONTO_ENV


def readme_settings() -> dict[str, set[str]]:
    """The README's configuration table: variable -> the services that read it."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ")[0]
    settings: dict[str, set[str]] = {}
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        users = {word.strip() for word in cells[1].split(",")}
        services = set(SERVICES) if "all" in users else users & set(SERVICES)
        for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]):
            settings[name] = services
    return settings


def test_every_setting_the_readme_lists_reaches_the_services_that_read_it(
    compose: dict[str, Any],
) -> None:
    settings = readme_settings()
    assert {"SYNC_CONNECTIONS", "INGEST_CONNECTIONS", "LOG_FORMAT"} <= set(settings)
    missing = {
        (name, service)
        for name, services in settings.items()
        for service in services
        if name not in compose["services"][service]["environment"]
    }
    assert not missing


def test_an_unset_setting_stays_unset_in_the_containers(compose: dict[str, Any]) -> None:
    """`${X:-}` would hand the service an empty string, which is not its default."""
    for service in SERVICES:
        for name, value in compose["services"][service]["environment"].items():
            assert ":-}" not in str(value), name


def test_no_secret_gets_a_default_value(compose: dict[str, Any]) -> None:
    """A default token would open the review API to anyone who read this file: a secret is
    passed through (optional) or required with ${NAME:?message}, never given a value."""
    for name, spec in compose["services"].items():
        for variable, value in (spec.get("environment") or {}).items():
            if re.search("TOKEN|SECRET|API_KEY|PASSWORD", variable):
                assert value is None or re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), (name, variable)


def test_the_secrets_the_stack_cannot_run_without_are_required(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    for variable in REQUIRED:
        assert re.search(rf"\$\{{{variable}:\?[^}}]*{variable}", text), variable
    assert (
        "POSTGRES_PASSWORD:?" in compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    )
    for service in SERVICES:
        url = compose["services"][service]["environment"]["DATABASE_URL"]
        assert "${POSTGRES_PASSWORD:?" in url, service
    assert (
        "${MATCHER_API_TOKEN:?"
        in compose["services"]["matcher"]["environment"]["MATCHER_API_TOKEN"]
    )


def test_every_published_port_binds_loopback_unless_told(compose: dict[str, Any]) -> None:
    published = [
        (name, port) for name, spec in compose["services"].items() for port in spec.get("ports", [])
    ]
    assert {name for name, _ in published} >= {"kafka", "postgres", *SERVICES, "emulator"}
    for name, port in published:
        assert port.startswith("${QRECON_BIND_ADDRESS:-127.0.0.1}:"), name


def test_kafka_authenticates_clients_outside_the_compose_network(compose: dict[str, Any]) -> None:
    """The published listener is SASL/SCRAM; PLAINTEXT stays on the compose network."""
    env = compose["services"]["kafka"]["environment"]
    protocols = dict(
        pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    ports = {
        listener.split("://")[0]: listener.rsplit(":", 1)[1]
        for listener in env["KAFKA_LISTENERS"].split(",")
    }
    published = {port.rsplit(":", 1)[1] for port in compose["services"]["kafka"]["ports"]}
    assert published == {ports["HOST"]}
    assert protocols["HOST"] == "SASL_PLAINTEXT"
    assert protocols["PLAINTEXT"] == "PLAINTEXT"
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert "ScramLoginModule" in env["KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___512_SASL_JAAS_CONFIG"]
    users = compose["services"]["kafka-users"]
    assert users["image"] == compose["services"]["kafka"]["image"]
    assert users["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert "SCRAM-SHA-512=" in " ".join(users["command"])


def test_topics_are_provisioned_never_auto_created(compose: dict[str, Any]) -> None:
    assert compose["services"]["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    topics = compose["services"]["topics"]
    assert topics["command"] == ["qrecon-topics", "apply"]
    assert topics["image"] == compose["services"]["ingest"]["image"]
    assert topics["restart"] == "no"
    assert topics["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert set(topics["environment"]) >= {
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_TOPIC_PREFIX",
        "KAFKA_TOPIC_PARTITIONS",
        "KAFKA_TOPIC_REPLICATION_FACTOR",
    }


def seconds(duration: str) -> float:
    """A compose duration such as `90s`, `1m30s`."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert duration, duration
    assert parts is not None, duration
    return float(sum(int(v or 0) * units[u] for v, u in zip(parts.groups(), "hms", strict=True)))


def shutdown_timeouts() -> dict[str, float]:
    """Each service's own drain on SIGTERM, from its settings' defaults."""
    return {
        "ingest": IngestSettings.model_fields["drain_timeout_seconds"].default,
        "sync": SyncSettings.model_fields["shutdown_timeout"].default,
        "matcher": MatcherSettings.model_fields["shutdown_timeout_seconds"].default,
    }


@pytest.mark.parametrize("service", SERVICES)
def test_docker_waits_for_the_drain_before_killing(compose: dict[str, Any], service: str) -> None:
    """SIGKILL comes after stop_grace_period: longer than the service's own drain followed by
    the Kafka broker's graceful timeout (handlers in flight)."""
    grace = seconds(compose["services"][service]["stop_grace_period"])
    assert grace > shutdown_timeouts()[service] + GRACEFUL_TIMEOUT_SECONDS


def test_the_emulator_is_an_optional_profile_of_its_own_image(compose: dict[str, Any]) -> None:
    emulator = compose["services"]["emulator"]
    assert emulator["profiles"] == ["emulator"]
    assert emulator["command"][0] == "qonto-sim"
    assert emulator["build"]["target"] == "full"
    assert emulator["image"] != compose["services"]["ingest"]["image"]
    assert [name for name, spec in compose["services"].items() if "profiles" in spec] == [
        "emulator"
    ]


def test_console_scripts_named_in_compose_exist() -> None:
    scripts: dict[str, str] = {}
    for pyproject in ROOT.glob("*/*/pyproject.toml"):
        scripts.update(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    assert {"qonto-ingest", "qonto-sync", "qonto-matcher", "qonto-sim"} <= set(scripts)


def test_the_dockerfile_is_multi_stage_and_locked() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") >= 2
    assert "uv sync --locked" in dockerfile


def docker_compose(
    tool: str, tmp_path: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "empty.env"  # not the developer's .env: only `env` is set
    empty.write_text("")
    return subprocess.run(
        [tool, "-f", str(COMPOSE), "--env-file", str(empty), "--profile", "emulator", "config"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], **env},
    )


def test_docker_compose_itself_accepts_the_file(tmp_path: Path) -> None:
    tool = shutil.which("docker-compose")
    if tool is None:  # not a server dependency; the static checks above still ran
        return
    result = docker_compose(tool, tmp_path, REQUIRED)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == {
        "kafka",
        "kafka-users",
        "postgres",
        "topics",
        *SERVICES,
        "emulator",
    }
    matcher = config["services"]["matcher"]
    assert matcher["environment"]["MATCHER_API_TOKEN"] == REQUIRED["MATCHER_API_TOKEN"]
    # 1.29 prints "ip:host:container/tcp"; the compose spec's tools print a mapping.
    assert all(
        (port["host_ip"] if isinstance(port, dict) else port.split(":")[0]) == "127.0.0.1"
        for port in matcher["ports"]
    )


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_docker_compose_refuses_the_file_naming_a_missing_secret(
    tmp_path: Path, missing: str
) -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        return
    result = docker_compose(tool, tmp_path, {k: v for k, v in REQUIRED.items() if k != missing})
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr
