"""From a verified webhook body to the one Kafka record it becomes (pure: no I/O).

Routing (``shared/architecture.md``):

* ``type == "v1/transactions"`` → ``qonto.transactions.v1``, keyed by the transaction UUID
  (``data.id``), value a :class:`~qrecon.common.schemas.TransactionEvent` with
  ``source="webhook"``, ``event_id`` = the webhook event id, the connection, the
  organization (the envelope's, else the connection's), ``observed_at`` = when ingest
  received it, and the transaction parsed leniently by
  :class:`~qrecon.common.schemas.QontoTransaction` (every Qonto field kept, money in
  cents). The webhook's ``data.event`` (``created`` / ``updated``) is not a transaction
  field: it moves out of the transaction into an extra ``webhook`` object, with the
  envelope's ``type``, ``subscription_id``, ``membership_id`` and ``created_at``.
* any other type → ``qonto.events.v1``, keyed by the resource id (``data.id``, else the
  event id), value the envelope **byte for byte as received**. A
  ``v1/consent-revocations`` (a user revoked the app's access) has no ``data.id``: it is
  keyed by the organization (the envelope's, else the connection's); sync reads it there
  and stops polling that connection.

Every record carries the headers ``event-id``, ``event-type`` (``qonto.transaction`` for
transactions, the webhook type otherwise), ``schema-version``, ``content-type`` and
``connection-id``.

Bad input raises :class:`PayloadError` (→ HTTP 400) and nothing else:

* ``invalid_json``: not UTF-8 JSON (also JSON nested over 200 levels, lone surrogates);
* ``not_a_qonto_event``: JSON, but not an object with a string ``id`` and ``type`` and an
  object ``data`` (ids are bounded: at most 255 printable characters);
* ``invalid_transaction``: a ``v1/transactions`` event whose ``data`` is not a
  transaction (no UUID, no amount, unknown side, unreadable ``updated_at``, an amount
  out of range, a number JSON reads as infinity such as ``1e999999``, an id with a control
  character: the schemas decide, see :mod:`qrecon.common.schemas.text` and
  :mod:`qrecon.common.money`; a NUL in free text is removed there, not refused). The
  signature was right, so this is Qonto's payload drifting from what we parse: a 400
  makes Qonto keep retrying it for days, and the operator is alerted by the
  ``ingest_webhooks_rejected_total{reason="invalid_transaction"}`` metric and a warning
  log naming the event id; the sync service's polling also fetches the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_core import from_json

from qrecon.common import topics as topic_names
from qrecon.common.kafka import headers_for
from qrecon.common.schemas import QontoTransaction, TransactionEvent, webhook_resource_id

TRANSACTIONS_TYPE = "v1/transactions"
CONSENT_REVOCATIONS_TYPE = "v1/consent-revocations"
MAX_ID_LENGTH = 255
HEADER_CONNECTION_ID = "connection-id"

TopicKind = Literal["transactions", "events"]


class PayloadError(Exception):
    """A verified body that is not a usable Qonto event (HTTP 400)."""

    INVALID_JSON = "invalid_json"
    NOT_AN_EVENT = "not_a_qonto_event"
    INVALID_TRANSACTION = "invalid_transaction"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Routed:
    """The Kafka record a webhook becomes (the topic is named by kind, prefixed later)."""

    event_id: str
    event_type: str  # the webhook's type, e.g. "v1/transactions"
    topic_kind: TopicKind
    key: str
    value: bytes
    headers: dict[str, str]

    def topic(self, transactions_topic: str, events_topic: str) -> str:
        return transactions_topic if self.topic_kind == "transactions" else events_topic

    @property
    def record_bytes(self) -> int:
        """An upper estimate of the Kafka record's size (key, value, headers, framing)."""
        headers = sum(len(k) + len(v.encode()) + 10 for k, v in self.headers.items())
        return len(self.key.encode()) + len(self.value) + headers + 64


def _safe_id(value: Any, what: str) -> str:
    """Ids become Kafka keys, headers and a unique key in PostgreSQL: printable and short."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(PayloadError.NOT_AN_EVENT, f"{what} is not a string")
    text = str(value)
    if not text or len(text) > MAX_ID_LENGTH or not text.isprintable():
        raise PayloadError(
            PayloadError.NOT_AN_EVENT,
            f"{what} must be 1 to {MAX_ID_LENGTH} printable characters",
        )
    return text


def _load_json(body: bytes) -> Any:
    # pydantic-core's parser: twice as fast as json.loads, bounded nesting (200), and it
    # refuses invalid UTF-8 and lone surrogates that PostgreSQL and Kafka headers would.
    try:
        return from_json(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(PayloadError.INVALID_JSON, "body is not JSON") from exc


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if not errors:
        return "invalid"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "data"
    return f"{where}: {first.get('msg', 'invalid')}"[:300]


def route_webhook(
    body: bytes,
    *,
    connection_id: str,
    observed_at: datetime,
    organization_id: str | None = None,
) -> Routed:
    """Turn a verified webhook body into its Kafka record. Raises :class:`PayloadError`."""
    envelope = _load_json(body)
    if not isinstance(envelope, dict):
        raise PayloadError(PayloadError.NOT_AN_EVENT, "body is not a JSON object")
    event_id = _safe_id(envelope.get("id"), "id")
    raw_type = envelope.get("type")
    if not isinstance(raw_type, str):
        raise PayloadError(PayloadError.NOT_AN_EVENT, "type is not a string")
    event_type = _safe_id(raw_type, "type")
    data = envelope.get("data", {})
    if not isinstance(data, dict):
        raise PayloadError(PayloadError.NOT_AN_EVENT, "data is not an object")
    # Qonto's organisation id (the envelope's; sync reads the same from GET
    # /v2/organization); the connection's configured one stands in when it is missing.
    org = envelope.get("organization_id")
    org_id = org if isinstance(org, str) and org else organization_id

    headers = headers_for(event_id, event_type)
    headers[HEADER_CONNECTION_ID] = connection_id

    if event_type != TRANSACTIONS_TYPE:
        resource = webhook_resource_id(event_type, data, org_id)
        key = event_id if resource is None else _safe_id(resource, "resource id")
        return Routed(event_id, event_type, "events", key, body, headers)

    transaction_data = {k: v for k, v in data.items() if k != "event"}
    webhook: dict[str, Any] = {"type": event_type, "event": data.get("event")}
    for name in ("subscription_id", "membership_id", "created_at"):
        if envelope.get(name) is not None:
            webhook[name] = envelope[name]
    try:
        transaction = QontoTransaction.model_validate(transaction_data)
        # Every field is ours and already valid (the transaction was just validated,
        # observed_at is aware UTC): construct without validating twice.
        event = TransactionEvent.model_construct(
            event_id=event_id,
            source="webhook",
            connection_id=connection_id,
            organization_id=org_id,
            observed_at=observed_at.astimezone(UTC),
            transaction=transaction,
            webhook=webhook,
        )
        value = event.model_dump_json().encode()
    except ValidationError as exc:
        raise PayloadError(PayloadError.INVALID_TRANSACTION, _first_error(exc)) from exc
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
        # money parsing and other normalisations raise plain errors
        raise PayloadError(PayloadError.INVALID_TRANSACTION, str(exc)[:300] or "invalid") from exc
    key = _safe_id(transaction.id, "data.id")
    headers[topic_names.HEADER_EVENT_TYPE] = event.event_type
    return Routed(event_id, event_type, "transactions", key, value, headers)
