"""The other resources: the organization and its bank accounts, client and supplier
invoices, webhook subscriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from qrecon.common.qonto.errors import QontoDecodeError
from qrecon.common.qonto.listing import QontoLister
from qrecon.common.qonto.transport import segment, unwrap

__all__ = ["InvoicesApi", "OrganizationApi", "WebhookSubscriptionsApi"]


class OrganizationApi(QontoLister):
    """The organization and its bank accounts."""

    async def get_organization(self) -> dict[str, Any]:
        return await self._get_object("/v2/organization", "organization")

    def iter_bank_accounts(self, *, per_page: int = 100) -> AsyncIterator[dict[str, Any]]:
        return self.iter_items("/v2/bank_accounts", "bank_accounts", per_page=per_page)

    async def get_bank_account(self, id: str) -> dict[str, Any]:
        return await self._get_object(f"/v2/bank_accounts/{segment(id)}", "bank_account")


class InvoicesApi(QontoLister):
    """Client and supplier invoices (lists of raw objects)."""

    def iter_client_invoices(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        """``GET /v2/client_invoices`` (scope ``client_invoices.read``); filters pass
        through as query parameters (lists become ``key[]``), ``per_page`` included."""
        per_page = int(filters.pop("per_page", 100))
        return self.iter_items("/v2/client_invoices", "client_invoices", filters, per_page=per_page)

    def iter_supplier_invoices(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        """``GET /v2/supplier_invoices`` (scope ``supplier_invoice.read``)."""
        per_page = int(filters.pop("per_page", 100))
        return self.iter_items(
            "/v2/supplier_invoices", "supplier_invoices", filters, per_page=per_page
        )


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
