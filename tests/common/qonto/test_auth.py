"""Authentication: API key header, staging token, OAuth proactive refresh and rotation."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr, ValidationError

from qrecon.common.qonto.auth import ApiKeyAuth, OAuthAuth, build_authorize_url
from qrecon.common.qonto.client import QontoClient
from qrecon.common.qonto.errors import QontoAuthError, QontoOAuthError
from qrecon.common.qonto.token_store import InMemoryTokenStore, OAuthTokens
from qrecon.common.settings import QontoSettings

from .conftest import MakeClient
from .fakes import CLIENT_ID, CLIENT_SECRET, LOGIN, SECRET_KEY, STAGING, FakeClock, FakeQonto

TOKEN_URL = "https://oauth.qonto.test/oauth2/token"


def oauth(fake: FakeQonto, store: InMemoryTokenStore, **kw: object) -> OAuthAuth:
    return OAuthAuth(
        CLIENT_ID,
        SecretStr(CLIENT_SECRET),
        TOKEN_URL,
        store,
        clock=fake.clock.wall,
        retry_delay=0.0,
        **kw,  # type: ignore[arg-type]
    )


async def authorised(fake: FakeQonto, store: InMemoryTokenStore) -> OAuthTokens:
    """A store holding a pair the fake Qonto issued (as after the authorization flow)."""
    tokens = OAuthTokens.from_token_response(fake.issue(), now=fake.clock.wall())
    await store.save("default", tokens)
    return tokens


def bearer(request: object) -> str:
    return request.headers["authorization"]  # type: ignore[attr-defined,no-any-return]


async def test_api_key_header_has_no_prefix(fake: FakeQonto, make_client: MakeClient) -> None:
    await make_client().get_organization()
    assert fake.requests[0].headers["authorization"] == f"{LOGIN}:{SECRET_KEY}"
    auth = ApiKeyAuth(LOGIN, SecretStr(SECRET_KEY))
    assert SECRET_KEY not in repr(auth)
    with pytest.raises(ValueError):
        ApiKeyAuth("", SecretStr("x"))


async def test_staging_token_on_every_call_token_calls_too(
    fake: FakeQonto, make_client: MakeClient
) -> None:
    fake.require_staging = True
    store = InMemoryTokenStore()
    tokens = await authorised(fake, store)
    fake.clock.advance(3600 - 60)  # inside the refresh margin: first call refreshes
    client = make_client(auth=oauth(fake, store), staging_token=SecretStr(STAGING))
    await client.get_organization()
    assert [r.url.path for r in fake.requests] == ["/oauth2/token", "/v2/organization"]
    assert all(r.headers["x-qonto-staging-token"] == STAGING for r in fake.requests)
    assert not (await store.load("default")).same_as(tokens)  # type: ignore[union-attr]
    # A standalone token call (no client given) carries it as well.
    standalone = oauth(fake, store, staging_token=STAGING, transport=fake.transport())
    await standalone.exchange_code("code-1", "https://app.test/cb")
    assert fake.requests[-1].headers["x-qonto-staging-token"] == STAGING


async def test_refresh_happens_before_expiry_not_after_a_401(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    store = InMemoryTokenStore()
    first = await authorised(fake, store)
    auth = oauth(fake, store, refresh_margin=timedelta(minutes=5))
    client = make_client(auth=auth)
    await client.get_organization()
    assert bearer(fake.requests[-1]) == f"Bearer {first.access_token.get_secret_value()}"
    clock.advance(3600 - 5 * 60 - 1)  # just outside the margin: no refresh yet
    await client.get_organization()
    assert fake.token_calls == 0
    clock.advance(2)  # inside the margin: refresh, while the old token is still valid
    await client.get_organization()
    assert fake.token_calls == 1
    assert [r.url.path for r in fake.requests[-2:]] == ["/oauth2/token", "/v2/organization"]
    stored = await store.load("default")
    assert stored is not None
    assert not stored.same_as(first)
    assert bearer(fake.requests[-1]) == f"Bearer {stored.access_token.get_secret_value()}"
    assert auth.refreshes == 1


async def test_concurrent_requests_share_one_refresh(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    store = InMemoryTokenStore()
    await authorised(fake, store)
    clock.advance(3600)  # expired
    auth = oauth(fake, store)
    client = make_client(auth=auth)
    results = await asyncio.gather(*(client.get_organization() for _ in range(20)))
    assert len(results) == 20
    assert fake.token_calls == 1
    assert auth.refreshes == 1
    assert store.saves == 2
    assert len({bearer(r) for r in fake.requests if r.url.path != "/oauth2/token"}) == 1


class CrashingStore(InMemoryTokenStore):
    """Saves fail while ``crash`` is set: the process dies between refresh and persist."""

    def __init__(self) -> None:
        super().__init__()
        self.crash = False

    async def save(self, connection_id: str, tokens: OAuthTokens) -> None:
        if self.crash:
            raise ConnectionError("database went away")
        await super().save(connection_id, tokens)


async def test_crash_between_refresh_and_persist_recovers_within_grace(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    store = CrashingStore()
    old = await authorised(fake, store)
    clock.advance(3600)
    store.crash = True
    crashed = make_client(auth=oauth(fake, store))
    with pytest.raises(ConnectionError):
        await crashed.get_organization()
    # Qonto rotated (the old refresh token is now "used"), but the new pair was never
    # stored, and never used: no API call went out with it.
    assert fake.token_calls == 1
    assert [r.url.path for r in fake.requests] == ["/oauth2/token"]
    assert (await store.load("default")).same_as(old)  # type: ignore[union-attr]

    # The next process starts 30 s later, within Qonto's 60 s grace: it recovers.
    clock.advance(30)
    store.crash = False
    recovered = make_client(auth=oauth(fake, store))
    org = await recovered.get_organization()
    assert org["id"] == "org-1"
    new = await store.load("default")
    assert new is not None
    assert not new.same_as(old)
    assert bearer(fake.requests[-1]) == f"Bearer {new.access_token.get_secret_value()}"


async def test_after_the_grace_the_old_refresh_token_is_dead(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    store = CrashingStore()
    await authorised(fake, store)
    clock.advance(3600)
    store.crash = True
    with pytest.raises(ConnectionError):
        await make_client(auth=oauth(fake, store)).get_organization()
    clock.advance(61)
    store.crash = False
    with pytest.raises(QontoOAuthError) as info:
        await make_client(auth=oauth(fake, store)).get_organization()
    assert info.value.oauth_error == "invalid_grant"
    assert isinstance(info.value, QontoAuthError)


class RecordingStore(InMemoryTokenStore):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    async def save(self, connection_id: str, tokens: OAuthTokens) -> None:
        self.events.append("save " + tokens.access_token.get_secret_value())
        await super().save(connection_id, tokens)


async def test_new_pair_is_persisted_before_it_is_used(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    events: list[str] = []
    store = RecordingStore(events)
    await authorised(fake, store)
    events.clear()
    clock.advance(3600)

    original = fake.handle

    def spy(request):  # type: ignore[no-untyped-def]
        if request.url.path == "/oauth2/token":
            events.append("token call")
        else:
            events.append("use " + request.headers["authorization"].removeprefix("Bearer "))
        return original(request)

    fake.handle = spy  # type: ignore[method-assign]
    await make_client(auth=oauth(fake, store)).get_organization()
    assert len(events) == 3
    assert events[0] == "token call"
    assert events[1].startswith("save ")
    assert events[2] == "use " + events[1].removeprefix("save ")


async def test_two_processes_share_the_store_and_do_not_double_rotate(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    store = InMemoryTokenStore()
    await authorised(fake, store)
    a = make_client(auth=oauth(fake, store))
    b = make_client(auth=oauth(fake, store))
    await a.get_organization()
    await b.get_organization()
    clock.advance(3600)
    await a.get_organization()  # A refreshes and stores
    await b.get_organization()  # B finds A's fresh pair in the store
    assert fake.token_calls == 1


async def test_401_reloads_a_newer_pair_from_the_store_once(
    fake: FakeQonto, clock: FakeClock, make_client: MakeClient
) -> None:
    store = InMemoryTokenStore()
    await authorised(fake, store)
    auth = oauth(fake, store)
    client = make_client(auth=auth)
    await client.get_organization()
    # Another process re-authorised the connection; our token was revoked.
    fake.access.clear()
    await authorised(fake, store)
    await client.get_organization()
    assert [r.url.path for r in fake.requests[-2:]] == ["/v2/organization"] * 2
    # Nothing newer in the store: the 401 surfaces (no loop, no forced refresh).
    fake.access.clear()
    with pytest.raises(QontoAuthError):
        await client.get_organization()
    assert fake.token_calls == 0


async def test_no_tokens_is_a_clear_error(fake: FakeQonto, make_client: MakeClient) -> None:
    with pytest.raises(QontoAuthError, match="authorization-code flow"):
        await make_client(auth=oauth(fake, InMemoryTokenStore())).get_organization()


async def test_exchange_code_stores_the_pair(fake: FakeQonto) -> None:
    store = InMemoryTokenStore()
    auth = oauth(fake, store)
    import httpx

    async with httpx.AsyncClient(transport=fake.transport()) as http:
        tokens = await auth.exchange_code("the-code", "https://app.test/callback", http)
    form = parse_qs(fake.requests[-1].content.decode())
    assert form["grant_type"] == ["authorization_code"]
    assert form["code"] == ["the-code"]
    assert form["redirect_uri"] == ["https://app.test/callback"]
    assert (await store.load("default")).same_as(tokens)  # type: ignore[union-attr]
    assert tokens.scopes == {"organization.read", "offline_access"}
    assert tokens.expires_at - tokens.obtained_at == timedelta(hours=1)


def test_authorize_url() -> None:
    url = build_authorize_url(
        client_id="cid",
        redirect_uri="https://app.test/cb",
        state="s-123",
        scopes=["organization.read", "client_invoices.read", "offline_access"],
        environment="sandbox",
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://oauth-sandbox.staging.qonto.co/oauth2/auth"
    )
    q = parse_qs(parts.query)
    assert q == {
        "client_id": ["cid"],
        "redirect_uri": ["https://app.test/cb"],
        "response_type": ["code"],
        "scope": ["organization.read client_invoices.read offline_access"],
        "state": ["s-123"],
    }
    assert build_authorize_url(client_id="c", redirect_uri="r", state="s").startswith(
        "https://oauth.qonto.com/oauth2/auth?"
    )
    with pytest.raises(ValueError):
        build_authorize_url(client_id="c", redirect_uri="r", state="")


def settings(**env: str) -> QontoSettings:
    return QontoSettings(_env_file=None, **env)  # type: ignore[call-arg,arg-type]


async def test_from_settings_production_sandbox_and_override() -> None:
    prod = QontoClient.from_settings(
        settings(QONTO_ORGANIZATION_ID=LOGIN, QONTO_API_KEY=SECRET_KEY, QONTO_STAGING_TOKEN="st")
    )
    assert prod.base_url == "https://thirdparty.qonto.com"
    assert "x-qonto-staging-token" not in prod.http.headers  # refused in production
    assert isinstance(prod.auth, ApiKeyAuth)
    assert prod.auth.login == LOGIN
    await prod.aclose()

    sandbox = QontoClient.from_settings(
        settings(
            QONTO_ENVIRONMENT="sandbox",
            QONTO_SANDBOX_ORGANIZATION_ID="sb-login",
            QONTO_SANDBOX_API_KEY="sb-key",
            QONTO_STAGING_TOKEN="st",
        )
    )
    assert sandbox.base_url == "https://thirdparty-sandbox.staging.qonto.co"
    assert sandbox.http.headers["x-qonto-staging-token"] == "st"
    assert isinstance(sandbox.auth, ApiKeyAuth)
    assert sandbox.auth.login == "sb-login"
    await sandbox.aclose()

    store = InMemoryTokenStore()
    emulated = QontoClient.from_settings(
        settings(
            QONTO_API_BASE_URL="http://127.0.0.1:9999/",
            QONTO_CLIENT_ID="cid",
            QONTO_CLIENT_SECRET="csecret",
        ),
        token_store=store,
        connection_id="acme",
    )
    assert emulated.base_url == "http://127.0.0.1:9999"
    assert isinstance(emulated.auth, OAuthAuth)
    assert emulated.auth.token_url == "http://127.0.0.1:9999/oauth2/token"
    assert emulated.auth.connection_id == "acme"
    assert emulated.connection_id == "acme"
    await emulated.aclose()

    # A QONTO_API_KEY holding the whole "<login>:<secret>" header value is accepted too.
    whole = QontoClient.from_settings(
        settings(QONTO_ORGANIZATION_ID="org-uuid", QONTO_API_KEY=f"{LOGIN}:{SECRET_KEY}")
    )
    assert isinstance(whole.auth, ApiKeyAuth)
    assert await whole.auth.headers(whole.http) == {"Authorization": f"{LOGIN}:{SECRET_KEY}"}
    await whole.aclose()

    with pytest.raises(ValueError, match="no Qonto credentials"):
        QontoClient.from_settings(settings())


async def test_secrets_never_logged(
    fake: FakeQonto,
    clock: FakeClock,
    make_client: MakeClient,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = InMemoryTokenStore()
    await authorised(fake, store)
    clock.advance(3600)
    from .fakes import qonto_error

    fake.script.append(qonto_error(500))
    client = make_client(auth=oauth(fake, store), staging_token=SecretStr(STAGING))
    await client.get_organization()
    tokens = await store.load("default")
    assert tokens is not None
    out = capsys.readouterr()
    logs = out.out + out.err + caplog.text
    assert "qonto_request" in logs
    assert "qonto_oauth_refreshed" in logs
    for secret in (
        tokens.access_token.get_secret_value(),
        tokens.refresh_token.get_secret_value(),  # type: ignore[union-attr]
        CLIENT_SECRET,
        STAGING,
    ):
        assert secret not in logs
    assert tokens.access_token.get_secret_value() not in repr(tokens)


def test_the_token_path_is_configurable() -> None:
    """Qonto's guides show ``/oauth2/token``; the newer API reference ``/v2/oauth2/token``
    (docs: authentication/oauth2/create_tokens): ``QONTO_OAUTH_TOKEN_PATH`` picks one."""
    oauth = {"QONTO_CLIENT_ID": "cid", "QONTO_CLIENT_SECRET": "csecret"}
    default = QontoClient.from_settings(settings(**oauth), token_store=InMemoryTokenStore())
    v2 = QontoClient.from_settings(
        settings(**oauth, QONTO_OAUTH_TOKEN_PATH="/v2/oauth2/token"),
        token_store=InMemoryTokenStore(),
    )
    assert isinstance(default.auth, OAuthAuth)
    assert isinstance(v2.auth, OAuthAuth)
    assert default.auth.token_url == "https://oauth.qonto.com/oauth2/token"
    assert v2.auth.token_url == "https://oauth.qonto.com/v2/oauth2/token"
    with pytest.raises(ValidationError):
        settings(QONTO_OAUTH_TOKEN_PATH="v2/oauth2/token")  # not a path
    with pytest.raises(ValidationError):
        settings(QONTO_OAUTH_TOKEN_PATH="/oauth2/token?x=1")
