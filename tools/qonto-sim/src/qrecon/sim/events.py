"""A transaction change becomes one ``v1/transactions`` event per subscription of its
organization, handed to the webhook dispatcher (``qrecon.sim.webhooks``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from qrecon.sim.shapes import webhook_data
from qrecon.sim.stores.accounts import AccountStore
from qrecon.sim.stores.subscriptions import SubscriptionStore
from qrecon.sim.webhooks import WebhookDispatcher, WebhookSettings


class TransactionEvents:
    """The ``on_change`` of the transaction store (called under the simulator's lock)."""

    def __init__(
        self,
        *,
        subscriptions: SubscriptionStore,
        accounts: AccountStore,
        settings: Callable[[], WebhookSettings],
        dispatcher: WebhookDispatcher,
    ) -> None:
        self._subscriptions = subscriptions
        self._accounts = accounts
        self._settings = settings
        self._dispatcher = dispatcher

    def __call__(self, event: str, tx: dict[str, Any], organization_id: str, notify: bool) -> None:
        subscriptions = self._subscriptions.subscribed(organization_id, "v1/transactions")
        if not subscriptions:
            return
        settings = self._settings()
        data = webhook_data(
            tx,
            event,
            bank_account=self._accounts.by_id.get(tx["bank_account_id"]),
            amount_format=settings.amount_format,
            bank_account_style=settings.bank_account_style,
            subject_type_case=settings.subject_type_case,
        )
        created_at = tx["updated_at"]  # the change's time (a scenario's business time)
        for sub in subscriptions:
            payload = {
                "id": str(uuid.uuid4()),
                "subscription_id": sub["id"],
                "organization_id": organization_id,
                "membership_id": sub["membership_id"],
                "type": "v1/transactions",
                "created_at": created_at,
                "data": data,
            }
            self._dispatcher.submit(sub, payload, tx_updated_at=tx["updated_at"], notify=notify)
