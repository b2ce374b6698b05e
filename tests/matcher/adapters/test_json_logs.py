"""``qonto-matcher run`` as in production writes nothing but JSON lines — its own, uvicorn's,
aiokafka's, FastStream's, its access log — whatever the requests, from start to SIGTERM;
auth failures are logged and counted, never with the token."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from qrecon.common.testing import json_log_lines
from qrecon.common.topics import Topics

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "json-logs-token-0123456789abcdef"
WRONG = "json-logs-wrong-0123456789abcdef"


def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; what comes back before the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "qrecon.matcher", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def _until_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120  # generous: the machine may be busy
    async with httpx.AsyncClient(base_url=url) as client:
        while time.monotonic() < deadline:
            assert proc.poll() is None, _tail(log)
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"qonto-matcher did not start: {_tail(log)}")


async def test_every_line_of_the_matcher_is_json_and_auth_failures_are_counted(
    kafka_bootstrap: str, database_url: str, topics: Topics, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": topics.prefix,
        "MATCHER_GROUP_ID": f"{topics.prefix}matcher",
        "MATCHER_EVENTS_CONSUMER_GROUP": f"{topics.prefix}matcher-events",
        "MATCHER_PORT": str(port),
        "MATCHER_API_TOKEN": TOKEN,
        "MATCHER_DEFAULT_ORGANIZATION": "org-default",
        "HTTP_HEADER_TIMEOUT_SECONDS": "1",
        "HTTP_BODY_TIMEOUT_SECONDS": "1",
        "LOG_LEVEL": "INFO",
    }
    log = tmp_path / "matcher.log"
    proc = _start(env, log)
    try:
        url = f"http://127.0.0.1:{port}"
        await _until_healthy(url, proc, log)
        good, bad = {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": f"Bearer {WRONG}"}
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            ok = await client.get("/v1/suggestions", headers=good)
            wrong = await client.get("/v1/suggestions", headers=bad)
            missing = await client.post("/v1/transactions/x/undo", content=b'{"actor": "a')
            metrics = (await client.get("/metrics")).text
        assert (ok.status_code, wrong.status_code, missing.status_code) == (200, 401, 401)
        # A request that fails inside the app (a NUL that PostgreSQL refuses, issue 13 #3,
        # today a 500): however it is answered, its traceback is a field of a JSON line.
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            with contextlib.suppress(httpx.HTTPError):
                await client.get("/v1/transactions/a%00b", headers=good)
        assert 'matcher_api_auth_failures_total{reason="invalid",route="/v1/suggestions"} 1.0' in (
            metrics
        )
        assert _raw(port, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400")
        assert _raw(port, b"").startswith(b"HTTP/1.1 408")  # said nothing: cut off
        stalled = (  # authorised, so the body is read; it never finishes
            b"POST /v1/transactions/x/undo HTTP/1.1\r\nhost: x\r\n"
            b"authorization: Bearer " + TOKEN.encode() + b"\r\ncontent-length: 900\r\n\r\n{"
        )
        assert _raw(port, stalled).startswith(b"HTTP/1.1 408")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(60)
    output = log.read_text()
    assert exit_code == 0, output[-3000:]
    lines = json_log_lines(output)
    loggers = {line["logger"] for line in lines}
    assert {"qrecon.matcher.access", "uvicorn.error"} <= loggers, loggers
    requests = [line for line in lines if line["event"] == "http_request"]
    assert {(r["status"], r["actor"]) for r in requests} >= {
        (200, "api_token"),
        (401, "anonymous"),
    }
    assert TOKEN not in output
    assert WRONG not in output
