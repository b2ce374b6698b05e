"""The architecture, checked: arrows point down (adapters -> app -> core) and modules stay small.

Every service has the same shape (``../shared/layout.md``): a pure ``core``, the use cases in
``app`` depending on ports only, ``adapters`` implementing those ports, one ``bootstrap``
wiring them. These tests read the source (no import side effects) so a violation names the
file and the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("ingest", "sync", "matcher")

# I/O and framework libraries: only adapters and the composition root may speak them.
FRAMEWORKS = ("asyncpg", "faststream", "aiokafka", "httpx", "fastapi", "starlette", "uvicorn")

# Production code (what the runtime image ships) stays readable: no module past this.
MAX_PRODUCTION_LINES = 500


def _package(svc: str) -> Path:
    return ROOT / "services" / svc / "src" / "qrecon" / svc


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
    return found


def _violations(svc: str, layer: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted((_package(svc) / layer).rglob("*.py")):
        for line, name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return out


@pytest.mark.parametrize("svc", SERVICES)
def test_every_service_has_the_same_shape(svc: str) -> None:
    pkg = _package(svc)
    for part in ("core", "app", "adapters", "migrations"):
        assert (pkg / part / "__init__.py").is_file(), f"{svc} has no {part}/ package"
    for module in ("bootstrap.py", "settings.py", "metrics.py", "__main__.py"):
        assert (pkg / module).is_file(), f"{svc} has no {module}"
    assert not (pkg / "service").exists(), f"{svc} still has a service/ package (now app/)"


@pytest.mark.parametrize("svc", SERVICES)
def test_use_cases_depend_on_ports_not_on_adapters_or_frameworks(svc: str) -> None:
    forbidden = (f"qrecon.{svc}.adapters", f"qrecon.{svc}.bootstrap", *FRAMEWORKS)
    assert _violations(svc, "app", forbidden) == []


@pytest.mark.parametrize("svc", SERVICES)
def test_core_is_pure(svc: str) -> None:
    forbidden = (
        f"qrecon.{svc}.adapters",
        f"qrecon.{svc}.app",
        f"qrecon.{svc}.bootstrap",
        *FRAMEWORKS,
    )
    assert _violations(svc, "core", forbidden) == []


def test_no_production_module_is_a_monolith() -> None:
    roots = [ROOT / "libs" / "common" / "src"] + [ROOT / "services" / s / "src" for s in SERVICES]
    too_big = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_PRODUCTION_LINES:
                too_big.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert too_big == []


def test_evaluation_is_not_shipped_in_the_matcher() -> None:
    assert not (_package("matcher") / "evaluation").exists()
