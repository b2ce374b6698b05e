"""KAFKA_SECURITY_PROTOCOL and friends, as the Kafka clients receive them."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from qrecon.common.kafka import kafka_security, make_broker, security_options
from qrecon.common.settings import ServiceSettings

CREDENTIALS = {"KAFKA_SASL_USERNAME": "qrecon", "KAFKA_SASL_PASSWORD": "s3cret"}


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ServiceSettings:
    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SSL_CAFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ServiceSettings(_env_file=None)  # type: ignore[call-arg]


def test_plaintext_by_default_adds_no_option(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = settings(monkeypatch)
    assert kafka_security(plain) is None
    assert security_options(plain) == {}


def test_sasl_plaintext_is_scram_sha_512_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    options = security_options(
        settings(monkeypatch, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", **CREDENTIALS)
    )
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "qrecon"
    assert options["sasl_plain_password"] == "s3cret"
    assert options["ssl_context"] is None


def test_another_mechanism_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    options = security_options(
        settings(
            monkeypatch,
            KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
            KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
            **CREDENTIALS,
        )
    )
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"


def test_sasl_ssl_verifies_the_brokers_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    options = security_options(
        settings(monkeypatch, KAFKA_SECURITY_PROTOCOL="SASL_SSL", **CREDENTIALS)
    )
    assert options["security_protocol"] == "SASL_SSL"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_sasl_ssl_reads_the_configured_ca_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = f"{tmp_path}/no-such-ca.pem"
    with pytest.raises(FileNotFoundError):
        kafka_security(
            settings(
                monkeypatch,
                KAFKA_SECURITY_PROTOCOL="SASL_SSL",
                KAFKA_SSL_CAFILE=missing,
                **CREDENTIALS,
            )
        )


@pytest.mark.parametrize("missing", sorted(CREDENTIALS))
def test_sasl_without_credentials_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing, raising=False)
    given = {k: v for k, v in CREDENTIALS.items() if k != missing}
    with pytest.raises(ValidationError, match=missing):
        settings(monkeypatch, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", **given)


def test_the_password_never_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    secure = settings(monkeypatch, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", **CREDENTIALS)
    assert "s3cret" not in repr(secure)
    assert "s3cret" not in str(secure.model_dump())


def test_the_broker_builds_its_clients_with_those_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secure = settings(monkeypatch, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", **CREDENTIALS)
    broker = make_broker("127.0.0.1:1", client_id="t", security=kafka_security(secure))
    # FastStream keeps the aiokafka keyword arguments of the clients it creates here.
    built = broker.config.broker_config.builder.keywords  # type: ignore[attr-defined]
    assert built.items() >= security_options(secure).items()
