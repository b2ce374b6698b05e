"""Fixtures for the emulator's tests: a running emulator and a webhook receiver, both on
loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from qrecon.sim.state import Simulator, WebhookSettings
from qrecon.sim.testing import EmulatorHandle, run_emulator


@pytest.fixture
def sim() -> Simulator:
    # Fast, bounded retries so that tests of failures finish quickly.
    return Simulator(
        webhook_settings=WebhookSettings(max_attempts=3, backoff_base=0.02, backoff_max=0.1)
    )


@pytest.fixture
def qonto(sim: Simulator) -> Iterator[EmulatorHandle]:
    with run_emulator(sim) as handle:
        yield handle


@pytest.fixture
def api(qonto: EmulatorHandle) -> Iterator[httpx.Client]:
    with qonto.client(timeout=10.0) as client:
        yield client


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint: records every request; ``respond`` picks the status."""

    url: str
    requests: list[Received] = field(default_factory=list)
    respond: Callable[[int], int] = lambda index: 200
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            rec: Receiver = state["receiver"]
            with rec.lock:
                index = len(rec.requests)
                rec.requests.append(Received(dict(self.headers.items()), body))
            if rec.delay:
                time.sleep(rec.delay)
            status = rec.respond(index)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/webhooks/qonto")
    state["receiver"] = rec
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
