"""Specifications of the payment-link use case on fakes: a ``v1/payment-links`` webhook is
recorded (newest version wins), reaches every replica's state, and a paid link makes a
credit of its amount, with no reference and from an unknown payer, pay the link's invoice.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from qrecon.common.schemas import PaymentLinkEvent
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.payment_links import PaymentLinkEvents
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.core import EngineConfig, MatchingEngine
from qrecon.matcher.core.payment_links import REASON_PAID, PaymentLink

from .builders import BASE, invoice, invoice_event, transaction, tx_event
from .conftest import clock
from .fakes import ORG, FakeDatabase

FIXTURE = Path(__file__).parents[2] / "fixtures" / "qonto" / "webhook_payment_links.json"


class FakeLinkStore:
    """``PaymentLinkStore`` in memory: the newest version of each link, a ticking clock."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[PaymentLink, datetime]] = {}
        self.ticks = 0

    def _now(self) -> datetime:
        self.ticks += 1
        return BASE + timedelta(seconds=self.ticks)

    async def upsert_link(self, link: PaymentLink, event_id: str) -> bool:
        key = (link.organization_id, link.link_id)
        held = self.rows.get(key)
        if held is not None and held[0].updated_at >= link.updated_at:
            return False
        self.rows[key] = (link, self._now())
        return True

    async def links_changed_since(
        self, since: datetime | None
    ) -> tuple[datetime, list[PaymentLink]]:
        clock_ = self._now()
        return clock_, [link for link, at in self.rows.values() if since is None or at >= since]


def link_event(
    status: str,
    *,
    at: datetime,
    invoice_id: str,
    number: str,
    amount: str,
    link_id: str = "0196185a-4fa1-7324-9aed-0b0f6a65243e",
) -> PaymentLinkEvent:
    """Qonto's documented example (the fixture), for one of our invoices."""
    raw: dict[str, Any] = copy.deepcopy(json.loads(FIXTURE.read_text()))
    raw["organization_id"] = ORG
    data = raw["data"]
    data.update(
        event="created" if status == "open" else "updated",
        status=status,
        payment_link_id=link_id,
        resource_id=invoice_id,
        resource_metadata={"invoice_number": number},
        amount={"currency": "EUR", "value": amount},
        updated_at=at.isoformat(),
    )
    return PaymentLinkEvent.model_validate(raw)


def replica(db: FakeDatabase, store: FakeLinkStore) -> tuple[MatcherService, PaymentLinkEvents]:
    state = MatcherState(links=store)
    service = MatcherService(
        db,
        MatchingEngine(EngineConfig()),
        state,
        conflict_retries=2,
        clock=clock,
        default_organization=ORG,
    )
    return service, PaymentLinkEvents(store, state)


async def _two_clients_owing(service: MatcherService, amount: int) -> None:
    # Two clients owe the same amount: a bare credit of it cannot tell them apart.
    await service.handle_invoice_event(
        invoice_event(invoice("F-2026-0087", amount, counterparty="Boulangerie Martin SARL"))
    )
    await service.handle_invoice_event(
        invoice_event(invoice("F-2026-0091", amount, counterparty="Atelier Roux SAS"))
    )


async def test_a_paid_link_makes_a_bare_credit_of_its_amount_pay_the_links_invoice(
    db: FakeDatabase,
) -> None:
    store = FakeLinkStore()
    service, links = replica(db, store)
    await service.state.load(db)
    await _two_clients_owing(service, 240000)
    paid = link_event(
        "paid",
        at=BASE - timedelta(hours=3),
        invoice_id="inv-F-2026-0087",
        number="F-2026-0087",
        amount="2400.00",
    )

    outcome = await links.handle(paid, ORG)

    assert (outcome.applied, outcome.organization, outcome.paid_currency) == (True, ORG, "EUR")
    tx = transaction(240000, counterparty="VIR SEPA INST")
    await service.handle_transaction_event(tx_event(tx))
    [result] = db.published_for(tx.id)
    assert result.status == "auto_matched"
    assert [(a.invoice_id, a.amount_cents) for a in result.allocations] == [
        ("inv-F-2026-0087", 240000)
    ]
    assert REASON_PAID in result.reasons


async def test_a_link_paid_after_the_money_arrived_decides_it_again(db: FakeDatabase) -> None:
    store = FakeLinkStore()
    service, links = replica(db, store)
    await service.state.load(db)
    await _two_clients_owing(service, 240000)
    tx = transaction(240000, counterparty="VIR SEPA INST")
    await service.handle_transaction_event(tx_event(tx))
    assert db.published_for(tx.id)[-1].status != "auto_matched"

    outcome = await links.handle(
        link_event(
            "paid",
            at=BASE + timedelta(hours=2),
            invoice_id="inv-F-2026-0091",
            number="F-2026-0091",
            amount="2400.00",
        ),
        ORG,
    )
    assert outcome.paid_currency == "EUR"
    changed = await service.reexamine({outcome.paid_currency}, outcome.organization)

    assert changed == 1
    last = db.published_for(tx.id)[-1]
    assert last.status == "auto_matched"
    assert [a.invoice_id for a in last.allocations] == ["inv-F-2026-0091"]


async def test_an_open_link_is_recorded_but_is_no_evidence_of_payment(db: FakeDatabase) -> None:
    store = FakeLinkStore()
    service, links = replica(db, store)
    await service.state.load(db)
    await _two_clients_owing(service, 240000)

    outcome = await links.handle(
        link_event(
            "open",
            at=BASE - timedelta(hours=3),
            invoice_id="inv-F-2026-0087",
            number="F-2026-0087",
            amount="2400.00",
        ),
        ORG,
    )

    assert (outcome.applied, outcome.paid_currency) == (True, None)
    tx = transaction(240000, counterparty="VIR SEPA INST")
    await service.handle_transaction_event(tx_event(tx))
    assert db.published_for(tx.id)[-1].status != "auto_matched"


async def test_an_older_version_of_a_link_changes_nothing(db: FakeDatabase) -> None:
    store = FakeLinkStore()
    service, links = replica(db, store)
    await service.state.load(db)
    kwargs: dict[str, Any] = {
        "invoice_id": "inv-F-2026-0087",
        "number": "F-2026-0087",
        "amount": "2400.00",
    }
    assert (await links.handle(link_event("paid", at=BASE, **kwargs), ORG)).applied
    stale = await links.handle(link_event("open", at=BASE - timedelta(hours=1), **kwargs), ORG)
    replay = await links.handle(link_event("paid", at=BASE, **kwargs), ORG)

    assert (stale.applied, replay.applied) == (False, False)
    held = service.state.links_of(ORG).get("0196185a-4fa1-7324-9aed-0b0f6a65243e")
    assert held is not None
    assert held.status == "paid"


async def test_another_replica_reads_the_links_from_the_store(db: FakeDatabase) -> None:
    store = FakeLinkStore()
    first, links = replica(db, store)
    await first.state.load(db)
    second, _ = replica(db, store)
    await second.state.load(db)
    await _two_clients_owing(first, 240000)
    await links.handle(
        link_event(
            "paid",
            at=BASE - timedelta(hours=3),
            invoice_id="inv-F-2026-0087",
            number="F-2026-0087",
            amount="2400.00",
        ),
        ORG,
    )

    await second.state.refresh(db)  # the periodic refresh of the other replica

    tx = transaction(240000, counterparty="VIR SEPA INST")
    await second.handle_transaction_event(tx_event(tx))
    last = db.published_for(tx.id)[-1]
    assert last.status == "auto_matched"
    assert [a.invoice_id for a in last.allocations] == ["inv-F-2026-0087"]
