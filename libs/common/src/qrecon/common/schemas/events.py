"""Event envelopes carried on the Kafka topics (values are JSON, UTF-8)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from qrecon.common.money import MAX_ABS_CENTS
from qrecon.common.schemas.qonto import QontoTransaction
from qrecon.common.schemas.text import MAX_ID_LENGTH, NO_CONTROL_CHARACTERS, Id, clean_document
from qrecon.common.timeutil import ensure_aware, utcnow

SCHEMA_VERSION = "1"
# An id that may be left empty (then taken from elsewhere, see InvoiceEvent).
OptionalId = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH), NO_CONTROL_CHARACTERS]
# Namespace of the deterministic ids given to versions that no webhook carried.
_POLLED_VERSION_NAMESPACE = uuid.UUID("6f1d2a4e-8f8b-4c59-9a0e-2f7f3c1b9d10")

TransactionSource = Literal["webhook", "poll", "backfill"]


def polled_event_id(transaction_id: str, updated_at: datetime) -> str:
    """Deterministic event id of a transaction version read from the API.

    Two pollers that read the same version produce the same id, so consumers can treat
    it as a duplicate.
    """
    stamp = ensure_aware(updated_at).isoformat()
    return str(uuid.uuid5(_POLLED_VERSION_NAMESPACE, f"{transaction_id}@{stamp}"))


class TransactionEvent(BaseModel):
    """Value of ``qonto.transactions.v1`` (key: the transaction UUID)."""

    model_config = ConfigDict(extra="allow")

    event_type: Literal["qonto.transaction"] = "qonto.transaction"
    event_id: Id
    source: TransactionSource
    connection_id: Id = "default"
    organization_id: Id | None = None
    observed_at: datetime = Field(default_factory=utcnow)
    transaction: QontoTransaction

    @field_validator("observed_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return ensure_aware(value)

    @property
    def key(self) -> str:
        return self.transaction.id

    @property
    def version(self) -> datetime:
        return self.transaction.updated_at


class QontoWebhookEvent(BaseModel):
    """A verified webhook as Qonto sent it (``qonto.events.v1`` carries it as received)."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: str
    created_at: datetime | None = None
    subscription_id: str | None = None
    organization_id: str | None = None
    membership_id: str | None = None
    data: dict[str, Any] = {}

    @property
    def resource_id(self) -> str:
        value = webhook_resource_id(self.type, self.data, self.organization_id)
        return str(value) if value is not None else self.id


# Event types whose ``data`` names its resource other than by ``data.id`` (docs:
# supported-webhooks): a payment link is ``payment_link_id``; a consent revocation revokes
# the app's access to the organization, so the organization is what it is about.
_RESOURCE_FIELD = {"v1/payment-links": "payment_link_id"}
_ORGANIZATION_SCOPED = frozenset({"v1/consent-revocations"})


def webhook_resource_id(
    event_type: str, data: Mapping[str, Any], organization_id: str | None
) -> Any:
    """The id of what a webhook event is about (the key of ``qonto.events.v1``) as sent, or
    None when the event names nothing (then the event's own id stands in). The caller
    checks it is a usable id."""
    value = data.get("id")
    if value is None and event_type in _RESOURCE_FIELD:
        value = data.get(_RESOURCE_FIELD[event_type])
    if value is None and event_type in _ORGANIZATION_SCOPED:
        value = organization_id
    return value


InvoiceKind = Literal["receivable", "payable"]
InvoiceStatus = Literal["open", "paid", "canceled"]


class Invoice(BaseModel):
    """An invoice of the back office (input contract; also the matcher CLI's).

    ``receivable`` is a client invoice (paid by a credit), ``payable`` a supplier invoice
    (paid by a debit). A credit note is an invoice with a negative ``amount_cents``.
    Extra fields are allowed and kept (NUL removed from text, non-finite numbers refused:
    :func:`~qrecon.common.schemas.text.clean_document`); amounts are bounded.
    """

    model_config = ConfigDict(extra="allow")

    id: Id
    number: str
    kind: InvoiceKind
    counterparty_name: str
    counterparty_iban: str | None = None
    amount_cents: int = Field(ge=-MAX_ABS_CENTS, le=MAX_ABS_CENTS)
    currency: str = "EUR"
    issue_date: date
    due_date: date | None = None
    status: InvoiceStatus = "open"
    payment_reference: str | None = None
    # Added after v1 (a new field with a default): the Qonto organisation whose books hold
    # the invoice. None: the deployment's default organisation, when exactly one is
    # configured (the matcher dead-letters it otherwise, never guesses).
    organization_id: Id | None = None

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        data = clean_document(raw)
        if "id" in raw:
            data["id"] = raw["id"]  # an id is refused (Id), never silently changed
        return data

    @field_validator("status", mode="before")
    @classmethod
    def _cancelled_spelling(cls, value: Any) -> Any:
        return "canceled" if value == "cancelled" else value


class InvoiceEvent(BaseModel):
    """Value of ``invoices.v1`` (key: the invoice id): an upsert or a cancellation."""

    model_config = ConfigDict(extra="allow")

    event_type: Literal["invoice.upsert", "invoice.cancel"] = "invoice.upsert"
    event_id: Id = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str = "back_office"
    observed_at: datetime = Field(default_factory=utcnow)
    invoice_id: OptionalId = ""
    invoice: Invoice | None = None
    # Added after v1: the organisation of the invoice (taken from ``invoice`` when only it
    # carries one; the two must agree). None: the deployment's default organisation.
    organization_id: Id | None = None

    @model_validator(mode="after")
    def _consistent(self) -> InvoiceEvent:
        if self.event_type == "invoice.upsert" and self.invoice is None:
            raise ValueError("an invoice.upsert event carries the invoice")
        if self.invoice is not None:
            if self.invoice_id and self.invoice_id != self.invoice.id:
                raise ValueError("invoice_id differs from invoice.id")
            self.invoice_id = self.invoice.id
            inner = self.invoice.organization_id
            if inner is not None and self.organization_id not in (None, inner):
                raise ValueError("organization_id differs from invoice.organization_id")
            self.organization_id = self.organization_id or inner
        if not self.invoice_id:
            raise ValueError("invoice_id is required")
        return self

    @property
    def key(self) -> str:
        return self.invoice_id


MatchStatus = Literal["auto_matched", "suggested", "unmatched", "reverted"]


class Allocation(BaseModel):
    """Part of a payment applied to one invoice. ``amount_cents`` is in the invoice's
    currency: a payment abroad (``local_amount``/``local_currency`` in Qonto) settles a
    foreign-currency invoice in that currency, never in the account's euros."""

    model_config = ConfigDict(extra="allow")

    invoice_id: str
    invoice_number: str
    amount_cents: int


class Alternative(BaseModel):
    """Another reading of the same payment the engine considered (``MatchResult.alternatives``):
    what the review desk shows next to the proposal."""

    model_config = ConfigDict(extra="allow")

    allocations: list[Allocation] = []
    residual_cents: int = 0
    confidence: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = []


MAX_ALTERNATIVES = 3


class MatchResult(BaseModel):
    """Value of ``reconciliation.matches.v1`` (key: the transaction UUID).

    A later result for the same transaction supersedes the earlier one.
    """

    model_config = ConfigDict(extra="allow")

    event_type: Literal["reconciliation.match"] = "reconciliation.match"
    transaction_id: str
    transaction_version: datetime
    status: MatchStatus
    allocations: list[Allocation] = []
    residual_cents: int = 0
    confidence: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = []
    matcher_version: str
    decided_at: datetime = Field(default_factory=utcnow)
    # Added after v1 was published (a new field with a default, per the contract rules):
    # who decided — the engine, or a reviewer through the review API (confirm, manual
    # match, undo, reject). A reviewer's match is published with status auto_matched.
    decided_by: Literal["engine", "review"] = "engine"
    # Added after v1: the organisation of the transaction (and of every invoice allocated:
    # matching never crosses organisations). None only from a matcher that predates it.
    organization_id: str | None = None
    # Added after v1 (a new field with a default): up to MAX_ALTERNATIVES other
    # allocations the engine found credible, best first (empty when there were none).
    alternatives: list[Alternative] = Field(default=[], max_length=MAX_ALTERNATIVES)

    @property
    def key(self) -> str:
        return self.transaction_id
