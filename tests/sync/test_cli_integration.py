"""``qonto-sync`` as a process: run, health and metrics over HTTP, SIGTERM, status, backfill."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from qrecon.common.testing import json_log_lines
from qrecon.common.topics import Topics
from qrecon.sim.testing import EmulatorHandle

from .helpers import add_transactions


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


async def test_run_serves_health_and_metrics_then_stops_cleanly_on_sigterm(
    emulator: EmulatorHandle,
    database_url: str,
    kafka_bootstrap: str,
    topics: Topics,
    tmp_path: Path,
) -> None:
    add_transactions(emulator, 120)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("QONTO_", "SYNC_"))},
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": topics.prefix,
        "QONTO_API_BASE_URL": emulator.base_url,
        "SYNC_ADMIN_TOKEN": "cli-admin-token",
        "QONTO_ORGANIZATION_ID": emulator.login,
        "QONTO_API_KEY": emulator.secret_key,
        "SYNC_PORT": str(port),
        "SYNC_POLL_INTERVAL_SECONDS": "0.5",
        "SYNC_SETTLE_DELAY_SECONDS": "0.2",
        "SYNC_CONSUMER_GROUP": f"{topics.prefix}seen",
        "LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "qrecon.sync"]
    proc = subprocess.Popen(  # noqa: ASYNC220 - a child process is what is tested
        [*cmd, "run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            deadline = asyncio.get_running_loop().time() + 60
            published = 0.0
            while published < 120:
                assert asyncio.get_running_loop().time() < deadline, "nothing published"
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                try:
                    text = (await http.get("/metrics")).text
                    published = metric(text, "qonto_sync_versions_published_total")
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            body = ready.json()
            assert body["status"] == "ready"
            assert body["checks"] == {"postgres": True, "kafka": True}
            assert body["connections"]["default"] in {"polling", "backfilling"}
            status = await http.get(
                "/v1/status", headers={"Authorization": "Bearer cli-admin-token"}
            )
            assert status.json()["connections"]["default"]["ready"]
            assert metric(text, "qonto_sync_lag_seconds") < 60
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
        assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
        assert proc.stdout is not None
        assert proc.stderr is not None
        json_log_lines(proc.stdout.read().decode() + proc.stderr.read().decode())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    status = await asyncio.to_thread(
        subprocess.run,
        [*cmd, "status"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert emulator.bank_account_id[:8] in status.stdout

    backfill = await asyncio.to_thread(
        subprocess.run,
        [*cmd, "backfill", "--since", "2016-06-01", "--connection", "default"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert backfill.returncode == 0, backfill.stderr
    # Everything was already on the topic: the backfill skipped it all.
    assert ": done, " in backfill.stderr
    assert " 0 published, " in backfill.stderr
