"""Settings shared by every service: one pydantic-settings class per service extends these.

Variable names are the ones in ``shared/architecture.md``; the Qonto ones are those a Qonto
user already has in ``.env.local`` from Qonto's setup guide. ``.env`` and ``.env.local``
are read; secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qrecon.common.encryption import TokenCipher
from qrecon.common.topics import Topics

QONTO_PRODUCTION_API = "https://thirdparty.qonto.com"
QONTO_SANDBOX_API = "https://thirdparty-sandbox.staging.qonto.co"
QONTO_PRODUCTION_OAUTH = "https://oauth.qonto.com"
QONTO_SANDBOX_OAUTH = "https://oauth-sandbox.staging.qonto.co"

ENV_FILES = (".env", ".env.local")


def qonto_api_base_url(environment: str, override: str | None = None) -> str:
    """Qonto's API host for ``environment``, unless overridden (the emulator)."""
    if override:
        return override.rstrip("/")
    return QONTO_SANDBOX_API if environment == "sandbox" else QONTO_PRODUCTION_API


def qonto_oauth_base_url(
    environment: str, override: str | None = None, api_override: str | None = None
) -> str:
    """Qonto's OAuth host; an overridden API host (an emulator) serves OAuth too."""
    if override:
        return override.rstrip("/")
    if api_override:
        return api_override.rstrip("/")
    return QONTO_SANDBOX_OAUTH if environment == "sandbox" else QONTO_PRODUCTION_OAUTH


#: Where the token endpoint is on the OAuth host. Qonto's guides show ``/oauth2/token`` on
#: ``oauth.qonto.com``; the newer API reference also shows ``/v2/oauth2/token``.
DEFAULT_OAUTH_TOKEN_PATH = "/oauth2/token"  # noqa: S105 (a path, not a secret)


def qonto_oauth_token_url(oauth_base_url: str, token_path: str | None = None) -> str:
    """The token endpoint: the OAuth host and ``token_path`` (``/oauth2/token`` when unset)."""
    path = token_path or DEFAULT_OAUTH_TOKEN_PATH
    if not path.startswith("/"):
        raise ValueError(f"an OAuth token path starts with '/', got {path!r}")
    return f"{oauth_base_url.rstrip('/')}{path}"


class QontoSettings(BaseSettings):
    """How to reach Qonto for the default connection."""

    model_config = SettingsConfigDict(env_file=ENV_FILES, extra="ignore", populate_by_name=True)

    organization_id: str | None = Field(None, alias="QONTO_ORGANIZATION_ID")
    api_key: SecretStr | None = Field(None, alias="QONTO_API_KEY")
    webhook_secret: SecretStr | None = Field(None, alias="QONTO_WEBHOOK_SECRET")
    environment: Literal["production", "sandbox"] = Field("production", alias="QONTO_ENVIRONMENT")
    sandbox_organization_id: str | None = Field(None, alias="QONTO_SANDBOX_ORGANIZATION_ID")
    sandbox_api_key: SecretStr | None = Field(None, alias="QONTO_SANDBOX_API_KEY")
    staging_token: SecretStr | None = Field(None, alias="QONTO_STAGING_TOKEN")
    api_base_url: str | None = Field(None, alias="QONTO_API_BASE_URL")
    oauth_base_url: str | None = Field(None, alias="QONTO_OAUTH_BASE_URL")
    oauth_token_path: str = Field(
        DEFAULT_OAUTH_TOKEN_PATH, pattern=r"^/[^?#\s]*$", alias="QONTO_OAUTH_TOKEN_PATH"
    )
    client_id: str | None = Field(None, alias="QONTO_CLIENT_ID")
    client_secret: SecretStr | None = Field(None, alias="QONTO_CLIENT_SECRET")
    # Fernet keys (comma-separated, the first encrypts) for the OAuth tokens at rest.
    token_encryption_keys: SecretStr | None = Field(None, alias="QONTO_TOKEN_ENCRYPTION_KEYS")

    def token_cipher(self) -> TokenCipher | None:
        """How OAuth tokens are encrypted in PostgreSQL (None: stored in clear).

        Raises ValueError for a malformed key, naming its position, never its value (a
        pydantic validator would echo the input in its error).
        """
        if self.token_encryption_keys is None or not self.token_encryption_keys.get_secret_value():
            return None
        return TokenCipher.from_setting(self.token_encryption_keys.get_secret_value())

    @property
    def is_sandbox(self) -> bool:
        return self.environment == "sandbox"

    @property
    def effective_organization_id(self) -> str | None:
        if self.is_sandbox:
            return self.sandbox_organization_id or self.organization_id
        return self.organization_id

    @property
    def effective_api_key(self) -> SecretStr | None:
        if self.is_sandbox:
            return self.sandbox_api_key or self.api_key
        return self.api_key

    @property
    def effective_api_base_url(self) -> str:
        return qonto_api_base_url(self.environment, self.api_base_url)

    @property
    def effective_oauth_base_url(self) -> str:
        return qonto_oauth_base_url(self.environment, self.oauth_base_url, self.api_base_url)

    @property
    def oauth_token_url(self) -> str:
        """The token endpoint (``QONTO_OAUTH_BASE_URL`` + ``QONTO_OAUTH_TOKEN_PATH``)."""
        return qonto_oauth_token_url(self.effective_oauth_base_url, self.oauth_token_path)


class HttpServerSettings(BaseSettings):
    """Limits of every HTTP server (services and emulator), see ``qrecon.common.http_server``.

    Slow clients are cut off: the headers of a request must arrive within the header
    timeout, its body within the body timeout (else 408); past the connection limit a
    request gets 503.
    """

    model_config = SettingsConfigDict(env_file=ENV_FILES, extra="ignore", populate_by_name=True)

    http_header_timeout_seconds: float = Field(
        10.0, gt=0, validation_alias=AliasChoices("HTTP_HEADER_TIMEOUT_SECONDS")
    )
    http_body_timeout_seconds: float = Field(
        30.0, gt=0, validation_alias=AliasChoices("HTTP_BODY_TIMEOUT_SECONDS")
    )
    http_keep_alive_seconds: float = Field(
        5.0, gt=0, validation_alias=AliasChoices("HTTP_KEEP_ALIVE_SECONDS")
    )
    http_max_connections: int = Field(
        1000, ge=1, validation_alias=AliasChoices("HTTP_MAX_CONNECTIONS")
    )


class ServiceSettings(HttpServerSettings):
    """Infrastructure every service needs."""

    model_config = SettingsConfigDict(env_file=ENV_FILES, extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    database_url: SecretStr = Field(
        SecretStr("postgresql://qrecon:qrecon@127.0.0.1:15432/qrecon"),
        validation_alias=AliasChoices("DATABASE_URL"),
    )
    kafka_topic_prefix: str = Field("", validation_alias=AliasChoices("KAFKA_TOPIC_PREFIX"))
    # Kafka outside a trusted network: SASL (SCRAM by default), over TLS with SASL_SSL.
    # qrecon.common.kafka.kafka_security turns these into the client's options.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL")
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", validation_alias=AliasChoices("KAFKA_SASL_MECHANISM")
    )
    kafka_sasl_username: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SASL_USERNAME")
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SASL_PASSWORD")
    )
    # CA bundle that signed the brokers' certificates (SASL_SSL); unset: the system's CAs.
    kafka_ssl_cafile: str | None = Field(None, validation_alias=AliasChoices("KAFKA_SSL_CAFILE"))
    log_level: str = Field("INFO", validation_alias=AliasChoices("LOG_LEVEL"))
    log_format: Literal["json", "console"] = Field(
        "json", validation_alias=AliasChoices("LOG_FORMAT")
    )

    @model_validator(mode="after")
    def _sasl_credentials(self) -> ServiceSettings:
        """SASL without credentials would fail at the first connection, far from the cause."""
        if self.kafka_security_protocol.startswith("SASL_"):
            missing = [
                name
                for name, value in (
                    ("KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                    ("KAFKA_SASL_PASSWORD", self.kafka_sasl_password),
                )
                if not value
            ]
            if missing:
                protocol = self.kafka_security_protocol
                raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}")
        return self

    @property
    def topics(self) -> Topics:
        return Topics(self.kafka_topic_prefix)
