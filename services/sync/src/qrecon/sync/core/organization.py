"""Reading Qonto's ``GET /v2/organization`` answer. No I/O."""

from __future__ import annotations

from typing import Any


def bank_accounts_of(organization: dict[str, Any]) -> list[dict[str, Any]]:
    """The organization's bank accounts that have an id (others are ignored)."""
    accounts = organization.get("bank_accounts")
    if isinstance(accounts, list):
        return [a for a in accounts if isinstance(a, dict) and a.get("id")]
    return []
