"""The import rule of the matcher: arrows point down, adapters -> app -> core.

Nothing in ``qrecon.matcher.app`` or ``qrecon.matcher.core`` imports the adapters, a
driver or a framework; only ``bootstrap`` (and the CLI) sees everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import qrecon.matcher

PACKAGE = Path(qrecon.matcher.__file__).parent
FORBIDDEN = (
    "qrecon.matcher.adapters",
    "qrecon.matcher.bootstrap",
    "asyncpg",
    "faststream",
    "aiokafka",
    "httpx",
    "fastapi",
    "starlette",
    "uvicorn",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", ["app", "core"])
def test_inner_layers_import_no_adapter_driver_or_framework(layer: str) -> None:
    modules = sorted((PACKAGE / layer).rglob("*.py"))
    assert modules
    offending = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in modules
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not offending, sorted(offending)
