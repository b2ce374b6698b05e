"""The whole system as local processes: emulator, ingest, sync and matcher.

Used by ``make up`` / ``make down`` / ``make demo`` and by the fault-injection suite.
Kafka and PostgreSQL come from ``infra/`` (or the environment); ``qrecon-topics apply``
provisions the topics under the stack's prefix, then the four processes are started with
the project's console scripts and wired together through the environment, exactly as an
operator would run them:

* the emulator plays Qonto (API, OAuth, signed webhooks with faults on demand);
* ingest receives the emulator's webhooks on ``/webhooks/qonto``;
* sync polls the emulator's API to fill the gaps (its invoice sync stays off: in the demo
  the back office publishes the invoices; Qonto marks invoices paid on its own, and a second
  source calling them paid would make the matcher treat their payments as duplicates);
* the matcher consumes both topics and serves the review API.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from qrecon.devstack.supervisor import ProcessFailed, ProcessSpec, Supervisor

SERVICES = ("emulator", "ingest", "matcher", "sync")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _script(name: str) -> str:
    """A console script of this environment (the venv's bin/ next to the interpreter)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@dataclass
class StackConfig:
    run_dir: Path
    kafka_bootstrap: str
    database_url: str
    topic_prefix: str = ""
    emulator_port: int = 8700
    ingest_port: int = 8080
    sync_port: int = 8081
    matcher_port: int = 8082
    webhook_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    matcher_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # The review desk's demo login (a reviewer of the emulated organisation), made at start.
    desk_email: str = "demo@qrecon.example"
    desk_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    sync_poll_seconds: float = 5.0
    log_format: str = "json"
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    @property
    def sync_url(self) -> str:
        return f"http://127.0.0.1:{self.sync_port}"

    @property
    def matcher_url(self) -> str:
        return f"http://127.0.0.1:{self.matcher_port}"

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        path = self.run_dir / "stack.json"
        path.write_text(json.dumps(data, indent=2))
        path.chmod(0o600)  # holds the demo's secrets

    @classmethod
    def private(
        cls, run_dir: Path, kafka_bootstrap: str, database_url: str, **overrides: Any
    ) -> StackConfig:
        """A stack of its own beside others on the same servers (tests): free ports and
        topics under a unique prefix."""
        from qrecon.common.testing import unique_prefix

        options: dict[str, Any] = {
            "topic_prefix": unique_prefix(),
            "emulator_port": free_port(),
            "ingest_port": free_port(),
            "sync_port": free_port(),
            "matcher_port": free_port(),
            **overrides,
        }
        return cls(
            run_dir=run_dir, kafka_bootstrap=kafka_bootstrap, database_url=database_url, **options
        )

    @classmethod
    def load(cls, run_dir: Path) -> StackConfig:
        data = json.loads((run_dir / "stack.json").read_text())
        data["run_dir"] = Path(data["run_dir"])
        return cls(**data)


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.supervisor = Supervisor(config.run_dir)
        self._credentials: dict[str, Any] | None = None

    # --- processes

    def _common_env(self) -> dict[str, str]:
        c = self.config
        return {
            "KAFKA_BOOTSTRAP_SERVERS": c.kafka_bootstrap,
            "DATABASE_URL": c.database_url,
            "KAFKA_TOPIC_PREFIX": c.topic_prefix,
            "LOG_FORMAT": c.log_format,
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }

    def spec(self, name: str) -> ProcessSpec:
        c = self.config
        env = self._common_env()
        if name == "emulator":
            argv = [_script("qonto-sim"), "serve", "--port", str(c.emulator_port)]
            health = f"{c.emulator_url}/_sim/health"
        elif name == "ingest":
            argv = [_script("qonto-ingest")]
            env |= {
                "INGEST_HOST": "127.0.0.1",
                "INGEST_PORT": str(c.ingest_port),
                "QONTO_WEBHOOK_SECRET": c.webhook_secret,
            }
            health = f"{c.ingest_url}/readyz"
        elif name == "matcher":
            argv = [_script("qonto-matcher"), "run"]
            env |= {
                "MATCHER_HOST": "127.0.0.1",
                "MATCHER_PORT": str(c.matcher_port),
                "MATCHER_API_TOKEN": c.matcher_token,
            }
            organization = self.emulated_organization()
            if organization is not None:
                # The emulated company: the back office's invoices name no organisation.
                env["MATCHER_DEFAULT_ORGANIZATION"] = organization
            health = f"{c.matcher_url}/readyz"
        elif name == "sync":
            creds = self.credentials()
            argv = [_script("qonto-sync"), "run"]
            env |= {
                "SYNC_HOST": "127.0.0.1",
                "SYNC_PORT": str(c.sync_port),
                "QONTO_API_BASE_URL": c.emulator_url,
                "QONTO_ORGANIZATION_ID": str(creds["login"]),
                "QONTO_API_KEY": str(creds["secret_key"]),
                "SYNC_POLL_INTERVAL_SECONDS": str(c.sync_poll_seconds),
                "SYNC_INVOICES_ENABLED": "false",
                # Scenarios open accounts while they play; pick them up quickly.
                "SYNC_ACCOUNTS_REFRESH_SECONDS": "10",
            }
            health = f"{c.sync_url}/readyz"
        else:
            raise ValueError(f"unknown service {name!r}")
        env |= c.extra_env.get(name, {})
        return ProcessSpec(name=name, argv=argv, env=env, health_url=health, ready_timeout=90.0)

    def start(self, name: str) -> None:
        self.supervisor.start(self.spec(name))

    def provision_topics(self) -> None:
        """``qrecon-topics apply`` for this stack's prefix, as an operator runs it first
        (the broker never auto-creates a topic, and the services refuse to start without)."""
        log_path = self.supervisor.log_path("topics")
        with log_path.open("ab") as log:
            done = subprocess.run(  # noqa: S603 - argv built by the project
                [_script("qrecon-topics"), "apply"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self._common_env()},
                check=False,
                timeout=120,
            )
        if done.returncode != 0:
            raise ProcessFailed(
                f"qrecon-topics apply exited with {done.returncode}; see {log_path}"
            )

    def start_all(self) -> None:
        self.config.save()
        self.provision_topics()
        for name in SERVICES:
            self.start(name)
        self.subscribe_ingest()
        self.create_desk_login()

    def create_desk_login(self) -> None:
        """The demo's reviewer account (``qonto-matcher people create``; kept if it exists)."""
        c = self.config
        # a reviewer of the emulated company, whose lines the matcher holds
        organization = self.emulated_organization() or "demo"
        log_path = self.supervisor.log_path("desk-login")
        with log_path.open("ab") as log:
            subprocess.run(  # noqa: S603 - argv built by the project
                [_script("qonto-matcher"), "people", "create", "--email", c.desk_email,
                 "--name", "Demo Reviewer", "--org", f"{organization}:reviewer",
                 "--password-stdin"],
                input=(c.desk_password + "\n").encode(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self._common_env()},
                check=False,
                timeout=120,
            )  # fmt: skip

    def stop_all(self) -> None:
        for name in reversed(SERVICES):
            self.supervisor.stop(name)

    def kill(self, name: str) -> None:
        self.supervisor.kill(name)

    def running(self) -> dict[str, bool]:
        return {name: self.supervisor.running(name) for name in SERVICES}

    # --- the emulator's admin API

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, self.config.emulator_url + path, json=body, timeout=120.0)
        response.raise_for_status()
        if response.headers.get("content-type", "").startswith("application/x-ndjson"):
            return [json.loads(line) for line in response.text.splitlines() if line.strip()]
        return response.json()

    def emulated_organization(self) -> str | None:
        """The emulator's organisation id, or None when no emulator runs (a stack of some
        services only)."""
        try:
            return str(self.credentials()["organization_id"])
        except httpx.HTTPError:
            return None

    def credentials(self) -> dict[str, Any]:
        if self._credentials is None:
            self._credentials = dict(self.admin("GET", "/_sim/credentials"))
        return self._credentials

    def subscribe_ingest(self) -> None:
        """Point the emulator's webhooks at ingest's default connection (once)."""
        callback = f"{self.config.ingest_url}/webhooks/qonto"
        existing = self.admin("GET", "/_sim/webhook_subscriptions")
        rows = (
            existing.get("webhook_subscriptions", existing)
            if isinstance(existing, dict)
            else existing
        )
        if any(s.get("callback_url") == callback for s in rows):
            return
        self.admin(
            "POST",
            "/_sim/webhook_subscriptions",
            {
                "callback_url": callback,
                "secret": self.config.webhook_secret,
                # payment links: the matcher's evidence (a paid link names the invoice)
                "types": ["v1/transactions", "v1/payment-links"],
            },
        )

    def set_faults(self, **faults: Any) -> Any:
        return self.admin("PUT", "/_sim/faults", faults)

    def play(self, **params: Any) -> Any:
        return self.admin("POST", "/_sim/play", params)

    def status(self) -> Any:
        return self.admin("GET", "/_sim/status")

    def ground_truth(self, section: str) -> list[dict[str, Any]]:
        rows = self.admin("GET", f"/_sim/ground_truth/{section}")
        return list(rows)
