"""The strict emulator (the default): ``GET /v2/transactions`` as Qonto really answers it.

1. A multi-status ``status[]`` answers ONE status only, as Qonto does (Formance's production
   connector, see docs/qonto-api.md). Which one Qonto picks is not documented; the emulator
   answers the FIRST status given (deterministic, and what a client cannot rely on anyway).
2. The list is documented per bank account: without ``bank_account_id`` or ``iban`` it is a
   422 in Qonto's error format.

Lenient (``Simulator(strict=False)``, ``qonto-sim serve --no-strict``) keeps the documented
behaviour: every status listed, the whole organization without an account.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from qrecon.sim.state import Simulator
from qrecon.sim.testing import EmulatorHandle, run_emulator

T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)


def _seed(sim: Simulator) -> dict[str, str]:
    """One transaction of each status on the main account."""
    pending = sim.add_transaction(amount_cents=100, side="debit", notify=False, at=T0)
    done = sim.add_transaction(
        amount_cents=200, side="credit", notify=False, at=T0 + timedelta(minutes=1)
    )
    declined = sim.add_transaction(
        amount_cents=300, side="debit", notify=False, at=T0 + timedelta(minutes=2)
    )
    sim.update_transaction(pending["id"], at=T0 + timedelta(minutes=3), status="pending")
    sim.update_transaction(done["id"], at=T0 + timedelta(minutes=3), status="completed")
    sim.update_transaction(declined["id"], at=T0 + timedelta(minutes=3), status="declined")
    return {"pending": pending["id"], "completed": done["id"], "declined": declined["id"]}


def _list(api: httpx.Client, params: list[tuple[str, str]]) -> httpx.Response:
    return api.get("/v2/transactions", params=params)


def _statuses(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(t["status"] for t in response.json()["transactions"])


def test_strict_is_the_default() -> None:
    assert Simulator().strict is True


def test_a_multi_status_request_answers_its_first_status_only(
    qonto: EmulatorHandle, api: httpx.Client
) -> None:
    _seed(qonto.sim)
    account = ("bank_account_id", qonto.bank_account_id)
    three = [("status[]", s) for s in ("pending", "declined", "completed")]
    response = _list(api, [account, *three])
    assert _statuses(response) == ["pending"]
    assert response.json()["meta"]["total_count"] == 1
    # The first given, whatever the order.
    reordered = [("status[]", s) for s in ("completed", "pending")]
    assert _statuses(_list(api, [account, *reordered])) == ["completed"]
    # One status per request reads them all.
    for status in ("pending", "declined", "completed"):
        assert _statuses(_list(api, [account, ("status[]", status)])) == [status]
    # Without status[]: completed only (Qonto's default).
    assert _statuses(_list(api, [account])) == ["completed"]


def test_a_list_without_bank_account_or_iban_is_a_422(
    qonto: EmulatorHandle, api: httpx.Client
) -> None:
    _seed(qonto.sim)
    response = _list(api, [("status[]", "completed")])
    assert response.status_code == 422
    error: dict[str, Any] = response.json()["errors"][0]
    assert error["code"] == "unprocessable_entity"
    assert "bank_account_id" in error["detail"]
    assert error["source"] == {"parameter": "bank_account_id"}
    by_iban = _list(api, [("iban", qonto.iban), ("status[]", "completed")])
    assert _statuses(by_iban) == ["completed"]


@pytest.mark.parametrize("strict", [False])
def test_lenient_keeps_every_status_and_the_whole_organization(strict: bool) -> None:
    sim = Simulator(strict=strict)
    _seed(sim)
    with run_emulator(sim) as qonto, qonto.client(timeout=10.0) as api:
        three = [("status[]", s) for s in ("pending", "declined", "completed")]
        assert _statuses(_list(api, three)) == ["completed", "declined", "pending"]
