"""Run the emulator in-process for tests, the demo and benchmarks.

    with run_emulator() as qonto:
        httpx.get(f"{qonto.base_url}/v2/transactions",
                  headers={"Authorization": qonto.api_key_header})

uvicorn serves the app from a background thread on a real loopback port (``port=0``
picks a free one); leaving the block stops it and the webhook sender cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from qrecon.sim.app import create_app
from qrecon.sim.state import Credentials, Simulator


@dataclass
class EmulatorHandle:
    """A running emulator: where it listens, its state and the default credentials."""

    base_url: str
    host: str
    port: int
    sim: Simulator

    @property
    def credentials(self) -> Credentials:
        return self.sim.credentials()

    @property
    def organization_id(self) -> str:
        return self.credentials.organization_id

    @property
    def login(self) -> str:
        return self.credentials.login

    @property
    def secret_key(self) -> str:
        return self.credentials.secret_key

    @property
    def api_key_header(self) -> str:
        """``"<login>:<secret_key>"``, the value of the ``Authorization`` header."""
        return self.credentials.api_key_header

    @property
    def staging_token(self) -> str:
        return self.credentials.staging_token

    @property
    def client_id(self) -> str:
        return self.credentials.client_id

    @property
    def client_secret(self) -> str:
        return self.credentials.client_secret

    @property
    def redirect_uri(self) -> str:
        return self.credentials.redirect_uri

    @property
    def bank_account_id(self) -> str:
        return self.credentials.bank_account_id

    @property
    def iban(self) -> str:
        return self.credentials.iban

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    def headers(self) -> dict[str, str]:
        """API-key headers (plus the staging token in sandbox mode)."""
        headers = {"Authorization": self.api_key_header}
        if self.sim.sandbox:
            headers["X-Qonto-Staging-Token"] = self.staging_token
        return headers

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on the base URL, authenticated with the API key."""
        return httpx.Client(base_url=self.base_url, headers=self.headers(), **kwargs)

    def mint_authorization_code(self, **kwargs: Any) -> str:
        return self.sim.mint_authorization_code(self.client_id, **kwargs)

    def env(self) -> dict[str, str]:
        """The ``QONTO_*`` variables a service would read to talk to this emulator."""
        creds = self.credentials
        env = {
            "QONTO_API_BASE_URL": self.base_url,
            "QONTO_ORGANIZATION_ID": creds.login,  # Qonto's guide: the login + the secret key
            "QONTO_API_KEY": creds.secret_key,
            "QONTO_CLIENT_ID": creds.client_id,
            "QONTO_CLIENT_SECRET": creds.client_secret,
            "QONTO_ENVIRONMENT": "sandbox" if self.sim.sandbox else "production",
        }
        if self.sim.sandbox:
            env["QONTO_SANDBOX_ORGANIZATION_ID"] = creds.organization_id
            env["QONTO_SANDBOX_API_KEY"] = creds.api_key_header
            env["QONTO_STAGING_TOKEN"] = creds.staging_token
        return env


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a background thread cannot
        return None


@contextlib.contextmanager
def run_emulator(
    sim: Simulator | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sandbox: bool | None = None,
    startup_timeout: float = 15.0,
) -> Iterator[EmulatorHandle]:
    """Serve ``sim`` (a fresh default ``Simulator`` if None) over HTTP on ``host:port``."""
    if sim is None:
        sim = Simulator(sandbox=bool(sandbox))
    elif sandbox is not None:
        sim.sandbox = sandbox
    app = create_app(sim)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    bound_port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
    )
    server = _Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="qonto-sim-http", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the Qonto emulator did not start")
        time.sleep(0.01)
    url_host = f"[{host}]" if ":" in host else host
    handle = EmulatorHandle(
        base_url=f"http://{url_host}:{bound_port}", host=host, port=bound_port, sim=sim
    )
    try:
        yield handle
    finally:
        if sim.player is not None:
            sim.player.stop()
        server.should_exit = True
        thread.join(10)
        sim.webhooks.close()
        sock.close()


@contextlib.asynccontextmanager
async def arun_emulator(
    sim: Simulator | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sandbox: bool | None = None,
) -> AsyncIterator[EmulatorHandle]:
    """``run_emulator`` for async tests (the server still runs in its own thread)."""
    manager = run_emulator(sim, host=host, port=port, sandbox=sandbox)
    handle = await asyncio.to_thread(manager.__enter__)
    try:
        yield handle
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)
