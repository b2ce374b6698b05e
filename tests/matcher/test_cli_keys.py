"""``qonto-matcher keys``: create (the token shown once), list (never a secret), revoke."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import pytest

from qrecon.matcher.app.keys import digest

pytestmark = pytest.mark.integration


def keys(database_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "qrecon.matcher", "keys", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_create_list_and_revoke(database_url: str) -> None:
    created = keys(database_url, "create", "--organization", "org-a", "--name", "Alice Martin")
    assert created.returncode == 0, created.stderr
    fields = dict(line.split(": ", 1) for line in created.stdout.splitlines())
    assert fields["organization"] == "org-a"
    assert fields["name"] == "Alice Martin"
    token, key_id = fields["token"], fields["key_id"]
    assert token.startswith(f"qmk_{key_id}_")
    assert "shown once" in created.stderr
    admin = keys(database_url, "create", "--organization", "org-b", "--name", "Ops", "--admin")
    assert admin.returncode == 0, admin.stderr

    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchrow(
            "SELECT digest, name FROM matcher_api_keys WHERE key_id = $1", key_id
        )
    finally:
        await conn.close()
    assert stored is not None
    assert bytes(stored["digest"]) == digest(token)

    listed = keys(database_url, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("org-a", "Alice Martin", "active"),
        ("org-b", "Ops", "active admin"),
    ]
    assert token.split("_")[-1] not in listed.stdout

    assert keys(database_url, "revoke", key_id).returncode == 0
    again = keys(database_url, "revoke", key_id)
    assert again.returncode == 1
    assert "no active key" in again.stderr
    only_a = keys(database_url, "list", "--organization", "org-a")
    assert only_a.stdout.split("\t")[3] == "revoked"


def test_refuses_without_a_database_or_a_name() -> None:
    missing = keys(None, "list")
    assert missing.returncode == 2
    assert "DATABASE_URL" in missing.stderr
    usage = keys("postgresql://nowhere/x", "create", "--organization", "org-a")
    assert usage.returncode == 2  # argparse: --name is required
