"""Which bank accounts of a connection to read: the organization answer's, or the bank
accounts list when that answer names none with an id (Qonto's documented
``GET /v2/organization`` example lists bank accounts without ``id``)."""

from __future__ import annotations

from typing import Any

from qrecon.sync.app.ports import QontoApi
from qrecon.sync.core.organization import bank_accounts_of


async def discover_bank_accounts(client: QontoApi, organization: dict[str, Any]) -> list[str]:
    found = [str(a["id"]) for a in bank_accounts_of(organization)]
    if not found:
        found = [str(a["id"]) async for a in client.iter_bank_accounts() if a.get("id")]
    return found
