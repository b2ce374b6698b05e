"""IngestSettings: where connections and their secrets come from."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from qrecon.ingest.settings import IngestSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "QONTO_WEBHOOK_SECRET",
        "INGEST_CONNECTIONS",
        "QONTO_ORGANIZATION_ID",
        "INGEST_WORKERS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")  # no .env file


def test_defaults() -> None:
    s = IngestSettings()
    assert (s.host, s.port, s.max_body_bytes, s.signature_tolerance_seconds) == (
        "127.0.0.1", 8080, 1024 * 1024, 300.0)  # fmt: skip
    assert s.resolve_connections({}) == {}


def test_default_connection_from_qonto_webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QONTO_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("QONTO_ORGANIZATION_ID", "org-9")
    monkeypatch.setenv("INGEST_PORT", "9000")
    s = IngestSettings()
    assert s.port == 9000
    [default] = s.resolve_connections({}).values()
    assert (default.id, default.secrets, default.organization_id) == (
        "default",
        (b"s3cret",),
        "org-9",
    )
    assert "s3cret" not in repr(s)


def test_connections_json_rotation_and_per_connection_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QONTO_WEBHOOK_SECRET", "new")
    monkeypatch.setenv(
        "INGEST_CONNECTIONS",
        json.dumps({
            "default": {"secrets": ["old"]},
            "acme": {"secrets": "acme-1", "organization_id": "org-acme"},
            "beta": "beta-1",
            "empty": {"secrets": []},
        }),
    )  # fmt: skip
    env = {"INGEST_WEBHOOK_SECRETS__acme": "acme-2", "INGEST_WEBHOOK_SECRETS__gamma": "g-1"}
    connections = IngestSettings().resolve_connections(env)
    assert connections["default"].secrets == (b"new", b"old")
    assert connections["acme"].secrets == (b"acme-1", b"acme-2")
    assert connections["acme"].organization_id == "org-acme"
    assert connections["beta"].secrets == (b"beta-1",)
    assert connections["gamma"].secrets == (b"g-1",)
    assert "empty" not in connections  # no secret: unknown (404)


@pytest.mark.parametrize("bad", ["a/b", "", "x" * 65, "sp ace"])
def test_connection_ids_are_checked(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("INGEST_CONNECTIONS", json.dumps({bad: "s"}))
    with pytest.raises(ValidationError):
        IngestSettings()
    monkeypatch.delenv("INGEST_CONNECTIONS")
    with pytest.raises(ValueError, match="connection id"):
        IngestSettings().resolve_connections({f"INGEST_WEBHOOK_SECRETS__{bad}": "s"})


def test_workers_default_to_one_and_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    assert IngestSettings().workers == 1
    monkeypatch.setenv("INGEST_WORKERS", "3")
    assert IngestSettings().workers == 3
    monkeypatch.setenv("INGEST_WORKERS", "0")
    with pytest.raises(ValidationError):
        IngestSettings()
