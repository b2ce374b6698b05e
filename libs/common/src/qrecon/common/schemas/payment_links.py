"""``v1/payment-links`` webhooks as ``qonto.events.v1`` carries them (typed view, additive).

Qonto's documented payload (docs: supported-webhooks, v1/payment-links; fixture
``tests/fixtures/qonto/webhook_payment_links.json``): the envelope of every webhook (``id``,
``type``, ``organization_id``, ...) and ``data`` with ``event`` (``created``, ``updated``),
``status`` (``open``, ``paid``, ``expired``, ``canceled``, ...), ``payment_link_id`` (no
``data.id``), ``amount: {value, currency}`` (a decimal string), ``potential_payment_methods``,
``resource_type`` (``Invoice``), ``resource_id`` (the client invoice's id),
``resource_metadata: {invoice_number}``, ``expired_at``, ``created_at``, ``updated_at``.

A link's version is its ``data.updated_at``. Unknown fields are kept; text is made safe
here once (ids, no control characters), the amount becomes cents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from qrecon.common.money import MAX_ABS_CENTS, to_cents
from qrecon.common.schemas.text import NO_CONTROL_CHARACTERS, Id
from qrecon.common.timeutil import ensure_aware

PAYMENT_LINKS_TYPE = "v1/payment-links"
# Short text from outside: no control character, bounded.
SafeText = Annotated[str, StringConstraints(max_length=255), NO_CONTROL_CHARACTERS]


class PaymentLinkAmount(BaseModel):
    model_config = ConfigDict(extra="allow")

    value: str | int | float
    currency: str = Field(min_length=3, max_length=3, pattern=r"^[A-Za-z]{3}$")

    @property
    def cents(self) -> int:
        return to_cents(self.value)

    @field_validator("value")
    @classmethod
    def _readable(cls, value: str | int | float) -> str | int | float:
        cents = to_cents(value)  # raises a ValueError: not an amount
        if not 0 < cents <= MAX_ABS_CENTS:
            raise ValueError("a payment link's amount is positive")
        return value


class PaymentLinkData(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: SafeText | None = None
    status: SafeText
    payment_link_id: Id
    amount: PaymentLinkAmount
    resource_type: SafeText | None = None
    resource_id: Id | None = None
    resource_metadata: dict[str, Any] = {}
    potential_payment_methods: list[SafeText] = []
    created_at: datetime | None = None
    updated_at: datetime
    expired_at: datetime | None = None

    @field_validator("created_at", "updated_at", "expired_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else ensure_aware(value)

    @property
    def invoice_number(self) -> str | None:
        number = self.resource_metadata.get("invoice_number")
        return number if isinstance(number, str) and number else None


class PaymentLinkEvent(BaseModel):
    """One ``v1/payment-links`` webhook (the envelope and a typed ``data``)."""

    model_config = ConfigDict(extra="allow")

    id: Id
    type: Literal["v1/payment-links"]
    organization_id: Id | None = None  # always sent by Qonto; else the reader's default
    created_at: datetime | None = None
    subscription_id: Id | None = None
    data: PaymentLinkData

    @property
    def invoice_id(self) -> str | None:
        """The client invoice the link is for (``resource_type`` Invoice), else None."""
        kind = (self.data.resource_type or "Invoice").lower()
        return self.data.resource_id if kind == "invoice" else None
