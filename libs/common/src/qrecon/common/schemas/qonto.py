"""The Qonto transaction, as the REST API and the webhooks send it, normalised.

Qonto's documentation and its live answers drift, and the webhook payload differs from
the REST one (amounts as numbers or strings and no ``amount_cents``; a ``bank_account``
object instead of ``bank_account_id``; ``subject_type`` capitalised). Both variants
normalise to this one model:

* every field Qonto sends is kept, known or not (``extra="allow"``);
* money is integer cents (``amount_cents``, ``local_amount_cents``, ...), derived exactly
  from the decimal amount when the cents are missing; ``amount`` is kept as a Decimal;
* timestamps are timezone-aware UTC;
* amounts are bounded (:data:`~qrecon.common.money.MAX_ABS_CENTS`), the id is an
  :data:`~qrecon.common.schemas.text.Id`, NUL is removed from every other string and a
  non-finite number is refused (:func:`~qrecon.common.schemas.text.clean_document`);
* ``subject_type`` is snake_case (``Transfer`` -> ``transfer``,
  ``DirectDebit`` -> ``direct_debit``), the name of the nested counterparty object.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from qrecon.common.money import check_cents, from_cents, parse_decimal_amount, to_cents
from qrecon.common.schemas.text import Id, clean_document
from qrecon.common.timeutil import ensure_aware

# The statuses Qonto documents. Others are accepted and kept (its docs and live answers
# drift, and a reversal status has been seen in clients): consumers treat any status other
# than "completed" as not settled, so an unknown one is never auto-matched.
KNOWN_STATUSES = ("pending", "declined", "completed")
Side = Literal["credit", "debit"]

# (major-unit field, cents field) pairs Qonto uses.
_MONEY_FIELDS = (
    ("amount", "amount_cents"),
    ("local_amount", "local_amount_cents"),
    ("settled_balance", "settled_balance_cents"),
    ("vat_amount", "vat_amount_cents"),
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_subject_type(value: str) -> str:
    """``DirectDebitCollection`` -> ``direct_debit_collection``; snake input is unchanged."""
    return _CAMEL_BOUNDARY.sub("_", value.strip()).lower()


def _normalise_money(data: dict[str, Any]) -> None:
    for major, cents in _MONEY_FIELDS:
        raw_cents = data.get(cents)
        raw_major = data.get(major)
        if raw_cents is not None and not isinstance(raw_cents, bool):
            data[cents] = check_cents(raw_cents)
            if raw_major is None:
                data[major] = from_cents(data[cents])
            else:
                data[major] = parse_decimal_amount(raw_major)
        elif raw_major is not None:
            data[cents] = to_cents(raw_major)
            data[major] = parse_decimal_amount(raw_major)


class QontoTransaction(BaseModel):
    """A Qonto transaction (REST ``/v2/transactions`` item or webhook ``data``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: Id
    transaction_id: str | None = None
    amount: Decimal | None = None
    amount_cents: int
    local_amount: Decimal | None = None
    local_amount_cents: int | None = None
    currency: str = "EUR"
    local_currency: str | None = None
    settled_balance: Decimal | None = None
    settled_balance_cents: int | None = None
    side: Side
    operation_type: str | None = None
    status: str = "completed"
    label: str | None = None
    clean_counterparty_name: str | None = None
    reference: str | None = None
    note: str | None = None
    category: str | None = None
    settled_at: datetime | None = None
    emitted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime
    vat_amount: Decimal | None = None
    vat_amount_cents: int | None = None
    vat_rate: Decimal | None = None
    initiator_id: str | None = None
    label_ids: list[str] = []
    attachment_ids: list[str] = []
    attachment_lost: bool | None = None
    attachment_required: bool | None = None
    card_last_digits: str | None = None
    subject_type: str | None = None
    bank_account_id: str | None = None
    is_external_transaction: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise_variants(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        data = clean_document(raw)
        if "id" in raw:
            data["id"] = raw["id"]  # an id is refused (Id), never silently changed
        _normalise_money(data)
        if data.get("local_amount_cents") is None and data.get("amount_cents") is not None:
            data["local_amount_cents"] = data["amount_cents"]
            data.setdefault("local_amount", data.get("amount"))
        if data.get("local_currency") is None and data.get("currency") is not None:
            data["local_currency"] = data["currency"]
        bank_account = data.get("bank_account")
        if data.get("bank_account_id") is None and isinstance(bank_account, dict):
            data["bank_account_id"] = bank_account.get("id")
        if isinstance(data.get("subject_type"), str):
            data["subject_type"] = snake_subject_type(data["subject_type"])
        for key in ("side", "status"):
            if isinstance(data.get(key), str):
                data[key] = data[key].strip().lower()
        return data

    @field_validator("settled_at", "emitted_at", "created_at", "updated_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else ensure_aware(value)

    @property
    def is_completed(self) -> bool:
        return self.status == "completed"

    @property
    def version(self) -> datetime:
        """A transaction's version is its ``updated_at``."""
        return self.updated_at

    @property
    def signed_amount_cents(self) -> int:
        """Positive for money in, negative for money out."""
        return self.amount_cents if self.side == "credit" else -self.amount_cents

    @property
    def counterparty(self) -> dict[str, Any]:
        """The nested object named after the subject (``transfer``, ``income``, ...), if any."""
        if self.subject_type and self.model_extra:
            nested = self.model_extra.get(self.subject_type)
            if isinstance(nested, dict):
                return nested
        return {}
