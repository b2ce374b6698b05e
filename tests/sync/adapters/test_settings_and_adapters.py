"""Settings (connections from the environment) and the small pure parts of the adapters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from qrecon.common.schemas import QontoTransaction
from qrecon.sync.adapters.qonto import connections, endpoint_of
from qrecon.sync.adapters.seen import is_sync_event, observed_from_body
from qrecon.sync.core.events import transaction_event
from qrecon.sync.settings import ConnectionSpec, SyncSettings, parse_rate_limits

TX = {
    "id": "8e0e7c55-5b1b-4a52-9bd8-1f1b0d0d3c11",
    "amount_cents": 4200,
    "side": "debit",
    "updated_at": "2025-05-01T10:00:00.123Z",
    "status": "completed",
}


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "QONTO_ORGANIZATION_ID",
        "QONTO_API_KEY",
        "QONTO_CLIENT_ID",
        "QONTO_CLIENT_SECRET",
        "QONTO_ENVIRONMENT",
        "SYNC_CONNECTIONS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_default_connection_from_qonto_variables_plus_listed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clean_env(monkeypatch)
    monkeypatch.setenv("QONTO_ORGANIZATION_ID", "acme-1234")
    monkeypatch.setenv("QONTO_API_KEY", "sk_live_x")
    monkeypatch.setenv(
        "SYNC_CONNECTIONS",
        json.dumps(
            [
                {"id": "beta", "api_key": "beta-login:beta-secret", "bank_account_ids": ["a1"]},
                {
                    "id": "gamma",
                    "auth": "oauth",
                    "client_id": "cid",
                    "client_secret": "cs",
                    "refresh_token": "rt",
                    "environment": "sandbox",
                    "staging_token": "stg",
                    "invoices": True,
                },
            ]
        ),
    )
    monkeypatch.setenv("SYNC_OVERLAP_SECONDS", "120")
    settings = SyncSettings(_env_file=None)
    assert settings.all_connection_ids() == ["default", "beta", "gamma"]
    beta = settings.connections[0]
    assert beta.organization_id == "beta-login"
    assert beta.api_key is not None
    assert beta.api_key.get_secret_value() == "beta-secret"
    gamma = settings.connections[1]
    assert gamma.effective_api_base_url.startswith("https://thirdparty-sandbox")
    assert settings.overlap == 120
    conns = {c.id: c for c in connections(settings)}
    assert conns["beta"].bank_account_ids == ("a1",)
    assert conns["gamma"].uses_oauth
    assert conns["gamma"].invoices
    assert not conns["default"].invoices
    assert "beta-secret" not in repr(settings)
    assert "rt" not in repr(gamma.refresh_token)


def test_no_default_connection_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)
    settings = SyncSettings(_env_file=None)
    assert settings.all_connection_ids() == []


@pytest.mark.parametrize(
    "spec",
    [
        {"id": "x"},  # no key
        {"id": "x", "api_key": "secret-without-login"},
        {"id": "x", "auth": "oauth", "client_id": "c"},
        {"id": "bad id!", "api_key": "l:s"},
        {"id": "x", "api_key": "l:s", "unknown": 1},
    ],
)
def test_invalid_connection_specs_are_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ConnectionSpec.model_validate(spec)


def test_duplicate_connection_ids_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)
    monkeypatch.setenv("SYNC_CONNECTIONS", json.dumps([{"id": "a", "api_key": "l:s"}] * 2))
    with pytest.raises(ValidationError, match="unique"):
        SyncSettings(_env_file=None)


def test_rate_limits_parse() -> None:
    assert parse_rate_limits("1000/10, 10000/600") == ((1000, 10.0), (10000, 600.0))
    assert parse_rate_limits("") == ()
    with pytest.raises(ValueError, match="requests/seconds"):
        parse_rate_limits("1000")


def test_endpoint_labels_are_bounded() -> None:
    assert endpoint_of("/v2/transactions") == "/v2/transactions"
    assert endpoint_of("/v2/transactions/8e0e7c55") == "/v2/transactions/{id}"


def test_polled_events_have_deterministic_ids_and_are_recognised_raw() -> None:
    tx = QontoTransaction.model_validate(TX)
    first = transaction_event(tx, source="poll", connection_id="c", organization_id="o")
    again = transaction_event(tx, source="backfill", connection_id="c", organization_id="o")
    assert first.event_id == again.event_id  # same version, same id, whatever the source
    raw = first.model_dump_json().encode()
    assert is_sync_event(raw)
    webhook = first.model_copy(update={"source": "webhook", "event_id": "evt-1"})
    assert not is_sync_event(webhook.model_dump_json().encode())
    observed = observed_from_body(webhook.model_dump_json().encode())
    assert observed is not None
    assert observed.event_id == "evt-1"
    assert observed.updated_at == datetime(2025, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert observed_from_body(b"not json") is None
    assert observed_from_body({"transaction": {"id": "x"}}) is None
