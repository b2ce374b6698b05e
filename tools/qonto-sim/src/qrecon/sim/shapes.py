"""Qonto's JSON shapes: REST transactions, webhook flavour, invoices, the Invoice contract."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from qrecon.common.money import from_cents, to_cents
from qrecon.sim.clock import format_ts

# operation_type -> REST subject_type (snake case; the webhook capitalises it).
SUBJECT_TYPES: dict[str, str] = {
    "transfer": "transfer",
    "income": "income",
    "swift_income": "swift_income",
    "direct_debit": "direct_debit",
    "direct_debit_collection": "direct_debit_collection",
    "direct_debit_hold": "direct_debit_hold",
    "card": "card",
    "cheque": "check",
    "qonto_fee": "billing_transfer",
    "financing_installment": "financing_installment",
    "pagopa_payment": "pagoda_payment",
    "f24_payment": "f24_payment",
}
# Subjects whose nested object carries the counterparty account.
NESTED_SUBJECTS = frozenset(
    {"transfer", "income", "swift_income", "direct_debit", "direct_debit_collection"}
)

MONEY_FIELDS = (
    ("amount", "amount_cents"),
    ("local_amount", "local_amount_cents"),
    ("settled_balance", "settled_balance_cents"),
    ("vat_amount", "vat_amount_cents"),
)
TIMESTAMP_FIELDS = ("settled_at", "emitted_at", "created_at", "updated_at")
STATUSES = ("pending", "declined", "completed")

AmountFormat = Literal["number", "string", "comma"]
#: ``subject_type`` as documented REST examples show it (``direct_debit``) or as the
#: webhook page and clients' captures of live answers do (``DirectDebit``).
SubjectTypeCase = Literal["camel", "lower"]

# The nested counterparty formats: REST spells them ``IBAN``/``SWIFT_BIC`` (docs:
# list-transactions), the v1/transactions webhook ``iban``/``account_number`` and ``bic``
# (docs: supported-webhooks/v1-transactions).
WEBHOOK_ACCOUNT_FORMATS = {"IBAN": "iban", "ACCOUNT_NUMBER": "account_number"}
WEBHOOK_BANK_FORMATS = {"SWIFT_BIC": "bic", "BIC": "bic"}


def camel_subject_type(value: str) -> str:
    """``direct_debit`` -> ``DirectDebit`` (the webhook's spelling)."""
    return "".join(part.capitalize() for part in value.split("_"))


def subject_type_in(value: str, case: SubjectTypeCase) -> str:
    return camel_subject_type(value) if case == "camel" else value


def webhook_counterparty(nested: dict[str, Any]) -> dict[str, Any]:
    """A REST nested counterparty object with the webhook's format spellings."""
    out = dict(nested)
    account = out.get("counterparty_account_number_format")
    if isinstance(account, str):
        out["counterparty_account_number_format"] = WEBHOOK_ACCOUNT_FORMATS.get(
            account.upper(), account
        )
    bank = out.get("counterparty_bank_identifier_format")
    if isinstance(bank, str):
        out["counterparty_bank_identifier_format"] = WEBHOOK_BANK_FORMATS.get(bank.upper(), bank)
    return out


def cents_to_float(cents: int) -> float:
    return float(from_cents(cents))


def ts_value(value: Any) -> str | None:
    """A timestamp input (datetime or ISO string or None) in Qonto's format."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, str):
        from qrecon.sim.clock import parse_ts

        return format_ts(parse_ts(value))
    raise ValueError(f"not a timestamp: {value!r}")


def date_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return date.fromisoformat(value[:10]).isoformat()
    raise ValueError(f"not a date: {value!r}")


def money_object(cents: int, currency: str = "EUR") -> dict[str, str]:
    """Qonto's invoice money: ``{"value": "12.52", "currency": "EUR"}``."""
    return {"value": f"{from_cents(cents):.2f}", "currency": currency}


def format_amount(cents: int, fmt: AmountFormat) -> float | str:
    if fmt == "string":
        return f"{from_cents(cents):.2f}"
    if fmt == "comma":
        return f"{from_cents(cents):.2f}".replace(".", ",")
    return cents_to_float(cents)


def webhook_data(
    tx: dict[str, Any],
    event: str,
    *,
    bank_account: dict[str, Any] | None,
    amount_format: AmountFormat = "number",
    bank_account_style: Literal["object", "id", "both"] = "object",
    subject_type_case: SubjectTypeCase = "camel",
) -> dict[str, Any]:
    """The ``data`` of a ``v1/transactions`` webhook: no ``*_cents``, the subject
    capitalised (or, ``lower``, as REST shows it), the nested counterparty's formats
    spelled as the webhook page does (``iban``/``account_number``, ``bic``)."""
    data: dict[str, Any] = {"event": event}
    for key, value in tx.items():
        if key.endswith("_cents"):
            continue
        data[key] = value
    for major, cents in MONEY_FIELDS:
        if tx.get(cents) is not None:
            data[major] = format_amount(int(tx[cents]), amount_format)
    subject = tx.get("subject_type")
    if isinstance(subject, str):
        data["subject_type"] = subject_type_in(subject, subject_type_case)
        nested = tx.get(subject)
        if isinstance(nested, dict):
            data[subject] = webhook_counterparty(nested)
    if bank_account is not None and bank_account_style in ("object", "both"):
        data["bank_account"] = {
            "id": bank_account["id"],
            "iban": bank_account["iban"],
            "bic": bank_account["bic"],
            "name": bank_account["name"],
        }
        if bank_account_style == "object":
            data.pop("bank_account_id", None)
    return data


def client_invoice_contract(inv: dict[str, Any]) -> dict[str, Any]:
    """A Qonto client invoice in the project's ``Invoice`` contract (receivable)."""
    # The back office's view when it publishes the invoice: open (matching finds the
    # payments) or canceled; Qonto's own status is kept as ``qonto_status``.
    status = inv["status"]
    contract_status = "canceled" if status == "canceled" else "open"
    return {
        "id": inv["id"],
        "number": inv["number"],
        "kind": "receivable",
        "counterparty_name": inv["client"]["name"],
        "counterparty_iban": inv.get("_counterparty_iban"),
        "amount_cents": inv["total_amount_cents"],
        "currency": inv["currency"],
        "issue_date": inv["issue_date"],
        "due_date": inv["due_date"],
        "status": contract_status,
        "payment_reference": inv.get("_payment_reference"),
        "qonto_status": status,
    }


def supplier_invoice_contract(inv: dict[str, Any]) -> dict[str, Any]:
    """A Qonto supplier invoice in the project's ``Invoice`` contract (payable)."""
    status = inv["status"]
    contract_status = "canceled" if status in ("archived", "canceled") else "open"
    return {
        "id": inv["id"],
        "number": inv["invoice_number"],
        "kind": "payable",
        "counterparty_name": inv["supplier_name"],
        "counterparty_iban": inv.get("iban"),
        "amount_cents": to_cents(inv["total_amount"]["value"]),  # the documented shape
        "currency": inv["total_amount"]["currency"],
        "issue_date": inv["issue_date"],
        "due_date": inv["due_date"],
        "status": contract_status,
        "payment_reference": inv.get("_payment_reference"),
        "qonto_status": status,
    }


def public(record: dict[str, Any]) -> dict[str, Any]:
    """Drop the simulator's private keys (``_...``) from a record."""
    return {k: v for k, v in record.items() if not k.startswith("_")}
