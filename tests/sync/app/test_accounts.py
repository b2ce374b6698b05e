"""Which bank accounts a connection reads (sync's discovery and backfill share the rule)."""

from __future__ import annotations

import json
from pathlib import Path

from qrecon.sync.app.accounts import discover_bank_accounts

from ..fakes import FakeQontoApi

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qonto"


async def test_the_organization_answer_names_the_accounts() -> None:
    api = FakeQontoApi(organization={"id": "org-1", "bank_accounts": [{"id": "ba-1"}]})
    assert await discover_bank_accounts(api, await api.get_organization()) == ["ba-1"]


async def test_an_organization_answer_without_account_ids_falls_back_to_the_accounts_list() -> None:
    """Qonto's documented GET /v2/organization example has bank accounts without ``id``:
    backfill used to find no account there and do nothing, silently."""
    documented = json.loads((FIXTURES / "organization.json").read_text())["organization"]
    assert all("id" not in account for account in documented["bank_accounts"])
    listed = [{**account, "id": f"ba-{n}"} for n, account in enumerate(documented["bank_accounts"])]
    api = FakeQontoApi(organization=documented, bank_accounts=listed)
    assert await discover_bank_accounts(api, documented) == [a["id"] for a in listed]
