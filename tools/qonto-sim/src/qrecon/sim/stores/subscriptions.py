"""Webhook subscriptions (what the webhook dispatcher sends to, and with which secret)."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from qrecon.sim.clock import format_ts
from qrecon.sim.errors import NotFound, Unprocessable
from qrecon.sim.stores.base import StoreContext, stable_uuid


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SubscriptionStore:
    def __init__(self, ctx: StoreContext, default_org: Callable[[], str | None]) -> None:
        self._lock = ctx.lock
        self._clock = ctx.clock
        self._ids = ctx.ids
        self._default_org = default_org
        self._subscriptions: dict[str, dict[str, Any]] = {}

    def clear(self) -> None:
        self._subscriptions.clear()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The subscriptions as they are, for ``restore`` after a reset."""
        with self._lock:
            return dict(self._subscriptions)

    def restore(self, subscriptions: dict[str, dict[str, Any]]) -> None:
        with self._lock:
            self._subscriptions.update(subscriptions)

    def add(
        self,
        *,
        callback_url: str,
        types: Iterable[str] = ("v1/transactions",),
        secret: str | None = None,
        description: str | None = None,
        organization_id: str | None = None,
        strict: bool = False,
    ) -> dict[str, Any]:
        """Subscribe ``callback_url``; answers with the secret (generated if omitted).

        ``strict`` applies Qonto's API rules (HTTPS callback except loopback, secret of
        32 to 128 characters); the admin API is lenient.
        """
        types_list = list(types)
        if not types_list:
            raise Unprocessable("types must not be empty", parameter="types")
        parts = urlsplit(callback_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Unprocessable("callback_url must be a URL", parameter="callback_url")
        if strict:
            if parts.scheme != "https" and not _is_loopback(parts.hostname):
                raise Unprocessable("callback_url must use HTTPS", parameter="callback_url")
            if secret is not None and not 32 <= len(secret) <= 128:
                raise Unprocessable("secret must be 32 to 128 characters", parameter="secret")
        with self._lock:
            org_id = organization_id or self._default_org()
            now = format_ts(self._clock.now())
            subscription: dict[str, Any] = {
                "id": self._ids.new_id(),
                "organization_id": org_id,
                "membership_id": stable_uuid("membership", org_id),
                "callback_url": callback_url,
                "types": types_list,
                "secret": secret or secrets.token_hex(32),
                "created_at": now,
                "updated_at": now,
            }
            if description is not None:  # Qonto omits an absent description (not null)
                subscription["description"] = description
            self._subscriptions[subscription["id"]] = subscription
            return dict(subscription)

    def listing(
        self, organization_id: str | None = None, *, with_secret: bool = False
    ) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for sub in self._subscriptions.values():
                if organization_id is not None and sub["organization_id"] != organization_id:
                    continue
                item = dict(sub)
                if not with_secret:
                    item.pop("secret")
                out.append(item)
            return out

    def get(self, subscription_id: str) -> dict[str, Any]:
        with self._lock:
            sub = self._subscriptions.get(subscription_id)
            if sub is None:
                raise NotFound("webhook subscription not found")
            return dict(sub)

    def delete(self, subscription_id: str, organization_id: str | None = None) -> None:
        with self._lock:
            sub = self._subscriptions.get(subscription_id)
            if sub is None or (
                organization_id is not None and sub["organization_id"] != organization_id
            ):
                raise NotFound("webhook subscription not found")
            del self._subscriptions[subscription_id]

    def subscribed(self, organization_id: str, event_type: str) -> list[dict[str, Any]]:
        """The live records subscribed to ``event_type`` for the organization."""
        return [
            s
            for s in self._subscriptions.values()
            if s["organization_id"] == organization_id and event_type in s["types"]
        ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._subscriptions)
