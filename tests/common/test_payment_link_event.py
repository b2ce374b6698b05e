"""``PaymentLinkEvent``: the typed view of a ``v1/payment-links`` webhook, read from Qonto's
documented example (fixture ``webhook_payment_links.json``, source in SOURCES.md); bad
input is refused with a clear error (the matcher dead-letters it)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from qrecon.common.schemas import PAYMENT_LINKS_TYPE, PaymentLinkEvent

FIXTURE = Path(__file__).parents[1] / "fixtures" / "qonto" / "webhook_payment_links.json"


def documented() -> dict[str, Any]:
    return copy.deepcopy(json.loads(FIXTURE.read_text(encoding="utf-8")))


def test_the_documented_example_reads_as_a_payment_link_event() -> None:
    event = PaymentLinkEvent.model_validate(documented())
    assert event.type == PAYMENT_LINKS_TYPE
    assert event.organization_id == "0190a4f2-7c1e-7b3a-9d4e-5f6a7b8c9d01"
    assert event.data.payment_link_id == "0196185a-4fa1-7324-9aed-0b0f6a65243e"
    assert (event.data.amount.cents, event.data.amount.currency) == (240_000, "EUR")
    assert event.invoice_id == "0196185a-4e01-72b7-86a0-fbe4e0475d56"
    assert event.data.invoice_number == "F-2025-0087"
    assert event.data.status == "open"
    assert event.data.updated_at == datetime(2025, 4, 10, 8, 37, 47, tzinfo=UTC)
    assert event.data.potential_payment_methods == [
        "bank_transfer",
        "credit_card",
        "apple_pay",
        "paypal",
    ]


def test_a_link_for_something_else_than_an_invoice_names_no_invoice() -> None:
    raw = documented()
    raw["data"]["resource_type"] = "Quote"
    assert PaymentLinkEvent.model_validate(raw).invoice_id is None


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("data", "payment_link_id"), None),
        (("data", "payment_link_id"), "a\u0000b"),
        (("data", "amount", "value"), "-10.00"),
        (("data", "amount", "value"), "0"),
        (("data", "amount", "value"), "12.345"),
        (("data", "amount", "value"), "NaN"),
        (("data", "amount", "currency"), "euros"),
        (("data", "updated_at"), "yesterday"),
        (("data", "status"), "paid\n"),
        (("type",), "v1/transactions"),
    ],
)
def test_bad_input_is_refused(path: tuple[str, ...], value: Any) -> None:
    raw = documented()
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError):
        PaymentLinkEvent.model_validate(raw)
