"""Payment links and their ``v1/payment-links`` webhooks.

A payment link is created for a client invoice (Qonto's invoicing offers one to the
invoice's client: bank transfer, card, Apple Pay, PayPal). Its webhook is documented
(docs: supported-webhooks/v1-payment-links; fixture ``webhook_payment_links.json``):
``data`` holds ``event`` (``created``, then ``updated`` on a status change), ``status``,
``payment_link_id`` (no ``data.id``), ``amount: {currency, value}``,
``potential_payment_methods``, ``resource_id`` (the invoice's id),
``resource_metadata: {invoice_number}``, ``resource_type: "Invoice"``, ``expired_at``,
``created_at``, ``updated_at`` (UTC, ``Z``, whole seconds).

Sent like every webhook (``qrecon.sim.webhooks``): signed with the subscription's
secret, subject to the faults in force, each event's fate in the ground truth's
``webhooks`` section (``resource_id``: the link); the links themselves are the
``payment_links`` section.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from qrecon.sim.errors import NotFound, Unprocessable
from qrecon.sim.stores.base import StoreContext
from qrecon.sim.stores.invoices import InvoiceStore
from qrecon.sim.stores.subscriptions import SubscriptionStore
from qrecon.sim.webhooks import WebhookDispatcher

EVENT_TYPE = "v1/payment-links"
PAYMENT_METHODS = ("bank_transfer", "credit_card", "apple_pay", "paypal")
STATUSES = ("open", "paid", "expired", "canceled")
LINK_LIFETIME = timedelta(days=365)


def _stamp(value: datetime) -> str:
    """The webhook's timestamps: UTC, whole seconds, ``Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class PaymentLinkStore:
    def __init__(
        self,
        ctx: StoreContext,
        *,
        invoices: InvoiceStore,
        subscriptions: SubscriptionStore,
        dispatcher: WebhookDispatcher,
    ) -> None:
        self._lock = ctx.lock
        self._clock = ctx.clock
        self._ids = ctx.ids
        self._invoices = invoices
        self._subscriptions = subscriptions
        self._dispatcher = dispatcher
        self.clear()

    def clear(self) -> None:
        self._links: dict[str, dict[str, Any]] = {}

    def create(
        self,
        invoice_id: str,
        *,
        methods: Sequence[str] = PAYMENT_METHODS,
        at: datetime | None = None,
        notify: bool = True,
        id: str | None = None,
    ) -> dict[str, Any]:
        """A link for the client invoice ``invoice_id`` (its amount and number); sends
        ``created`` to the organization's ``v1/payment-links`` subscriptions."""
        unknown = sorted(set(methods) - set(PAYMENT_METHODS))
        if unknown or not methods:
            raise Unprocessable(f"payment methods are some of {PAYMENT_METHODS}, got {unknown}")
        with self._lock:
            invoice = self._invoices.client_invoice(invoice_id)
            now = at or self._clock.now()
            link = {
                "status": "open",
                "payment_link_id": id or self._ids.new_id(),
                "amount": dict(invoice["total_amount"]),
                "potential_payment_methods": list(methods),
                "resource_id": invoice["id"],
                "resource_metadata": {"invoice_number": invoice["number"]},
                "resource_type": "Invoice",
                "expired_at": _stamp(now + LINK_LIFETIME),
                "created_at": _stamp(now),
                "updated_at": _stamp(now),
                "organization_id": invoice["organization_id"],
            }
            self._links[link["payment_link_id"]] = link
            self._emit("created", link, notify=notify)
            return self._public(link)

    def update(
        self, link_id: str, *, status: str, at: datetime | None = None, notify: bool = True
    ) -> dict[str, Any]:
        """A status change (``paid``, ``expired``, ``canceled``); sends ``updated``."""
        if status not in STATUSES:
            raise Unprocessable(f"status must be one of {STATUSES}, got {status!r}")
        with self._lock:
            link = self._links.get(link_id)
            if link is None:
                raise NotFound("payment link not found")
            link["status"] = status
            link["updated_at"] = _stamp(at or self._clock.now())
            self._emit("updated", link, notify=notify)
            return self._public(link)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every link (ground truth), with its organization."""
        with self._lock:
            return [dict(link) for link in self._links.values()]

    @staticmethod
    def _public(link: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in link.items() if k != "organization_id"}

    def _emit(self, event: str, link: dict[str, Any], *, notify: bool) -> None:
        organization_id = link["organization_id"]
        data = {"event": event, **self._public(link)}
        for sub in self._subscriptions.subscribed(organization_id, EVENT_TYPE):
            payload = {
                "id": str(uuid.uuid4()),
                "subscription_id": sub["id"],
                "organization_id": organization_id,
                "membership_id": sub["membership_id"],
                "type": EVENT_TYPE,
                "created_at": link["updated_at"],
                "data": data,
            }
            self._dispatcher.submit(sub, payload, tx_updated_at=link["updated_at"], notify=notify)
