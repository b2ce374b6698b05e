"""Authentication, OAuth (code, refresh, rotation with a 60 s grace), sandbox staging
token, scopes, and rate limits — over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from qrecon.sim.faults import RateLimits
from qrecon.sim.state import API_KEY_SCOPES, Simulator
from qrecon.sim.testing import EmulatorHandle, run_emulator

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _token(qonto: EmulatorHandle, **form: str) -> httpx.Response:
    data = {"client_id": qonto.client_id, "client_secret": qonto.client_secret, **form}
    return httpx.post(qonto.token_url, data=data, timeout=10)


def _exchange(qonto: EmulatorHandle, **kwargs: object) -> dict[str, object]:
    code = qonto.mint_authorization_code(**kwargs)
    response = _token(
        qonto, grant_type="authorization_code", code=code, redirect_uri=qonto.redirect_uri
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def ACCOUNT(qonto: EmulatorHandle) -> dict[str, str]:
    """The list is per bank account (the strict emulator answers 422 without one)."""
    return {"bank_account_id": qonto.bank_account_id}


def test_api_key_ok_and_failures(qonto: EmulatorHandle) -> None:
    url = f"{qonto.base_url}/v2/transactions?bank_account_id={qonto.bank_account_id}"
    assert httpx.get(url, headers={"Authorization": qonto.api_key_header}).status_code == 200
    for header in (
        None,
        f"{qonto.login}:wrong",
        f"Bearer {qonto.api_key_header}",  # a prefix is wrong
        f"Basic {qonto.api_key_header}",
        qonto.login,
    ):
        headers = {"Authorization": header} if header else {}
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401, header
        body = response.json()
        assert body["errors"][0]["code"] == "unauthorized"
        assert body["trace_id"]


def test_regenerated_api_key_revokes_the_old_one(qonto: EmulatorHandle) -> None:
    old = qonto.api_key_header
    qonto.sim.regenerate_api_key()
    url = f"{qonto.base_url}/v2/organization"
    assert httpx.get(url, headers={"Authorization": old}).status_code == 401
    assert httpx.get(url, headers={"Authorization": qonto.api_key_header}).status_code == 200


def test_api_key_cannot_manage_webhooks_403(qonto: EmulatorHandle, api: httpx.Client) -> None:
    assert "webhook" not in API_KEY_SCOPES
    response = api.get("/v2/webhook_subscriptions")
    assert response.status_code == 403
    assert "scope" in response.json()["errors"][0]["detail"]


def test_oauth_code_then_bearer(qonto: EmulatorHandle) -> None:
    tokens = _exchange(qonto)
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    assert {"access_token", "refresh_token", "id_token", "scope"} <= tokens.keys()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    response = httpx.get(f"{qonto.base_url}/v2/organization", headers=bearer)
    assert response.status_code == 200
    # A code is single-use.
    code = qonto.mint_authorization_code()
    assert _token(qonto, grant_type="authorization_code", code=code).status_code == 200
    reused = _token(qonto, grant_type="authorization_code", code=code)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    # Wrong client secret.
    bad = httpx.post(
        qonto.token_url,
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": qonto.client_id,
            "client_secret": "nope",
        },
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    # JSON instead of a form is refused.
    as_json = httpx.post(qonto.token_url, json={"grant_type": "refresh_token"})
    assert as_json.status_code == 400


def test_access_token_expires_after_an_hour(qonto: EmulatorHandle) -> None:
    tokens = _exchange(qonto)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    url = f"{qonto.base_url}/v2/organization"
    qonto.sim.clock.advance(3599)
    assert httpx.get(url, headers=bearer).status_code == 200
    qonto.sim.clock.advance(2)
    assert httpx.get(url, headers=bearer).status_code == 401


def test_missing_scope_is_403(qonto: EmulatorHandle) -> None:
    tokens = _exchange(qonto, scopes=["organization.read", "offline_access"])
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (
        httpx.get(
            f"{qonto.base_url}/v2/transactions",
            params={"bank_account_id": qonto.bank_account_id},
            headers=bearer,
        ).status_code
        == 200
    )
    response = httpx.get(f"{qonto.base_url}/v2/client_invoices", headers=bearer)
    assert response.status_code == 403
    assert "client_invoices.read" in response.json()["errors"][0]["detail"]
    # No offline_access, no refresh token.
    assert "refresh_token" not in _exchange(qonto, scopes=["organization.read"])


def test_refresh_rotation_with_60s_grace(qonto: EmulatorHandle) -> None:
    first = _exchange(qonto)
    r1 = str(first["refresh_token"])
    refreshed = _token(qonto, grant_type="refresh_token", refresh_token=r1)
    assert refreshed.status_code == 200
    r2 = refreshed.json()["refresh_token"]
    assert r2 != r1
    # Within the grace period the old one still works...
    qonto.sim.clock.advance(59)
    again = _token(qonto, grant_type="refresh_token", refresh_token=r1)
    assert again.status_code == 200
    # ... and the new one works.
    assert _token(qonto, grant_type="refresh_token", refresh_token=r2).status_code == 200
    # After 60 s it is dead.
    qonto.sim.clock.advance(2)
    dead = _token(qonto, grant_type="refresh_token", refresh_token=r1)
    assert dead.status_code == 400
    assert dead.json()["error"] == "invalid_grant"


def test_reusing_a_dead_refresh_token_revokes_its_family(qonto: EmulatorHandle) -> None:
    first = _exchange(qonto)
    r1 = str(first["refresh_token"])
    r2 = _token(qonto, grant_type="refresh_token", refresh_token=r1).json()["refresh_token"]
    qonto.sim.clock.advance(61)
    assert _token(qonto, grant_type="refresh_token", refresh_token=r1).status_code == 400
    assert _token(qonto, grant_type="refresh_token", refresh_token=r2).status_code == 400
    # Another consent starts a fresh family.
    assert "refresh_token" in _exchange(qonto)


def test_refresh_token_lives_90_days(qonto: EmulatorHandle) -> None:
    r1 = str(_exchange(qonto)["refresh_token"])
    qonto.sim.clock.advance(90 * 86400 + 1)
    assert _token(qonto, grant_type="refresh_token", refresh_token=r1).status_code == 400


def test_authorize_redirects_with_a_code(qonto: EmulatorHandle) -> None:
    response = httpx.get(
        f"{qonto.base_url}/oauth2/auth",
        params={
            "client_id": qonto.client_id,
            "redirect_uri": qonto.redirect_uri,
            "scope": "organization.read offline_access",
            "state": "xyz",
            "response_type": "code",
        },
    )
    assert response.status_code == 302
    location = httpx.URL(response.headers["location"])
    assert location.params["state"] == "xyz"
    token = _token(
        qonto,
        grant_type="authorization_code",
        code=location.params["code"],
        redirect_uri=qonto.redirect_uri,
    )
    assert token.status_code == 200


def test_sandbox_requires_the_staging_token() -> None:
    with run_emulator(Simulator(sandbox=True)) as qonto:
        url = f"{qonto.base_url}/v2/transactions?bank_account_id={qonto.bank_account_id}"
        without = httpx.get(url, headers={"Authorization": qonto.api_key_header})
        assert without.status_code == 200
        assert without.headers["content-type"].startswith("text/html")
        assert "<html" in without.text
        wrong = httpx.get(
            url, headers={"Authorization": qonto.api_key_header, "X-Qonto-Staging-Token": "x"}
        )
        assert wrong.headers["content-type"].startswith("text/html")
        ok = httpx.get(url, headers=qonto.headers())
        assert ok.status_code == 200
        assert ok.json()["transactions"] == []
        # Token calls too.
        code = qonto.mint_authorization_code()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": qonto.client_id,
            "client_secret": qonto.client_secret,
        }
        html = httpx.post(qonto.token_url, data=form)
        assert html.headers["content-type"].startswith("text/html")
        token = httpx.post(
            qonto.token_url, data=form, headers={"X-Qonto-Staging-Token": qonto.staging_token}
        )
        assert token.status_code == 200
        assert token.json()["access_token"]
        qonto.sim.sandbox_login_redirect = True
        redirect = httpx.get(url, headers={"Authorization": qonto.api_key_header})
        assert redirect.status_code == 302
        assert redirect.headers["location"] == "/login"


def test_staging_token_refused_in_production(qonto: EmulatorHandle) -> None:
    response = httpx.get(
        f"{qonto.base_url}/v2/transactions",
        headers={
            "Authorization": qonto.api_key_header,
            "X-Qonto-Staging-Token": qonto.staging_token,
        },
    )
    assert response.status_code == 401


def test_rate_limit_429_per_address(qonto: EmulatorHandle, api: httpx.Client) -> None:
    qonto.sim.rate_limiter.configure(RateLimits(windows=[(5, 10.0), (100, 600.0)]))
    statuses = [api.get("/v2/transactions", params=ACCOUNT(qonto)).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    limited = api.get("/v2/transactions", params=ACCOUNT(qonto))
    assert limited.json()["errors"][0]["code"] == "too_many_requests"
    assert "retry-after" not in limited.headers  # Qonto documents none
    # The admin API is not limited.
    assert httpx.get(f"{qonto.base_url}/_sim/status").status_code == 200
    qonto.sim.rate_limiter.configure(RateLimits(windows=[(1, 10.0)], retry_after=7))
    api.get("/v2/transactions", params=ACCOUNT(qonto))
    assert api.get("/v2/transactions", params=ACCOUNT(qonto)).headers["retry-after"] == "7"


@pytest.mark.parametrize("limit", [3])
def test_too_many_401s_get_throttled(qonto: EmulatorHandle, limit: int) -> None:
    qonto.sim.rate_limiter.configure(RateLimits(unauthorized_limit=limit))
    url = f"{qonto.base_url}/v2/organization"
    codes = [httpx.get(url, headers={"Authorization": "a:b"}).status_code for _ in range(limit + 1)]
    assert codes == [401] * (limit + 1)
    # Now even good credentials are throttled for the hour.
    assert httpx.get(url, headers={"Authorization": qonto.api_key_header}).status_code == 429


@pytest.mark.parametrize("path", ["/oauth2/token", "/v2/oauth2/token"])
def test_the_token_endpoint_answers_at_both_documented_paths(
    qonto: EmulatorHandle, path: str
) -> None:
    code = qonto.mint_authorization_code()
    credentials = {"client_id": qonto.client_id, "client_secret": qonto.client_secret}
    exchanged = httpx.post(
        f"{qonto.base_url}{path}",
        data={
            **credentials,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": qonto.redirect_uri,
        },
        timeout=10,
    )
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.json()["token_type"] == "bearer"
    refreshed = httpx.post(
        f"{qonto.base_url}{path}",
        data={
            **credentials,
            "grant_type": "refresh_token",
            "refresh_token": exchanged.json()["refresh_token"],
        },
        timeout=10,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["access_token"] != exchanged.json()["access_token"]
