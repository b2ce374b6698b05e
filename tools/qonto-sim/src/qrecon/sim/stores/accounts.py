"""Organizations and their bank accounts (balances follow the transactions)."""

from __future__ import annotations

from typing import Any

from qrecon.sim.clock import format_ts
from qrecon.sim.errors import NotFound
from qrecon.sim.shapes import cents_to_float
from qrecon.sim.stores.base import StoreContext, stable_uuid


class AccountStore:
    """Organizations (the first one added is the default) and bank accounts."""

    def __init__(self, ctx: StoreContext) -> None:
        self._lock = ctx.lock
        self._clock = ctx.clock
        self._ids = ctx.ids
        self.organizations: dict[str, dict[str, Any]] = {}
        self.default_organization_id: str | None = None
        self._specs: dict[str, dict[str, Any]] = {}  # to recreate accounts on reset
        self.clear_accounts()

    def clear_accounts(self) -> None:
        """Forget the bank accounts (``restore_accounts`` brings them back as created)."""
        self.by_id: dict[str, dict[str, Any]] = {}  # bank accounts (live records)
        self._pending_debits: dict[str, int] = {}

    def clear(self) -> None:
        """Forget the organizations too (and the accounts' specs)."""
        self.organizations = {}
        self._specs = {}
        self.default_organization_id = None

    def restore_accounts(self) -> None:
        """Recreate every account as it was added (initial balance, same id)."""
        for spec in list(self._specs.values()):
            self.add_bank_account(**spec)

    # ------------------------------------------------------------------ organizations

    def add_organization(
        self, *, slug: str, legal_name: str | None = None, id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        with self._lock:
            org_id = id or stable_uuid("organization", slug)
            org: dict[str, Any] = {
                "id": org_id,
                "slug": slug,
                "legal_name": legal_name or slug.upper(),
                "locale": "fr",
                "legal_share_capital": 10000.0,
                "legal_country": "FR",
                "legal_registration_date": "2019-03-01",
                "legal_form": "SAS",
                "legal_address": "12 rue de la Paix, 75002 Paris",
                "legal_sector": "6201Z",
                "contract_signed_at": "2019-03-04T10:00:00.000Z",
                "legal_number": "852369741",
            }
            org.update(extra)
            self.organizations[org_id] = org
            return dict(org)

    def organization(self, organization_id: str) -> dict[str, Any]:
        with self._lock:
            org = self.organizations.get(organization_id)
            if org is None:
                raise NotFound("organization not found")
            result = dict(org)
            result["bank_accounts"] = self.bank_accounts(organization_id)
            return result

    # ------------------------------------------------------------------ bank accounts

    def add_bank_account(
        self,
        *,
        organization_id: str | None = None,
        name: str = "Compte principal",
        iban: str | None = None,
        bic: str = "QNTOFRP1XXX",
        main: bool = False,
        balance_cents: int = 0,
        currency: str = "EUR",
        id: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            org_id = organization_id or self.default_organization_id
            if org_id is None or org_id not in self.organizations:
                raise NotFound("organization not found")
            if iban is None:
                from qrecon.world.ibans import qonto_iban

                iban = qonto_iban(self._ids.rng)
            account_id = id or stable_uuid("bank_account", org_id, iban)
            account = {
                "id": account_id,
                "slug": f"{self.organizations[org_id]['slug']}-bank-account-{len(self.by_id) + 1}",
                "name": name,
                "organization_id": org_id,
                "status": "active",
                "main": main,
                "iban": iban,
                "bic": bic,
                "currency": currency,
                "balance": cents_to_float(balance_cents),
                "balance_cents": balance_cents,
                "authorized_balance": cents_to_float(balance_cents),
                "authorized_balance_cents": balance_cents,
                "updated_at": format_ts(self._clock.now()),
                "is_external_account": False,
                "account_number": iban[-13:-2] if len(iban) > 13 else iban,
            }
            self.by_id[account_id] = account
            self._specs[account_id] = {
                "organization_id": org_id,
                "name": name,
                "iban": iban,
                "bic": bic,
                "main": main,
                "balance_cents": balance_cents,
                "currency": currency,
                "id": account_id,
            }
            self._pending_debits[account_id] = 0
            return dict(account)

    def main_account(self, org_id: str) -> dict[str, Any] | None:
        """The organization's main account (else its first), the live record."""
        accounts = [a for a in self.by_id.values() if a["organization_id"] == org_id]
        for account in accounts:
            if account["main"]:
                return account
        return accounts[0] if accounts else None

    def bank_accounts(self, organization_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            org_id = organization_id or self.default_organization_id
            return [dict(a) for a in self.by_id.values() if a["organization_id"] == org_id]

    def bank_account(self, account_id: str, organization_id: str | None = None) -> dict[str, Any]:
        with self._lock:
            account = self.by_id.get(account_id)
            if account is None or (
                organization_id is not None and account["organization_id"] != organization_id
            ):
                raise NotFound("bank account not found")
            return dict(account)

    def by_iban(self, iban: str, org_id: str | None) -> dict[str, Any] | None:
        """The live record of the account with this IBAN (spaces and case ignored)."""
        compact = iban.replace(" ", "").upper()
        for account in self.by_id.values():
            if account["iban"] == compact and (
                org_id is None or account["organization_id"] == org_id
            ):
                return account
        return None

    def apply_balance(self, account_id: str, signed_cents: int, pending_debit_delta: int) -> int:
        """Move the balance (and the pending debits); answers the new balance in cents."""
        account = self.by_id[account_id]
        account["balance_cents"] += signed_cents
        self._pending_debits[account_id] += pending_debit_delta
        account["balance"] = cents_to_float(account["balance_cents"])
        authorized = account["balance_cents"] - self._pending_debits[account_id]
        account["authorized_balance_cents"] = authorized
        account["authorized_balance"] = cents_to_float(authorized)
        account["updated_at"] = format_ts(self._clock.now())
        return int(account["balance_cents"])

    def snapshot(self) -> list[dict[str, Any]]:
        """Every account (ground truth)."""
        return [dict(a) for a in self.by_id.values()]
