"""``qonto-matcher people``: an administrator creates, lists and disables accounts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

SCRIPT = str(Path(sys.executable).parent / "qonto-matcher")


def people(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, "people", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"},
        check=False,
        timeout=120,
    )


async def test_create_list_disable(database_url: str) -> None:
    created = people(
        database_url,
        "create", "--email", "ana@example.fr", "--name", "Ana Martin",
        "--org", "acme:reviewer", "--org", "globex:viewer", "--password-stdin",
        stdin="correct horse battery\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "correct horse" not in created.stdout + created.stderr

    listed = people(database_url, "list")
    assert (
        listed.stdout.strip() == "ana@example.fr\tAna Martin\tactive\tacme:reviewer, globex:viewer"
    )

    again = people(
        database_url,
        "create", "--email", "ana@example.fr", "--name", "Ana", "--org", "acme",
        stdin="correct horse battery\n",
    )  # fmt: skip
    assert again.returncode == 2
    assert "already has an account" in again.stderr
    bad_role = people(
        database_url, "create", "--email", "bo@example.fr", "--name", "Bo",
        "--org", "acme:admin", stdin="correct horse battery\n",
    )  # fmt: skip
    assert bad_role.returncode == 2
    assert "reviewer|viewer" in bad_role.stderr

    assert people(database_url, "disable", "--email", "ana@example.fr").returncode == 0
    assert "\tdisabled\t" in people(database_url, "list").stdout
    assert people(database_url, "disable", "--email", "nobody@example.fr").returncode == 2
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM matcher_desk_people")
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$")
