"""A transaction's REST shape from the fields a caller gives (no state: the store resolves
the account and hands in the serial, id and stamp sources)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from qrecon.common.money import to_cents
from qrecon.sim.errors import Unprocessable
from qrecon.sim.shapes import NESTED_SUBJECTS, STATUSES, SUBJECT_TYPES, cents_to_float, ts_value

TX_FIELDS_SETTABLE = frozenset(
    {
        "amount",
        "amount_cents",
        "local_amount",
        "local_amount_cents",
        "currency",
        "local_currency",
        "side",
        "operation_type",
        "status",
        "label",
        "clean_counterparty_name",
        "reference",
        "note",
        "category",
        "settled_at",
        "emitted_at",
        "vat_amount",
        "vat_amount_cents",
        "vat_rate",
        "initiator_id",
        "label_ids",
        "attachment_ids",
        "attachment_lost",
        "attachment_required",
        "card_last_digits",
        "is_external_transaction",
        "cashflow_category",
        "cashflow_subcategory",
    }
)


def pop_cents(data: dict[str, Any], major: str) -> int | None:
    """Pop ``<major>_cents`` (an int) or ``<major>`` (a decimal) from ``data``, in cents."""
    cents = data.pop(f"{major}_cents", None)
    value = data.pop(major, None)
    if cents is not None:
        if isinstance(cents, bool) or not isinstance(cents, int):
            raise Unprocessable(f"{major}_cents must be an integer")
        return cents
    if value is not None:
        try:
            return to_cents(value)
        except ValueError as exc:
            raise Unprocessable(str(exc)) from exc
    return None


def build_transaction(
    data: dict[str, Any],
    *,
    account: dict[str, Any],
    org_slug: str,
    next_serial: Callable[[], int],
    new_id: Callable[[], str],
    stamp: Callable[[], str],
) -> dict[str, Any]:
    """Validate ``data`` (consumed) and build the transaction booked on ``account``.

    ``next_serial`` numbers the organization's slugs, ``new_id`` draws an id when none is
    given and ``stamp`` is the creation time; each is called once, after validation."""
    side = str(data.pop("side", "credit")).lower()
    if side not in ("credit", "debit"):
        raise Unprocessable(f"side must be credit or debit, got {side!r}")
    status = str(data.pop("status", "completed")).lower()
    if status not in STATUSES:
        raise Unprocessable(f"status must be one of {STATUSES}, got {status!r}")
    operation_type = data.pop("operation_type", None) or (
        "income" if side == "credit" else "transfer"
    )
    subject_type = data.pop("subject_type", None) or SUBJECT_TYPES.get(operation_type, "other")
    currency = data.pop("currency", account["currency"])
    amount_cents = pop_cents(data, "amount")
    if amount_cents is None:
        raise Unprocessable("amount or amount_cents is required")
    if amount_cents < 0:
        raise Unprocessable("amounts are positive; side gives the direction")
    local_cents = pop_cents(data, "local_amount")
    vat_cents = pop_cents(data, "vat_amount")
    counterparty = data.pop("counterparty", None) or {}
    label = data.pop("label", None) or counterparty.get("name") or "Unknown"
    serial = next_serial()
    tx_id = data.pop("id", None) or new_id()
    now = stamp()
    emitted = ts_value(data.pop("emitted_at", None)) or now
    settled_in = data.pop("settled_at", None)
    settled = ts_value(settled_in) if settled_in is not None else None
    if status == "completed" and settled is None:
        settled = now
    if status != "completed":
        settled = None
    tx: dict[str, Any] = {
        "id": tx_id,
        "transaction_id": data.pop("transaction_id", None) or f"{org_slug}-transaction-{serial}",
        "amount": cents_to_float(amount_cents),
        "amount_cents": amount_cents,
        "settled_balance": None,
        "settled_balance_cents": None,
        "attachment_ids": list(data.pop("attachment_ids", [])),
        "local_amount": cents_to_float(local_cents if local_cents is not None else amount_cents),
        "local_amount_cents": local_cents if local_cents is not None else amount_cents,
        "side": side,
        "operation_type": operation_type,
        "currency": currency,
        "local_currency": data.pop("local_currency", currency),
        "label": label,
        "clean_counterparty_name": data.pop("clean_counterparty_name", None) or label,
        "settled_at": settled,
        "emitted_at": emitted,
        "created_at": now,
        "updated_at": now,
        "status": status,
        "note": data.pop("note", None),
        "reference": data.pop("reference", None),
        "vat_amount": cents_to_float(vat_cents) if vat_cents is not None else None,
        "vat_amount_cents": vat_cents,
        "vat_rate": data.pop("vat_rate", None),
        "initiator_id": data.pop("initiator_id", None),
        "label_ids": list(data.pop("label_ids", [])),
        "attachment_lost": bool(data.pop("attachment_lost", False)),
        "attachment_required": bool(data.pop("attachment_required", side == "debit")),
        "card_last_digits": data.pop("card_last_digits", None),
        "category": data.pop("category", "other_income" if side == "credit" else "other"),
        "cashflow_category": data.pop("cashflow_category", None),
        "cashflow_subcategory": data.pop("cashflow_subcategory", None),
        "subject_type": subject_type,
        "bank_account_id": account["id"],
        "is_external_transaction": bool(data.pop("is_external_transaction", False)),
    }
    nested = data.pop(subject_type, None)
    if nested is None and subject_type in NESTED_SUBJECTS:
        # An IBAN, or (a transfer outside SEPA) a bare account number: REST's formats.
        account_number = counterparty.get("iban") or counterparty.get("account_number")
        account_format = (
            "IBAN" if counterparty.get("iban") else ("account_number" if account_number else None)
        )
        nested = {
            "counterparty_account_number": account_number,
            "counterparty_account_number_format": account_format,
            "counterparty_bank_identifier": counterparty.get("bic"),
            "counterparty_bank_identifier_format": (
                "SWIFT_BIC" if counterparty.get("bic") else None
            ),
            "counterparty_name": counterparty.get("name") or label,
        }
        if subject_type.startswith("direct_debit"):
            nested["creditor_identifier"] = counterparty.get("creditor_identifier")
            nested["mandate_reference"] = counterparty.get("mandate_reference")
    if nested is not None:
        tx[subject_type] = nested
    for key, value in data.items():  # undeclared fields are kept, as Qonto's drift
        tx[key] = value
    return tx


def with_includes(
    tx: dict[str, Any],
    includes: Iterable[str],
    *,
    labels: dict[str, dict[str, Any]],
    attachments: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """``tx`` with what ``includes[]`` asks for: ``vat_details``, ``labels``, ``attachments``."""
    result = dict(tx)
    for include in includes:
        if include == "vat_details":
            vat_cents = tx.get("vat_amount_cents")
            result["vat_details"] = {
                "items": []
                if vat_cents is None
                else [
                    {
                        "amount": tx["vat_amount"],
                        "amount_cents": vat_cents,
                        "rate": tx.get("vat_rate"),
                    }
                ]
            }
        elif include == "labels":
            result["labels"] = [
                labels.get(label_id, {"id": label_id, "name": label_id})
                for label_id in tx["label_ids"]
            ]
        elif include == "attachments":
            result["attachments"] = [attachments.get(a, {"id": a}) for a in tx["attachment_ids"]]
        else:
            raise Unprocessable(f"invalid include {include!r}", parameter="includes[]")
    return result
