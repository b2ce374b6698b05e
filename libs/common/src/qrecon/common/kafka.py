"""Kafka through FastStream on aiokafka, configured for no loss.

* Producer: idempotent, ``acks=all``; a publish returns once the broker has the record.
* Consumers: no auto-commit; ``AckPolicy.NACK_ON_ERROR``: the offset is committed after the
  handler returns, and when it raises the consumer seeks back so the message is delivered
  again. (``AckPolicy.ACK`` would commit even after an exception, i.e. lose the message.)
  A crash re-delivers what was not committed; handlers are idempotent (versions, event
  ids) to make that harmless, and send poison messages to ``<topic>.dlq`` themselves after
  bounded retries so a partition never blocks.
"""

from __future__ import annotations

import json
import logging
import ssl
import struct
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import BaseModel

from qrecon.common import topics
from qrecon.common.schemas.events import SCHEMA_VERSION
from qrecon.common.settings import ServiceSettings

# How long a stopping broker waits for the handlers in flight (compose's stop_grace_period
# must exceed it plus each service's own drain; tests/deploy checks).
GRACEFUL_TIMEOUT_SECONDS = 30.0

_SASL = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}


def kafka_security(settings: ServiceSettings) -> BaseSecurity | None:
    """The KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_CAFILE settings as FastStream's
    ``security`` (None: PLAINTEXT); ``make_broker(..., security=kafka_security(settings))``."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    # The settings' validator has made sure both are set for a SASL protocol.
    assert settings.kafka_sasl_username
    assert settings.kafka_sasl_password
    context = (
        ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        if protocol == "SASL_SSL"
        else None
    )
    return _SASL[settings.kafka_sasl_mechanism](
        settings.kafka_sasl_username,
        settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=protocol == "SASL_SSL",
    )


def security_options(settings: ServiceSettings) -> dict[str, Any]:
    """The same settings as keyword arguments of aiokafka's clients (AIOKafkaConsumer, ...),
    through FastStream's own translation so the two never disagree."""
    return parse_security(kafka_security(settings))


def make_broker(
    bootstrap_servers: str,
    *,
    client_id: str,
    security: BaseSecurity | None = None,
    **kwargs: Any,
) -> KafkaBroker:
    """Idempotent producer with ``acks=all``; subscribers acknowledge explicitly."""
    options: dict[str, Any] = {
        "client_id": client_id,
        "enable_idempotence": True,
        "acks": "all",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "security": security,
        # A plain stdlib logger: FastStream's default one prints its own text lines to
        # stdout instead of propagating to the JSON handler of qrecon.common.logging.
        "logger": logging.getLogger("faststream.kafka"),
    }
    options.update(kwargs)
    return KafkaBroker(bootstrap_servers, **options)


def encode(model: BaseModel) -> bytes:
    """JSON (UTF-8) value of an event model."""
    return model.model_dump_json().encode()


def headers_for(event_id: str, event_type: str) -> dict[str, str]:
    return {
        topics.HEADER_EVENT_ID: event_id,
        topics.HEADER_EVENT_TYPE: event_type,
        topics.HEADER_SCHEMA_VERSION: SCHEMA_VERSION,
        "content-type": "application/json",
    }


async def publish_event(
    broker: KafkaBroker,
    topic: str,
    *,
    key: str,
    value: bytes | BaseModel | dict[str, Any],
    event_id: str,
    event_type: str,
) -> None:
    """Publish one event and wait for the broker's acknowledgement."""
    if isinstance(value, BaseModel):
        body = encode(value)
    elif isinstance(value, dict):
        body = json.dumps(value, separators=(",", ":"), default=str).encode()
    else:
        body = value
    await broker.publish(
        body,
        topic,
        key=key.encode(),
        headers=headers_for(event_id, event_type),
    )


_MURMUR_M = 0x5BD1E995
_U32 = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of a key (``org.apache.kafka.common.utils.Utils.murmur2``).

    The same function as aiokafka's ``partitioner.murmur2``, twice as fast (the words are
    unpacked at once): the outbox relays hash every record they publish.
    """
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _MURMUR_M) & _U32
        k ^= k >> 24
        k = (k * _MURMUR_M) & _U32
        h = ((h * _MURMUR_M) & _U32) ^ k
    tail = length & 3
    if tail:
        i = words << 2
        if tail >= 3:
            h ^= data[i + 2] << 16
        if tail >= 2:
            h ^= data[i + 1] << 8
        h = ((h ^ data[i]) * _MURMUR_M) & _U32
    h ^= h >> 13
    h = (h * _MURMUR_M) & _U32
    return h ^ (h >> 15)


def default_partition(key: bytes, partitions: list[int]) -> int:
    """The partition Kafka's default partitioner gives a keyed record (``partitions`` sorted)."""
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
