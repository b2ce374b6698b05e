"""The other resources: the organization and its bank accounts, client and supplier
invoices, webhook subscriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from qrecon.common.qonto.errors import QontoDecodeError
from qrecon.common.qonto.listing import QontoLister
from qrecon.common.qonto.transport import segment, unwrap

__all__ = ["InvoicesApi", "OrganizationApi", "WebhookSubscriptionsApi", "invoice_filters"]


class OrganizationApi(QontoLister):
    """The organization and its bank accounts."""

    async def get_organization(self) -> dict[str, Any]:
        return await self._get_object("/v2/organization", "organization")

    def iter_bank_accounts(self, *, per_page: int = 100) -> AsyncIterator[dict[str, Any]]:
        return self.iter_items("/v2/bank_accounts", "bank_accounts", per_page=per_page)

    async def get_bank_account(self, id: str) -> dict[str, Any]:
        return await self._get_object(f"/v2/bank_accounts/{segment(id)}", "bank_account")


Timestamp = datetime | str


def invoice_filters(
    *,
    status: str | Sequence[str] | None,
    status_as_list: bool,
    created_at_from: Timestamp | None = None,
    created_at_to: Timestamp | None = None,
    updated_at_from: Timestamp | None = None,
    updated_at_to: Timestamp | None = None,
    sort_by: str | None = None,
) -> dict[str, Any]:
    """Qonto's documented invoice filters as query parameters (``None`` left out).

    Client invoices take ``filter[status]`` (one value; several are sent comma-separated,
    an assumption), supplier invoices ``filter[status][]`` (repeated); both take
    ``filter[created_at_from/_to]``, ``filter[updated_at_from/_to]`` (ISO 8601, UTC ``Z``)
    and ``sort_by`` (``created_at:asc|desc``).
    """
    statuses = [status] if isinstance(status, str) else list(status or ())
    params: dict[str, Any] = {}
    if statuses:
        params["filter[status][]" if status_as_list else "filter[status]"] = (
            statuses if status_as_list else ",".join(statuses)
        )
    bounds = {
        "created_at_from": created_at_from,
        "created_at_to": created_at_to,
        "updated_at_from": updated_at_from,
        "updated_at_to": updated_at_to,
    }
    for name, value in bounds.items():
        if value is not None:
            params[f"filter[{name}]"] = value
    if sort_by is not None:
        params["sort_by"] = sort_by
    return params


#: The keywords of an invoice listing that become Qonto's filters (``invoice_filters``).
INVOICE_FILTERS = (
    "status",
    "created_at_from",
    "created_at_to",
    "updated_at_from",
    "updated_at_to",
    "sort_by",
)


class InvoicesApi(QontoLister):
    """Client and supplier invoices (lists of raw objects), filtered as documented.

    ``status`` (a value or several), ``created_at_from``/``_to``, ``updated_at_from``/``_to``
    (datetimes or ISO strings) and ``sort_by`` become Qonto's ``filter[...]`` parameters
    (see ``invoice_filters``); any other keyword passes through as a query parameter
    unchanged (lists become ``key[]``).
    """

    def iter_client_invoices(
        self, *, per_page: int = 100, **filters: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """``GET /v2/client_invoices`` (scope ``client_invoices.read``; ``filter[status]``)."""
        return self._iter_invoices("client_invoices", filters, False, per_page)

    def iter_supplier_invoices(
        self, *, per_page: int = 100, **filters: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """``GET /v2/supplier_invoices`` (scope ``supplier_invoice.read``;
        ``filter[status][]``)."""
        return self._iter_invoices("supplier_invoices", filters, True, per_page)

    def _iter_invoices(
        self, resource: str, keywords: dict[str, Any], status_as_list: bool, per_page: int
    ) -> AsyncIterator[dict[str, Any]]:
        extra = {k: v for k, v in keywords.items() if k not in INVOICE_FILTERS}
        named = {k: v for k, v in keywords.items() if k in INVOICE_FILTERS}
        params = invoice_filters(
            status=named.pop("status", None), status_as_list=status_as_list, **named
        )
        return self.iter_items(f"/v2/{resource}", resource, {**extra, **params}, per_page=per_page)


class WebhookSubscriptionsApi(QontoLister):
    """Webhook subscriptions: create (the answer holds the ``secret``), list, delete."""

    async def create_webhook_subscription(
        self,
        callback_url: str,
        types: Sequence[str],
        *,
        secret: str | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Subscribe ``callback_url`` to event ``types``; the answer holds the ``secret``."""
        if isinstance(types, str):
            raise TypeError("types is a sequence of event types, e.g. ['v1/transactions']")
        payload: dict[str, Any] = {"callback_url": callback_url, "types": list(types)}
        if secret is not None:
            if not 32 <= len(secret) <= 128:
                raise ValueError("a webhook secret is 32 to 128 characters")
            payload["secret"] = secret
        if description is not None:
            payload["description"] = description
        body = await self.request_json(
            "POST", "/v2/webhook_subscriptions", json=payload, idempotency_key=idempotency_key
        )
        obj = unwrap(body, "webhook_subscription")
        if not isinstance(obj, dict):
            raise QontoDecodeError("unexpected webhook subscription answer", body=body)
        return obj

    async def list_webhook_subscriptions(self) -> list[dict[str, Any]]:
        """Qonto lists them under ``subscriptions`` (docs: list-webhook-subscriptions);
        ``webhook_subscriptions`` is still read from older emulators and captures."""
        return [
            item
            async for item in self.iter_items(
                "/v2/webhook_subscriptions", ("subscriptions", "webhook_subscriptions")
            )
        ]

    async def get_webhook_subscription(self, id: str) -> dict[str, Any]:
        """One subscription (Qonto answers the bare object, without its secret)."""
        return await self._get_object(
            f"/v2/webhook_subscriptions/{segment(id)}", "webhook_subscription"
        )

    async def delete_webhook_subscription(self, id: str) -> None:
        await self.request("DELETE", f"/v2/webhook_subscriptions/{segment(id)}")
