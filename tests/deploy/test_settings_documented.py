"""Every setting a service reads is documented: in its own README or in the root README's
Configuration table (which docker-compose passes through, tests/deploy/test_compose.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from qrecon.ingest.settings import IngestSettings
from qrecon.matcher.settings import MatcherSettings
from qrecon.sync.settings import SyncSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "sync": SyncSettings,
    "matcher": MatcherSettings,
}


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (aliases, else the field name)."""
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(str(cls.model_config.get("env_prefix") or "").upper() + name.upper())
    return names


def documented(*paths: Path) -> set[str]:
    return {name for p in paths for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", p.read_text())}


@pytest.mark.parametrize("service", SETTINGS)
def test_every_setting_is_documented(service: str) -> None:
    readme = ROOT / "services" / service / "README.md"
    missing = env_names(SETTINGS[service]) - documented(readme, ROOT / "README.md")
    assert not missing, f"undocumented settings of {service}: {sorted(missing)}"
