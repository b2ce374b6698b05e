"""The OAuth token endpoint's path, per connection: a listed connection's
``oauth_token_path``, else ``QONTO_OAUTH_TOKEN_PATH`` (default ``/oauth2/token``; the
newer reference shows ``/v2/oauth2/token``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from qrecon.common.qonto import OAuthAuth, RateLimiter
from qrecon.common.qonto.token_store import InMemoryTokenStore
from qrecon.sync.adapters.qonto import build_client
from qrecon.sync.metrics import SyncMetrics
from qrecon.sync.settings import SyncSettings


def _settings(**values: Any) -> SyncSettings:
    return SyncSettings(_env_file=None, **values)  # type: ignore[call-arg]


def _oauth(**extra: Any) -> dict[str, Any]:
    return {
        "id": "beta",
        "auth": "oauth",
        "client_id": "cid",
        "client_secret": "secret",
        "oauth_base_url": "https://oauth.qonto.test",
        **extra,
    }


async def _token_url(settings: SyncSettings) -> str:
    client, _ = build_client(
        settings,
        "beta",
        limiter=RateLimiter.unlimited(),
        metrics=SyncMetrics(),
        token_store=InMemoryTokenStore(),
    )
    async with client:
        assert isinstance(client.auth, OAuthAuth)
        return client.auth.token_url


async def test_a_listed_connection_takes_its_own_path_else_the_process_one() -> None:
    default = _settings(connections=[_oauth()])
    assert await _token_url(default) == "https://oauth.qonto.test/oauth2/token"
    process = _settings(connections=[_oauth()], QONTO_OAUTH_TOKEN_PATH="/v2/oauth2/token")
    assert await _token_url(process) == "https://oauth.qonto.test/v2/oauth2/token"
    own = _settings(connections=[_oauth(oauth_token_path="/v2/oauth2/token")])
    assert await _token_url(own) == "https://oauth.qonto.test/v2/oauth2/token"


def test_a_token_path_must_be_a_path() -> None:
    with pytest.raises(ValidationError):
        _settings(connections=[_oauth(oauth_token_path="oauth2/token")])
