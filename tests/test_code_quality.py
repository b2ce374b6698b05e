"""The tree stays ruff-clean, formatted, and strictly typed (mypy --strict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TYPED_SOURCES = [
    "libs/common/src",
    "services/ingest/src",
    "services/sync/src",
    "services/matcher/src",
    "tools/qonto-sim/src",
    "tools/devstack/src",
    "tools/synthworld/src",
    "tools/matcher-eval/src",
]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, check=False, cwd=ROOT
    )


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_formatted() -> None:
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    result = run("mypy", *TYPED_SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr
