"""The admin API (``/_sim``) and the ``qonto-sim`` command line, against a running
emulator."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from qrecon.sim.__main__ import main, parse_rate_limits
from qrecon.sim.testing import EmulatorHandle

from .conftest import Receiver


def _admin(qonto: EmulatorHandle) -> httpx.Client:
    return httpx.Client(base_url=f"{qonto.base_url}/_sim", timeout=30)


def test_admin_scenario_status_and_ground_truth(qonto: EmulatorHandle, api: httpx.Client) -> None:
    with _admin(qonto) as admin:
        summary = admin.post("/scenario", json={"seed": 9, "months": 1, "size": "tiny"}).json()
        assert summary["transactions"] > 10
        assert summary["mode"] == "instant"
        status = admin.get("/status").json()
        assert status["transactions"] == summary["transactions"]
        assert status["scenario"]["seed"] == 9
        lines = admin.get("/ground_truth/allocations.jsonl").text.splitlines()
        assert len(lines) == summary["transactions"]
        assert {"transaction_id", "kind", "allocations"} <= json.loads(lines[0]).keys()
        everything = admin.get("/ground_truth").json()
        assert set(everything) >= {"transactions", "transaction_versions", "webhooks", "invoices"}
        assert admin.get("/ground_truth/nope").status_code == 404
    # One status per request and per bank account, as Qonto answers (strict emulator).
    total = 0
    for account in qonto.sim.accounts.bank_accounts():
        for status in ("pending", "declined", "completed"):
            listed = api.get(
                "/v2/transactions",
                params=[("bank_account_id", account["id"]), ("status[]", status)],
            )
            total += listed.json()["meta"]["total_count"]
    assert total == summary["transactions"]


def test_admin_edits_transactions(qonto: EmulatorHandle, receiver: Receiver) -> None:
    with _admin(qonto) as admin:
        sub = admin.post(
            "/webhook_subscriptions", json={"callback_url": receiver.url, "secret": "abc"}
        )
        assert sub.status_code == 201
        assert sub.json()["webhook_subscription"]["secret"] == "abc"
        created = admin.post(
            "/transactions",
            json={
                "amount": "1234.56",
                "side": "credit",
                "label": "CLIENT SAS",
                "reference": "FAC-2025-0007",
                "allocations": [
                    {"invoice_id": "i7", "invoice_number": "FAC-2025-0007", "amount_cents": 123456}
                ],
                "kind": "client_payment",
            },
        )
        assert created.status_code == 201
        tx = created.json()["transaction"]
        assert tx["amount_cents"] == 123456
        patched = admin.patch(f"/transactions/{tx['id']}", json={"note": "ok", "category": "sales"})
        assert patched.json()["transaction"]["note"] == "ok"
        attached = admin.post(f"/transactions/{tx['id']}/attachments", json={})
        assert len(attached.json()["transaction"]["attachment_ids"]) == 1
        versions = admin.get(f"/transactions/{tx['id']}/versions").json()["versions"]
        assert [v["version"] for v in versions] == [1, 2, 3]
        assert admin.post("/webhooks/flush", json={"timeout": 5}).json()["flushed"]
        webhooks = admin.get("/webhooks").json()
        assert webhooks["stats"]["delivered"] == 3
        allocation = admin.get("/ground_truth").json()["allocations"][0]
        assert allocation["allocations"][0]["amount_cents"] == 123456
        assert admin.patch("/transactions/unknown", json={"note": "x"}).status_code == 404
        bad = admin.post("/transactions", json={"amount": "1.234", "side": "credit"})
        assert bad.status_code == 422


def test_admin_oauth_clock_limits_settings_reset(qonto: EmulatorHandle) -> None:
    with _admin(qonto) as admin:
        code = admin.post("/oauth/authorization_code", json={}).json()
        token = httpx.post(
            qonto.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code["code"],
                "client_id": code["client_id"],
                "client_secret": qonto.client_secret,
            },
        )
        assert token.status_code == 200
        clock = admin.post("/clock", json={"set": "2025-06-01T00:00:00Z", "freeze": True}).json()
        assert clock["mode"] == "frozen"
        assert clock["now"] == "2025-06-01T00:00:00.000Z"
        assert (
            admin.post("/clock", json={"advance": 90}).json()["now"] == "2025-06-01T00:01:30.000Z"
        )
        assert admin.post("/clock", json={"real": True}).json()["mode"] == "real"
        limits = admin.put("/rate_limits", json={"windows": [{"limit": 2, "seconds": 10}]}).json()
        assert limits["windows"] == [{"limit": 2, "seconds": 10.0}]
        settings = admin.put("/webhook_settings", json={"max_attempts": 2, "concurrency": 1}).json()
        assert settings["max_attempts"] == 2
        assert settings["concurrency"] == 1
        creds = admin.get("/credentials").json()
        assert creds["api_key_header"] == qonto.api_key_header
        assert admin.post("/reset", json={}).json()["transactions"] == 0


def test_admin_play_and_stop(qonto: EmulatorHandle) -> None:
    with _admin(qonto) as admin:
        started = admin.post("/play", json={"seed": 1, "size": "tiny", "month_seconds": 30})
        assert started.status_code == 202
        assert started.json()["state"] == "playing"
        time.sleep(0.3)
        stopped = admin.post("/stop").json()
        assert stopped["player"]["state"] == "stopped"
        assert stopped["player"]["applied"] < stopped["player"]["total"]


def test_cli_against_a_running_emulator(
    qonto: EmulatorHandle,
    receiver: Receiver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = qonto.base_url

    def run(*argv: str) -> str:
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        assert exit_info.value.code == 0
        return capsys.readouterr().out

    assert json.loads(run("load", "--api", url, "--seed", "2", "--size", "tiny"))["seed"] == 2
    faults = json.loads(run("faults", "--api", url, "--drop", "0.2", "--duplicate", "0.1"))
    assert faults["drop"] == 0.2
    assert faults["duplicate"] == 0.1
    sub = json.loads(run("subscribe", "--api", url, "--callback", receiver.url, "--secret", "S"))
    assert sub["webhook_subscription"]["callback_url"] == receiver.url
    env = run("credentials", "--api", url, "--env")
    assert f"QONTO_ORGANIZATION_ID={qonto.login}" in env  # Qonto's guide: login + secret key
    assert f"QONTO_API_KEY={qonto.secret_key}" in env
    assert json.loads(run("status", "--api", url))["transactions"] > 0
    run("export", "--api", url, "--out", str(tmp_path))
    files = {p.name: p.read_text().splitlines() for p in tmp_path.iterdir()}
    assert len(files["allocations.jsonl"]) == len(files["transactions.jsonl"]) > 0
    assert len(files["transaction_versions.jsonl"]) >= len(files["transactions.jsonl"])
    assert files["invoices.jsonl"]
    assert {"webhooks.jsonl", "client_invoices.jsonl", "supplier_invoices.jsonl"} <= set(files)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_command_prints_credentials_and_serves() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qrecon.sim",
            "serve",
            "--port",
            str(port),
            "--seed",
            "1",
            "--scenario",
            "company",
            "--size",
            "tiny",
            "--sandbox",
            "--rate-limits",
            "off",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/_sim/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        creds = httpx.get(f"{base}/_sim/credentials").json()
        headers = {
            "Authorization": creds["api_key_header"],
            "X-Qonto-Staging-Token": creds["staging_token"],
        }
        body = httpx.get(
            f"{base}/v2/transactions",
            params={"bank_account_id": creds["bank_account_id"]},
            headers=headers,
        ).json()
        assert body["meta"]["total_count"] > 0
        assert "text/html" in httpx.get(f"{base}/v2/transactions").headers["content-type"]
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert creds["api_key_header"] in err.decode()


def test_rate_limit_spec() -> None:
    limits = parse_rate_limits("5/1,50/60", retry_after=3)
    assert limits.windows == [(5, 1.0), (50, 60.0)]
    assert limits.retry_after == 3
    assert not parse_rate_limits("off").enabled
