"""Compose's Kafka security, for real: the project's Kafka 3.9.1 (the jars infra/kafka.sh
resolves) started with the broker settings of docker-compose.yml (turned into properties as
the apache/kafka image does), the SCRAM user created by compose's `kafka-users` command, and
the services' KAFKA_SASL_* settings connecting through the published SASL listener."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from qrecon.common.kafka import kafka_security, make_broker, security_options
from qrecon.common.settings import ServiceSettings
from qrecon.devstack.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
LIBS = Path(os.environ.get("QRECON_CACHE_DIR", ROOT / ".cache")) / "kafka-3.9.1" / "libs"
USER, PASSWORD = "qrecon-tools", "scram-test-password"

pytestmark = pytest.mark.integration


def image_properties(env: dict[str, Any]) -> list[str]:
    """The apache/kafka image's KAFKA_* -> server.properties rule (KafkaDockerWrapper)."""
    lines = []
    for key, value in env.items():
        name = key.removeprefix("KAFKA_").lower().replace("_", ".")
        lines.append(f"{name.replace('...', '-').replace('..', '_')}={value}")
    return lines


@contextlib.contextmanager
def compose_kafka(tmp_path: Path) -> Iterator[dict[str, int]]:
    """Compose's kafka service on free local ports; yields listener name -> port."""
    assert (LIBS / "kafka-server-3.9.1.jar").exists(), f"no Kafka jars in {LIBS}: infra/up.sh"
    assert shutil.which("java"), "no java: infra/up.sh installs it"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    ports = {"PLAINTEXT": free_port(), "CONTROLLER": free_port(), "HOST": free_port()}
    compose_ports = {"PLAINTEXT": "9092", "CONTROLLER": "9093", "HOST": "19092"}
    text = "\n".join(image_properties(compose["services"]["kafka"]["environment"]))
    text = re.sub(r"\$\{KAFKA_ADVERTISED_HOST:-localhost\}", "127.0.0.1", text)
    for listener, port in compose_ports.items():
        text = re.sub(
            rf"{listener}://[^:,]*:{port}\b", f"{listener}://127.0.0.1:{ports[listener]}", text
        )
    text = text.replace("1@kafka:9093", f"1@127.0.0.1:{ports['CONTROLLER']}")
    config = tmp_path / "server.properties"
    config.write_text(f"{text}\nlog.dirs={tmp_path / 'data'}\n")
    java = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-cp", f"{LIBS}/*"]
    subprocess.run(
        [
            *java,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            "c2NyYW0tdGVzdC1jbHVzdGVy",
            "-c",
            str(config),
        ],
        check=True,
        capture_output=True,
    )
    log = (tmp_path / "kafka.log").open("wb")
    broker = subprocess.Popen([*java, "kafka.Kafka", str(config)], stdout=log, stderr=log)
    try:
        yield ports
    finally:
        broker.terminate()
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()


def create_scram_user(port: int) -> None:
    """Compose's kafka-users command, with the distribution's class for kafka-configs.sh."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["kafka-users"]["command"][0].replace("$$", "$")
    command = command.replace(
        "/opt/kafka/bin/kafka-configs.sh", f"java -Xmx256m -cp '{LIBS}/*' kafka.admin.ConfigCommand"
    ).replace("kafka:9092", f"127.0.0.1:{port}")
    env = {"PATH": os.environ["PATH"], "SCRAM_USERNAME": USER, "SCRAM_PASSWORD": PASSWORD}
    for _ in range(60):  # until the broker answers
        result = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)
        if result.returncode == 0:
            return
    raise AssertionError(result.stderr)


def client_settings(monkeypatch: pytest.MonkeyPatch, password: str) -> ServiceSettings:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", USER)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", password)
    monkeypatch.delenv("KAFKA_SASL_MECHANISM", raising=False)
    return ServiceSettings(_env_file=None)  # type: ignore[call-arg]


async def test_the_host_listener_takes_scram_clients_and_refuses_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with compose_kafka(tmp_path) as ports:
        await asyncio.to_thread(create_scram_user, ports["PLAINTEXT"])
        admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{ports['PLAINTEXT']}")
        await admin.start()
        try:  # auto-creation is off
            await admin.create_topics([NewTopic("scram.check", 1, 1)])
        finally:
            await admin.close()
        host = f"127.0.0.1:{ports['HOST']}"

        good = client_settings(monkeypatch, PASSWORD)
        producer = AIOKafkaProducer(bootstrap_servers=host, **security_options(good))
        await producer.start()
        try:
            await producer.send_and_wait("scram.check", b"with the right password")
        finally:
            await producer.stop()
        broker = make_broker(host, client_id="scram-check", security=kafka_security(good))
        await broker.start()
        try:
            await broker.publish(b"through make_broker", "scram.check")
        finally:
            await broker.stop()

        wrong = client_settings(monkeypatch, "not-the-password")
        refused = AIOKafkaProducer(
            bootstrap_servers=host, request_timeout_ms=5000, **security_options(wrong)
        )
        with pytest.raises(KafkaError):
            await refused.start()
        await refused.stop()

        anonymous = AIOKafkaProducer(bootstrap_servers=host, request_timeout_ms=5000)
        with pytest.raises(KafkaError):
            await anonymous.start()
        await anonymous.stop()
