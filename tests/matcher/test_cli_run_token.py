"""`qonto-matcher run` refuses to start without MATCHER_API_TOKEN: no default, no open API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qrecon.matcher.bootstrap import MatcherRuntime
from qrecon.matcher.settings import MatcherSettings

SCRIPT = Path(sys.executable).parent / "qonto-matcher"


def run_without_token(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "MATCHER_API_TOKEN"}
    # An unreachable server: had it not refused, it would fail later with another message.
    environ |= {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
    }
    return subprocess.run(
        [str(SCRIPT), "run"],
        env=environ | env,
        cwd=tmp_path,  # no .env or .env.local to supply a token
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("token", [None, ""], ids=["unset", "empty"])
def test_the_matcher_refuses_to_start_naming_the_variable(
    tmp_path: Path, token: str | None
) -> None:
    result = run_without_token(tmp_path, **({} if token is None else {"MATCHER_API_TOKEN": token}))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "MATCHER_API_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


async def test_the_runtime_refuses_too_before_touching_any_server() -> None:
    settings = MatcherSettings(
        _env_file=None,  # type: ignore[call-arg]
        MATCHER_API_TOKEN=None,
        MATCHER_API_ENABLED=True,
        DATABASE_URL="postgresql://x@127.0.0.1:1/x",
    )
    with pytest.raises(RuntimeError, match="MATCHER_API_TOKEN"):
        await MatcherRuntime(settings).start()
