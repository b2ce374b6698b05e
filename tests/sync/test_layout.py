"""The shape of the package: nothing in ``app`` or ``core`` imports an adapter, the
composition root or a framework (arrows point down: adapters -> app -> core)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import qrecon.sync

PACKAGE = Path(next(iter(qrecon.sync.__path__)))
FORBIDDEN = (
    "qrecon.sync.adapters",
    "qrecon.sync.bootstrap",
    "asyncpg",
    "faststream",
    "aiokafka",
    "httpx",
    "fastapi",
    "starlette",
    "uvicorn",
)


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", ["app", "core"])
def test_inner_layers_import_no_adapter_and_no_framework(layer: str) -> None:
    modules = sorted((PACKAGE / layer).glob("*.py"))
    assert modules
    offending = {
        f"{module.name}: {name}"
        for module in modules
        for name in imports(module)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not offending


def test_one_composition_root() -> None:
    assert (PACKAGE / "bootstrap.py").is_file()
    assert not (PACKAGE / "service.py").exists()
    for name in ("settings.py", "metrics.py", "__main__.py", "app/ports.py"):
        assert (PACKAGE / name).is_file(), name
