"""Helpers and fixtures of the ingest tests: signed Qonto payloads, a fake runtime for the
ASGI app, a real in-process runtime, and ``qonto-ingest`` as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from qrecon.common.qonto.signature import signature_header
from qrecon.common.topics import Topics
from qrecon.ingest.adapters.http import create_http_app
from qrecon.ingest.app.ports import Connection
from qrecon.ingest.core.payload import Routed

SECRET = "test-secret-0123456789abcdef0123456789abcdef"
OLD_SECRET = "old-secret-0123456789abcdef0123456789abcdef"
ACME_SECRET = "acme-secret-0123456789abcdef0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]


def transaction_data(tx_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """``data`` of a ``v1/transactions`` webhook as Qonto documents it (no amount_cents)."""
    data: dict[str, Any] = {
        "event": "created",
        "id": tx_id or str(uuid.uuid4()),
        "transaction_id": "acme-transaction-1234",
        "amount": 50.01,
        "currency": "EUR",
        "side": "debit",
        "status": "completed",
        "operation_type": "transfer",
        "label": "Fournisseur SARL",
        "reference": "FAC-2025-0123",
        "settled_at": "2025-01-24T10:55:00.000Z",
        "emitted_at": "2025-01-24T10:54:00.000Z",
        "updated_at": "2025-01-24T10:55:00.000Z",
        "bank_account": {"id": "ba-1", "iban": "FR7616958000011234567890123", "name": "Main"},
        "subject_type": "Transfer",
        "transfer": {"counterparty_account_number": "FR7630006000011234567890189"},
    }
    data.update(overrides)
    return data


def webhook(
    event_type: str = "v1/transactions",
    *,
    event_id: str | None = None,
    data: dict[str, Any] | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event_id or str(uuid.uuid4()),
        "subscription_id": "sub-1",
        "organization_id": "org-1",
        "membership_id": "mem-1",
        "type": event_type,
        "created_at": "2025-01-24T10:55:00Z",
        "data": transaction_data() if data is None and event_type == "v1/transactions" else data,
    }
    if body["data"] is None:
        body["data"] = {"id": str(uuid.uuid4()), "status": "active"}
    body.update(envelope)
    return body


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_headers(
    body: bytes, secret: str = SECRET, *, timestamp: int | None = None
) -> dict[str, str]:
    t = int(time.time()) if timestamp is None else timestamp
    return {
        "X-Qonto-Signature": signature_header(secret, body, t),
        "Content-Type": "application/json",
    }


# -- a fake runtime: the real routes without PostgreSQL or Kafka ------------------------


@dataclass
class FakeInbox:
    rows: dict[tuple[str, str], tuple[str, Routed]] = field(default_factory=dict)
    fail: BaseException | None = None
    delay: float = 0.0

    async def write(self, connection_id: str, topic: str, routed: Routed) -> bool:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        key = (connection_id, routed.event_id)
        if key in self.rows:
            return False
        self.rows[key] = (topic, routed)
        return True


@dataclass
class FakeRuntime:
    connections: Mapping[str, Connection] = field(
        default_factory=lambda: {
            "default": Connection(id="default", secrets=(SECRET.encode(), OLD_SECRET.encode())),
            "acme": Connection(id="acme", secrets=(ACME_SECRET.encode(),), organization_id="o2"),
        }
    )
    topics: Topics = field(default_factory=lambda: Topics("fake."))
    inbox: FakeInbox = field(default_factory=FakeInbox)
    max_body_bytes: int = 1024 * 1024
    max_record_bytes: int = 1_000_000
    signature_tolerance_seconds: float = 300.0
    clock: float | None = None
    ready: dict[str, bool] = field(default_factory=lambda: {"postgres": True, "kafka": True})

    def now(self) -> float:
        return time.time() if self.clock is None else self.clock

    async def readiness(self) -> dict[str, bool]:
        return dict(self.ready)


@pytest.fixture
def fake_runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def fake_app(fake_runtime: FakeRuntime) -> FastAPI:
    return create_http_app(fake_runtime)


@pytest.fixture
async def client(fake_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as c:
        yield c


# -- qonto-ingest as a subprocess ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class IngestProcess:
    """``qonto-ingest`` run as a child process, as in production."""

    def __init__(self, env: Mapping[str, str], *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, **env, "INGEST_PORT": str(self.port)}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(f"/tmp/qonto-ingest-test-{self.port}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:  # workers import the app: slow when busy
        exe = Path(sys.executable).with_name("qonto-ingest")
        with self.log.open("ab") as out:
            # its own process group: kill() takes the worker processes too (INGEST_WORKERS)
            self.proc = subprocess.Popen(
                [str(exe)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qonto-ingest exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("qonto-ingest did not start")

    def kill(self) -> None:
        """``kill -9`` of the whole service (the process and its workers, as a container's)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


@pytest.fixture
def ingest_env(database_url: str, kafka_bootstrap: str, topics: Topics) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": topics.prefix,
        "QONTO_WEBHOOK_SECRET": SECRET,
        "INGEST_CONNECTIONS": json.dumps({"acme": {"secrets": [ACME_SECRET]}}),
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def spawn_ingest(ingest_env: dict[str, str]) -> Iterator[Any]:
    started: list[IngestProcess] = []

    def spawn(**overrides: str) -> IngestProcess:
        proc = IngestProcess({**ingest_env, **overrides})
        proc.start()
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        proc.kill()
