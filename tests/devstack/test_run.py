"""The harness that plays a month through the stack: what it counts as settled."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from qrecon.common.topics import Topics
from qrecon.devstack.run import BackOffice, PlayOptions, recent_month_start


class FakeStack:
    def __init__(self) -> None:
        self.invoices: list[dict[str, Any]] = []

    def ground_truth(self, kind: str) -> list[dict[str, Any]]:
        assert kind == "invoices"
        return [dict(row) for row in self.invoices]


class FakeBroker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, body: bytes, topic: str, **_: Any) -> None:
        self.sent.append((topic, body))


def _invoice(invoice_id: str, status: str = "open") -> dict[str, Any]:
    return {
        "id": invoice_id,
        "number": f"FAC-{invoice_id}",
        "kind": "receivable",
        "counterparty_name": "Client SAS",
        "amount_cents": 120000,
        "currency": "EUR",
        "issue_date": "2026-01-02",
        "due_date": "2026-02-01",
        "status": status,
    }


async def test_an_invoice_canceled_before_it_was_ever_published_is_accounted_not_published() -> (
    None
):
    stack, broker = FakeStack(), FakeBroker()
    office = BackOffice(stack, Topics("t."))  # type: ignore[arg-type]
    stack.invoices = [_invoice("a")]
    assert await office.sync_once(broker) == 1

    # Kafka was down while "b" was created and canceled: the office never saw it open.
    stack.invoices = [_invoice("a"), _invoice("b", "canceled")]
    assert await office.sync_once(broker) == 0

    assert office.published == {"a": "open"}
    assert office.withdrawn == {"b"}
    assert office.accounted() == 2  # every invoice of the scenario is dealt with
    assert [topic for topic, _ in broker.sent] == ["t.invoices.v1"]


async def test_a_published_invoice_that_is_canceled_publishes_its_cancel() -> None:
    stack, broker = FakeStack(), FakeBroker()
    office = BackOffice(stack, Topics("t."))  # type: ignore[arg-type]
    stack.invoices = [_invoice("a")]
    await office.sync_once(broker)
    stack.invoices = [_invoice("a", "canceled")]

    assert await office.sync_once(broker) == 1
    assert office.published == {"a": "canceled"}
    assert office.accounted() == 1
    assert b"invoice.cancel" in broker.sent[-1][1]


def test_a_play_needs_an_explicit_start_date() -> None:
    with pytest.raises(TypeError):
        PlayOptions()  # type: ignore[call-arg]
    options = PlayOptions(start=date(2028, 2, 29))
    assert options.business_start() == datetime(2028, 2, 29, tzinfo=UTC)


def test_the_demo_plays_the_thirty_days_that_end_on_the_day_given() -> None:
    assert recent_month_start(date(2026, 3, 1)) == date(2026, 1, 30)
