"""Use case: a ``v1/payment-links`` webhook (from ``qonto.events.v1``) is recorded and
becomes evidence for the engine.

Each link's latest version is kept per organisation (:class:`PaymentLinkStore`, newest
``updated_at`` wins, replays change nothing) and applied to this replica's state (the
engine reads it through the organisation's ``Knowledge``); the other replicas read it at
their next cache refresh. A link that became paid may explain a credit already decided
(the money often arrives before the webhook): the caller then re-examines the
organisation's recent unmatched and suggested transactions in its currency, as for a new
invoice.
"""

from __future__ import annotations

from dataclasses import dataclass

from qrecon.common.schemas import PaymentLinkEvent
from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.ports import PaymentLinkStore
from qrecon.matcher.core.payment_links import PAID, PaymentLink


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    applied: bool  # a newer version than the one held
    organization: str
    paid_currency: str | None = None  # set when the link is (now) paid: re-examine


def link_from_event(event: PaymentLinkEvent, organization: str) -> PaymentLink:
    """The link as this webhook describes it (its version: ``data.updated_at``)."""
    data = event.data
    status = data.status.strip().lower()
    return PaymentLink(
        link_id=data.payment_link_id,
        organization_id=organization,
        invoice_id=event.invoice_id,
        invoice_number=data.invoice_number,
        amount_cents=data.amount.cents,
        currency=data.amount.currency.upper(),
        status=status,
        paid_at=data.updated_at if status == PAID else None,
        updated_at=data.updated_at,
    )


class PaymentLinkEvents:
    def __init__(self, store: PaymentLinkStore, state: MatcherState) -> None:
        self.store = store
        self.state = state

    async def handle(self, event: PaymentLinkEvent, organization: str) -> LinkOutcome:
        """Record the event's link for ``organization`` (the event's, else the default)."""
        link = link_from_event(event, organization)
        applied = await self.store.upsert_link(link, event.id)
        if applied:
            self.state.apply_links([link])
        return LinkOutcome(
            applied,
            link.organization_id,
            link.currency if applied and link.status == PAID else None,
        )
