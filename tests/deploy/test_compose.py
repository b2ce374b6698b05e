"""docker-compose.yml, checked without a Docker engine (none runs on the dev/CI machines).

Static checks read the file; where Debian's ``docker-compose`` is installed
(scripts/test.sh installs it when it can), its own ``config`` validation runs too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"ingest": "qonto-ingest", "sync": "qonto-sync", "matcher": "qonto-matcher"}
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
    assert spec["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
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
    """A default token would open the review API to anyone who read this file."""
    for service in SERVICES:
        for name, value in compose["services"][service]["environment"].items():
            if re.search("TOKEN|SECRET|API_KEY", name):
                assert value is None, name


def test_kafka_and_postgres_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    for server in ("kafka", "postgres"):
        assert all(port.startswith("127.0.0.1:") for port in compose["services"][server]["ports"])


def test_the_emulator_is_an_optional_profile(compose: dict[str, Any]) -> None:
    emulator = compose["services"]["emulator"]
    assert emulator["profiles"] == ["emulator"]
    assert emulator["command"][0] == "qonto-sim"


def test_console_scripts_named_in_compose_exist() -> None:
    scripts: dict[str, str] = {}
    for pyproject in ROOT.glob("*/*/pyproject.toml"):
        scripts.update(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    assert {"qonto-ingest", "qonto-sync", "qonto-matcher", "qonto-sim"} <= set(scripts)


def test_the_dockerfile_is_multi_stage_and_locked() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") >= 2
    assert "uv sync --locked" in dockerfile


def test_docker_compose_itself_accepts_the_file() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:  # not a server dependency; the static checks above still ran
        return
    result = subprocess.run(
        [tool, "-f", str(COMPOSE), "--profile", "emulator", "config", "--services"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"kafka", "postgres", *SERVICES, "emulator"}
