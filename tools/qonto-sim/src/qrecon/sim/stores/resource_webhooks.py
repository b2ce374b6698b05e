"""``v1/accounts`` and ``v1/clients`` webhooks: a bank account or a client created or changed.

Shapes as documented (docs: supported-webhooks; fixtures ``webhook_accounts.json`` and
``webhook_clients.json``):

* ``v1/accounts``: ``data`` = ``event`` (``created``, ``updated``), ``id``, ``slug``,
  ``iban``, ``currency``, ``authorized_balance: {amount, currency}`` (a decimal string),
  ``name``, ``status``, ``updated_at`` (UTC, ``Z``, whole seconds);
* ``v1/clients``: ``data`` = ``event`` (``created``, ``updated``, ``deleted``), ``id``,
  ``kind``/``type``, ``name``, ``email``, ``extra_emails``, ``phone``, ``phone_number``,
  ``tax_identification_number``, ``vat_number``, ``locale``, ``currency``, ``address``,
  ``city``, ``zip_code``, ``country_code``, ``billing_address``, ``created_at``,
  ``updated_at``.

When: an account added through the simulator (``Simulator.add_bank_account``, which a
scenario's extra accounts go through) sends ``created``, ``Simulator.update_bank_account``
(status, name) ``updated``; a client invoice for a client the organization has not
invoiced yet sends the client's ``created`` first seen, a change of the client's details
``updated``. Balance moves send nothing (one webhook per transaction already says it).

Sent like every webhook (``qrecon.sim.webhooks``): to the organization's subscriptions of
that type only, signed, subject to the faults in force, each event's fate in the ground
truth's ``webhooks`` section (``resource_id``: the account or client id).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from qrecon.common.money import from_cents
from qrecon.sim.clock import format_ts
from qrecon.sim.errors import NotFound, Unprocessable
from qrecon.sim.stores.accounts import AccountStore
from qrecon.sim.stores.base import StoreContext
from qrecon.sim.stores.subscriptions import SubscriptionStore
from qrecon.sim.webhooks import WebhookDispatcher

ACCOUNTS_TYPE = "v1/accounts"
CLIENTS_TYPE = "v1/clients"
ACCOUNT_STATUSES = ("active", "closed")
# The client fields a webhook carries, from the invoice's client object when it has them.
_CLIENT_FIELDS = (
    "kind",
    "type",
    "name",
    "email",
    "extra_emails",
    "phone",
    "phone_number",
    "tax_identification_number",
    "vat_number",
    "locale",
    "currency",
    "address",
    "city",
    "zip_code",
    "country_code",
    "billing_address",
)


def _stamp(value: datetime) -> str:
    """The webhooks' timestamps: UTC, whole seconds, ``Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _amount(cents: int) -> str:
    return str(from_cents(cents))


def _client_details(client: dict[str, Any]) -> dict[str, Any]:
    """Every documented client field, from the invoice's client object where it has it."""
    details = {name: client.get(name) for name in _CLIENT_FIELDS}
    details["type"] = details["type"] or "company"
    details["kind"] = details["kind"] or details["type"]
    details["locale"] = details["locale"] or "fr"
    details["currency"] = details["currency"] or "EUR"
    details["extra_emails"] = list(details["extra_emails"] or [])
    if details["tax_identification_number"] is None:
        details["tax_identification_number"] = details["vat_number"]
    if details["billing_address"] is None:
        details["billing_address"] = {
            "street_address": details["address"],
            "zip_code": details["zip_code"],
            "city": details["city"],
            "country_code": details["country_code"],
        }
    return details


class ResourceWebhooks:
    def __init__(
        self,
        ctx: StoreContext,
        *,
        accounts: AccountStore,
        subscriptions: SubscriptionStore,
        dispatcher: WebhookDispatcher,
    ) -> None:
        self._lock = ctx.lock
        self._clock = ctx.clock
        self._accounts = accounts
        self._subscriptions = subscriptions
        self._dispatcher = dispatcher
        self.clear()

    def clear(self) -> None:
        self._clients: dict[tuple[str, str], dict[str, Any]] = {}

    # ------------------------------------------------------------------ accounts
    def account_created(self, account_id: str, *, notify: bool = True) -> None:
        with self._lock:
            account = self._accounts.by_id[account_id]
            self._emit_account("created", account, notify=notify)

    def update_bank_account(
        self,
        account_id: str,
        *,
        status: str | None = None,
        name: str | None = None,
        at: datetime | None = None,
        notify: bool = True,
    ) -> dict[str, Any]:
        """Close or rename an account; sends ``updated``."""
        if status is not None and status not in ACCOUNT_STATUSES:
            raise Unprocessable(f"status must be one of {ACCOUNT_STATUSES}, got {status!r}")
        with self._lock:
            account = self._accounts.by_id.get(account_id)
            if account is None:
                raise NotFound("bank account not found")
            if status is not None:
                account["status"] = status
            if name is not None:
                account["name"] = name
            now = at or self._clock.now()
            account["updated_at"] = format_ts(now)
            self._emit_account("updated", account, notify=notify, at=now)
            return dict(account)

    def _emit_account(
        self, event: str, account: dict[str, Any], *, notify: bool, at: datetime | None = None
    ) -> None:
        stamp = _stamp(at or self._clock.now())
        data = {
            "event": event,
            "id": account["id"],
            "slug": account["slug"],
            "iban": account["iban"],
            "currency": account["currency"],
            "authorized_balance": {
                "amount": _amount(int(account["authorized_balance_cents"])),
                "currency": account["currency"],
            },
            "name": account["name"],
            "status": account["status"],
            "updated_at": stamp,
        }
        self._emit(ACCOUNTS_TYPE, account["organization_id"], data, stamp, notify=notify)

    # ------------------------------------------------------------------ clients
    def client_seen(
        self,
        organization_id: str,
        client: dict[str, Any],
        *,
        at: datetime | None = None,
        notify: bool = True,
    ) -> str | None:
        """A client named by a new invoice: ``created`` the first time, ``updated`` when its
        details changed since, nothing otherwise. Returns the event sent, if any."""
        client_id = client.get("id")
        if not isinstance(client_id, str) or not client_id:
            return None
        with self._lock:
            now = _stamp(at or self._clock.now())
            key = (organization_id, client_id)
            held = self._clients.get(key)
            details = _client_details(client)
            if held is not None and all(held.get(k) == v for k, v in details.items()):
                return None
            record = {
                **(held or {}),
                **details,
                "id": client_id,
                "created_at": held["created_at"] if held else now,
                "updated_at": now,
            }
            self._clients[key] = record
            event = "created" if held is None else "updated"
            data = {"event": event, **record}
            self._emit(CLIENTS_TYPE, organization_id, data, now, notify=notify)
            return event

    def clients(self) -> list[dict[str, Any]]:
        """Every client seen (ground truth), with its organization."""
        with self._lock:
            return [
                {**client, "organization_id": org} for (org, _), client in self._clients.items()
            ]

    # ------------------------------------------------------------------ sending
    def _emit(
        self,
        event_type: str,
        organization_id: str,
        data: dict[str, Any],
        stamp: str,
        *,
        notify: bool,
    ) -> None:
        for sub in self._subscriptions.subscribed(organization_id, event_type):
            payload = {
                "id": str(uuid.uuid4()),
                "subscription_id": sub["id"],
                "organization_id": organization_id,
                "membership_id": sub["membership_id"],
                "type": event_type,
                "created_at": stamp,
                "data": data,
            }
            self._dispatcher.submit(sub, payload, tx_updated_at=stamp, notify=notify)
