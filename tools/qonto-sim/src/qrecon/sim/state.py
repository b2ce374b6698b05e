"""The emulator's in-memory state: ``Simulator``, a facade over the stores of
``qrecon.sim.stores`` (accounts, auth, transactions, invoices, subscriptions, faults,
ground truth), the webhook dispatcher and the idempotency store, which it wires together.

Every store method takes the simulator's one lock, so the API (uvicorn's event loop), the
scenario player (a thread) and tests (any thread) can share one ``Simulator``. The routes
call the stores (``sim.transactions.query(...)``); the calls scripts, tests and the
scenario player make on the simulator (``sim.add_transaction(...)``) are the stores'
methods, bound in ``__init__``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from qrecon.sim.clock import Clock, parse_ts
from qrecon.sim.errors import NotFound
from qrecon.sim.events import TransactionEvents
from qrecon.sim.faults import Faults, RateLimiter
from qrecon.sim.idempotency import IdempotencyStore
from qrecon.sim.shapes import SubjectTypeCase
from qrecon.sim.stores.accounts import AccountStore
from qrecon.sim.stores.auth import API_KEY_SCOPES, SCOPES, AuthStore, Principal
from qrecon.sim.stores.base import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_LEGAL_NAME,
    DEFAULT_MAIN_IBAN,
    DEFAULT_ORG_SLUG,
    DEFAULT_REDIRECT_URI,
    DEFAULT_SECRET_KEY,
    DEFAULT_STAGING_TOKEN,
    PARIS,
    Ids,
    StoreContext,
    stable_uuid,
)
from qrecon.sim.stores.fault_state import FaultStore
from qrecon.sim.stores.ground_truth import GroundTruthStore
from qrecon.sim.stores.invoices import InvoiceStore
from qrecon.sim.stores.payment_links import PaymentLinkStore
from qrecon.sim.stores.resource_webhooks import ResourceWebhooks
from qrecon.sim.stores.subscriptions import SubscriptionStore
from qrecon.sim.stores.transaction_index import MIN_FILTER_DATE
from qrecon.sim.stores.transactions import TransactionStore
from qrecon.sim.webhooks import WebhookDispatcher, WebhookSettings

_PARIS = PARIS  # the name the scenario player imports

__all__ = [
    "API_KEY_SCOPES",
    "MIN_FILTER_DATE",
    "SCOPES",
    "Credentials",
    "Principal",
    "Simulator",
    "WebhookSettings",
    "stable_uuid",
]


@dataclass(frozen=True)
class Credentials:
    """What a Qonto user has in ``.env.local``, for the default organization."""

    organization_id: str
    login: str
    secret_key: str
    staging_token: str
    client_id: str
    client_secret: str
    redirect_uri: str
    bank_account_id: str
    iban: str

    @property
    def api_key_header(self) -> str:
        return f"{self.login}:{self.secret_key}"

    def to_dict(self) -> dict[str, str]:
        return {
            "organization_id": self.organization_id,
            "login": self.login,
            "secret_key": self.secret_key,
            "api_key_header": self.api_key_header,
            "staging_token": self.staging_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": self.redirect_uri,
            "bank_account_id": self.bank_account_id,
            "iban": self.iban,
        }


class Simulator:
    """In-memory Qonto. Thread-safe: every store method holds ``self.lock``."""

    def __init__(
        self,
        *,
        seed: int = 0,
        sandbox: bool = False,
        clock: Clock | None = None,
        webhook_settings: WebhookSettings | None = None,
        with_defaults: bool = True,
        strict: bool = True,
    ) -> None:
        self.lock = threading.RLock()
        # Strict (the default): the transactions list behaves as Qonto's does, not as its
        # documentation reads: a multi-status ``status[]`` answers its FIRST status only
        # (Qonto answers one; which one is not documented, the first given is the
        # deterministic choice), and a list without ``bank_account_id`` or ``iban`` is a
        # 422 (the list is documented per bank account). Lenient: every status listed, and
        # the whole organization without an account.
        self.strict = strict
        # subject_type in REST answers: "lower" as the documented examples (``transfer``),
        # "camel" as clients' captures of live answers (``Transfer``); both are read.
        self.rest_subject_type_case: SubjectTypeCase = "lower"
        self.clock = clock or Clock()
        self.seed = seed
        self.sandbox = sandbox
        self.sandbox_login_redirect = False  # sandbox without token: 302 to /login, not 200
        # "422": asking past the last page answers 422 (seen at Qonto); "empty": an empty page.
        self.past_last_page: Literal["422", "empty"] = "422"
        self.rate_limiter = RateLimiter()
        self.webhook_settings = webhook_settings or WebhookSettings()
        self.player: Any = None  # qrecon.sim.player.Player, set when a scenario plays
        self.scenario_info: dict[str, Any] | None = None
        self._with_defaults = with_defaults
        # First successful answers of writes by (organization, X-Qonto-Idempotency-Key).
        self.idempotency = IdempotencyStore(self.clock)

        ctx = StoreContext(self.lock, self.clock, Ids(seed))
        self._ids = ctx.ids
        self.webhooks = WebhookDispatcher(
            faults=lambda: self.fault_state.faults,
            settings=lambda: self.webhook_settings,
            clock=self.clock,
        )
        self.fault_state = FaultStore(ctx, on_seed=self.webhooks.set_fault_seed)
        self.accounts = AccountStore(ctx)
        self.auth = AuthStore(ctx, default_org=lambda: self.accounts.default_organization_id)
        self.subscriptions = SubscriptionStore(
            ctx, default_org=lambda: self.accounts.default_organization_id
        )
        self.transactions = TransactionStore(
            ctx,
            self.accounts,
            on_change=TransactionEvents(
                subscriptions=self.subscriptions,
                accounts=self.accounts,
                settings=lambda: self.webhook_settings,
                dispatcher=self.webhooks,
            ),
        )
        self.invoices = InvoiceStore(ctx, self.accounts)
        self.payment_links = PaymentLinkStore(
            ctx, invoices=self.invoices, subscriptions=self.subscriptions, dispatcher=self.webhooks
        )
        self.resource_webhooks = ResourceWebhooks(
            ctx, accounts=self.accounts, subscriptions=self.subscriptions, dispatcher=self.webhooks
        )
        self.truth = GroundTruthStore(
            ctx,
            transactions=self.transactions,
            invoices=self.invoices,
            accounts=self.accounts,
            webhook_log=self.webhooks.log,
            payment_links=self.payment_links.snapshot,
        )

        # What scripts, tests and the scenario player call on the simulator: the stores'
        # own methods (same signatures, same locking).
        self.set_faults = self.fault_state.set
        self.update_bank_account = self.resource_webhooks.update_bank_account
        self.bank_accounts = self.accounts.bank_accounts
        self.bank_account = self.accounts.bank_account
        self.mint_authorization_code = self.auth.mint_authorization_code
        self.add_transaction = self.transactions.add
        self.update_transaction = self.transactions.update
        self.add_attachment = self.transactions.add_attachment
        self.transaction = self.transactions.get
        self.transactions_latest = self.transactions.latest
        self.transaction_versions = self.transactions.versions
        self.add_supplier_invoice = self.invoices.add_supplier_invoice
        self.update_client_invoice = self.invoices.update_client_invoice
        self.update_supplier_invoice = self.invoices.update_supplier_invoice
        self.invoices_contract = self.invoices.contract
        self.create_payment_link = self.payment_links.create
        self.update_payment_link = self.payment_links.update
        self.set_allocation = self.truth.set_allocation
        self.allocations = self.truth.allocations
        self.ground_truth = self.truth.export
        self.add_webhook_subscription = self.subscriptions.add
        self.webhook_subscriptions = self.subscriptions.listing
        self.delete_webhook_subscription = self.subscriptions.delete

        if with_defaults:
            self._create_defaults()

    # ------------------------------------------------------------------ setup / reset

    def _create_defaults(self) -> None:
        org = self.add_organization(
            slug=DEFAULT_ORG_SLUG,
            legal_name=DEFAULT_LEGAL_NAME,
            secret_key=DEFAULT_SECRET_KEY,
            staging_token=DEFAULT_STAGING_TOKEN,
        )
        self.add_bank_account(
            organization_id=org["id"],
            name="Compte principal",
            iban=DEFAULT_MAIN_IBAN,
            main=True,
            balance_cents=2_500_000,
            id=stable_uuid("bank_account", DEFAULT_ORG_SLUG, "main"),
        )
        self.auth.add_oauth_client(
            client_id=DEFAULT_CLIENT_ID,
            client_secret=DEFAULT_CLIENT_SECRET,
            redirect_uris=[DEFAULT_REDIRECT_URI],
        )

    def _clear_data(self) -> None:
        self._ids.reset()
        self.accounts.clear_accounts()
        self.transactions.clear()
        self.invoices.clear()
        self.payment_links.clear()
        self.resource_webhooks.clear()
        self.truth.clear()
        self.idempotency.clear()

    def reset(
        self,
        *,
        keep_credentials: bool = False,
        keep_subscriptions: bool = False,
        keep_faults: bool = False,
    ) -> None:
        """Forget the data (transactions, invoices, ground truth).

        Without ``keep_credentials`` everything goes: organizations, keys, OAuth tokens,
        subscriptions, the clock; the defaults are recreated. With it (what loading or
        playing a scenario does), organizations, API keys, OAuth clients and tokens and
        the clock stay, and bank accounts come back with their initial balances.
        """
        player = self.player
        if player is not None:
            player.stop()
        with self.lock:
            subscriptions = self.subscriptions.snapshot()
            self._clear_data()
            if keep_credentials:
                self.accounts.restore_accounts()
                if not keep_subscriptions:
                    self.subscriptions.clear()
            else:
                self.accounts.clear()
                self.auth.clear()
                self.subscriptions.clear()
                if self._with_defaults:
                    self._create_defaults()
                if keep_subscriptions:
                    self.subscriptions.restore(subscriptions)
                self.clock.reset()
                self.rate_limiter.reset()
            if not keep_faults:
                self.fault_state.clear()
            self.scenario_info = None
            self.player = None
        self.webhooks.reset_log()

    def credentials(self, organization_id: str | None = None) -> Credentials:
        with self.lock:
            org_id = organization_id or self.accounts.default_organization_id
            if org_id is None or org_id not in self.accounts.organizations:
                raise NotFound("no such organization")
            login = self.accounts.organizations[org_id]["slug"]
            client_id, client = self.auth.client_of(org_id)
            main = self.accounts.main_account(org_id)
            return Credentials(
                organization_id=org_id,
                login=login,
                secret_key=self.auth.api_key_secret(login),
                staging_token=self.auth.staging_token_of(org_id),
                client_id=client_id,
                client_secret=client["client_secret"],
                redirect_uri=client["redirect_uris"][0] if client["redirect_uris"] else "",
                bank_account_id=main["id"] if main else "",
                iban=main["iban"] if main else "",
            )

    def status(self) -> dict[str, Any]:
        with self.lock:
            by_status, versions = self.transactions.counts()
            client_invoices, supplier_invoices = self.invoices.counts()
            player = self.player
            return {
                "clock": self.clock.describe(),
                "sandbox": self.sandbox,
                "transactions": self.transactions.count(),
                "transactions_by_status": by_status,
                "versions": versions,
                "client_invoices": client_invoices,
                "supplier_invoices": supplier_invoices,
                "bank_accounts": len(self.accounts.by_id),
                "webhook_subscriptions": len(self.subscriptions),
                "idempotency_keys": len(self.idempotency),
                "webhooks": self.webhooks.stats(),
                "faults": self.faults.to_dict(),
                "scenario": self.scenario_info,
                "player": player.status() if player is not None else None,
            }

    # ------------------------------------------------------------------ store settings

    @property
    def default_organization_id(self) -> str | None:
        return self.accounts.default_organization_id

    @property
    def faults(self) -> Faults:
        return self.fault_state.faults

    @property
    def storm_until(self) -> float:
        return self.fault_state.storm_until

    @storm_until.setter
    def storm_until(self, value: float) -> None:
        self.fault_state.storm_until = value

    @property
    def api_key_scopes(self) -> frozenset[str]:
        return self.auth.api_key_scopes

    @api_key_scopes.setter
    def api_key_scopes(self, value: frozenset[str]) -> None:
        self.auth.api_key_scopes = value

    @property
    def revoke_family_on_reuse(self) -> bool:
        return self.auth.revoke_family_on_reuse

    @revoke_family_on_reuse.setter
    def revoke_family_on_reuse(self, value: bool) -> None:
        self.auth.revoke_family_on_reuse = value

    # ------------------------------------------------------------------ accounts, clients
    def add_bank_account(self, *, notify: bool = True, **spec: Any) -> dict[str, Any]:
        """A bank account (``AccountStore.add_bank_account``), and its ``v1/accounts``
        ``created`` webhook."""
        with self.lock:
            account = self.accounts.add_bank_account(**spec)
            self.resource_webhooks.account_created(account["id"], notify=notify)
            return account

    def add_client_invoice(
        self, *, notify: bool = True, at: datetime | str | None = None, **spec: Any
    ) -> dict[str, Any]:
        """A client invoice (``InvoiceStore.add_client_invoice``); a client the organization
        had not invoiced yet (or whose details changed) sends its ``v1/clients`` webhook."""
        if isinstance(at, str):
            at = parse_ts(at)
        with self.lock:
            invoice = self.invoices.add_client_invoice(**spec)
            self.resource_webhooks.client_seen(
                invoice["organization_id"], invoice["client"], at=at, notify=notify
            )
            return invoice

    # ------------------------------------------------------------------ organizations

    def add_organization(
        self,
        *,
        slug: str,
        legal_name: str | None = None,
        id: str | None = None,
        secret_key: str | None = None,
        staging_token: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """An organization with its API key (and staging token; the first organization
        always gets one and becomes the default)."""
        with self.lock:
            org = self.accounts.add_organization(slug=slug, legal_name=legal_name, id=id, **extra)
            self.auth.add_api_key(slug, secret_key, org["id"])
            if staging_token or self.accounts.default_organization_id is None:
                self.auth.add_staging_token(staging_token, org["id"])
            if self.accounts.default_organization_id is None:
                self.accounts.default_organization_id = org["id"]
            return org

    def regenerate_api_key(self, organization_id: str | None = None) -> str:
        """Qonto: regenerating the key revokes the old one."""
        with self.lock:
            return self.auth.regenerate_api_key(
                organization_id or self.accounts.default_organization_id
            )

    @property
    def transaction_count(self) -> int:
        return self.transactions.count()
