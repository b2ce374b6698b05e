"""The emulator speaks the v1/transactions webhook's own spellings, and both casings of
``subject_type`` are read (fixtures: tests/fixtures/qonto, provenance in SOURCES.md).

* The nested counterparty object: REST spells its formats ``IBAN`` / ``SWIFT_BIC``
  (``transactions_list.json``), the webhook ``iban`` or ``account_number`` and ``bic``
  (``webhook_transactions_income_iban_lowercase.json``,
  ``webhook_transactions_created_amount_number.json``). The emulator's webhooks used to
  copy REST's spellings.
* ``subject_type``: lower case in the documented REST examples, CamelCase on the webhook
  page and in clients' captures of live REST answers. The emulator sends either
  (``WebhookSettings.subject_type_case``, ``Simulator.rest_subject_type_case``); the
  schema reads both as the snake_case name of the nested object.
* Only a validated IBAN is an IBAN (``matcher.core.evidence.payer_iban``): an
  ``account_number`` is not, whatever it looks like.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from qrecon.common.qonto.auth import ApiKeyAuth
from qrecon.common.qonto.client import QontoClient
from qrecon.common.schemas import QontoTransaction, QontoWebhookEvent
from qrecon.matcher.core.evidence import payer_iban
from qrecon.sim.shapes import webhook_data
from qrecon.sim.state import Simulator
from qrecon.sim.testing import arun_emulator

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qonto"
CLIENT_IBAN = "FR7630004008190001234560119"
US_ACCOUNT = "483920175621"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _emulated(sim: Simulator, **data: Any) -> dict[str, Any]:
    """The webhook ``data`` the emulator sends for a new transaction."""
    tx = sim.add_transaction(notify=False, **data)
    bank_account = sim.accounts.by_id[tx["bank_account_id"]]
    settings = sim.webhook_settings
    return webhook_data(
        tx,
        "created",
        bank_account=bank_account,
        amount_format=settings.amount_format,
        bank_account_style=settings.bank_account_style,
        subject_type_case=settings.subject_type_case,
    )


def _nested_formats(nested: dict[str, Any]) -> tuple[Any, Any]:
    return (
        nested["counterparty_account_number_format"],
        nested["counterparty_bank_identifier_format"],
    )


def test_an_iban_counterparty_is_spelled_iban_and_bic_as_the_webhook_page_does() -> None:
    documented = load("webhook_transactions_income_iban_lowercase.json")["data"]
    sim = Simulator(seed=3)
    data = _emulated(
        sim,
        amount_cents=240_000,
        side="credit",
        operation_type="income",
        counterparty={"name": "Boulangerie Martin", "iban": CLIENT_IBAN, "bic": "BNPAFRPP"},
    )
    assert data["subject_type"] == documented["subject_type"] == "Income"
    assert _nested_formats(data["income"]) == _nested_formats(documented["income"])
    assert _nested_formats(data["income"]) == ("iban", "bic")
    assert set(documented["income"]) - {"counterparty_name"} <= set(data["income"])
    # REST keeps its own spellings for the same transaction.
    rest = sim.transactions.get(data["id"])
    assert _nested_formats(rest["income"]) == ("IBAN", "SWIFT_BIC")


def test_a_non_sepa_account_number_is_spelled_account_number() -> None:
    documented = load("webhook_transactions_created_amount_number.json")["data"]
    data = _emulated(
        Simulator(seed=3),
        amount_cents=31_845,
        side="debit",
        operation_type="transfer",
        counterparty={"name": "Figma", "account_number": US_ACCOUNT, "bic": "CHASUS33"},
    )
    assert _nested_formats(data["transfer"]) == _nested_formats(documented["transfer"])
    assert data["transfer"]["counterparty_account_number"] == US_ACCOUNT


@pytest.mark.parametrize(("case", "sent"), [("camel", "Income"), ("lower", "income")])
def test_the_emulator_sends_subject_type_in_either_case_and_both_are_read(
    case: str, sent: str
) -> None:
    sim = Simulator(seed=3)
    sim.webhook_settings.subject_type_case = case  # type: ignore[assignment]
    data = _emulated(
        sim,
        amount_cents=240_000,
        side="credit",
        operation_type="income",
        counterparty={"name": "Boulangerie Martin", "iban": CLIENT_IBAN, "bic": "BNPAFRPP"},
    )
    assert data["subject_type"] == sent
    event = QontoWebhookEvent.model_validate(
        {**load("webhook_transactions_income_iban_lowercase.json"), "data": data}
    )
    tx = QontoTransaction.model_validate({k: v for k, v in event.data.items() if k != "event"})
    assert tx.subject_type == "income"
    assert tx.counterparty["counterparty_account_number"] == CLIENT_IBAN
    assert payer_iban(tx) == CLIENT_IBAN


@pytest.mark.parametrize("case", ["lower", "camel"])
async def test_rest_answers_in_either_case_read_the_same(case: str) -> None:
    sim = Simulator(seed=3)
    sim.rest_subject_type_case = case  # type: ignore[assignment]
    added = sim.add_transaction(
        amount_cents=12_000,
        side="debit",
        operation_type="direct_debit",
        notify=False,
        counterparty={"name": "EDF", "iban": "FR7630001007941234567890185"},
    )
    async with (
        arun_emulator(sim) as qonto,
        QontoClient(
            base_url=qonto.base_url,
            auth=ApiKeyAuth(qonto.login, SecretStr(qonto.secret_key)),
        ) as client,
    ):
        tx = await client.get_transaction(added["id"])
        raw = await client.request_json("GET", f"/v2/transactions/{added['id']}")
    assert raw["transaction"]["subject_type"] == (
        "DirectDebit" if case == "camel" else "direct_debit"
    )
    assert tx.subject_type == "direct_debit"
    assert tx.counterparty["counterparty_account_number_format"] == "IBAN"


@pytest.mark.parametrize(
    ("fixture", "subject", "iban"),
    [
        ("webhook_transactions_income_iban_lowercase.json", "income", CLIENT_IBAN),
        ("webhook_transactions_created_amount_number.json", "transfer", None),
    ],
)
def test_only_a_validated_iban_is_used_as_one(fixture: str, subject: str, iban: str | None) -> None:
    data = {k: v for k, v in load(fixture)["data"].items() if k != "event"}
    assert payer_iban(QontoTransaction.model_validate(data)) == iban
    # An IBAN-looking value under another format, or an IBAN that fails mod 97, is not one.
    nested = dict(data[subject])
    nested["counterparty_account_number"] = CLIENT_IBAN
    nested["counterparty_account_number_format"] = "account_number"
    assert payer_iban(QontoTransaction.model_validate({**data, subject: nested})) is None
    nested["counterparty_account_number_format"] = "iban"
    nested["counterparty_account_number"] = CLIENT_IBAN[:-1] + "8"
    assert payer_iban(QontoTransaction.model_validate({**data, subject: nested})) is None
