"""The emulator's in-memory state: organizations, accounts, credentials, transactions (with
every version), invoices, webhook subscriptions, faults and the ground truth.

Every public method takes the simulator's lock, so the API (uvicorn's event loop), the
scenario player (a thread) and tests (any thread) can share one ``Simulator``.

Transactions are indexed by (scope, status, sort field), with scope a bank account or a
whole organization, as sorted lists of ``(timestamp, id)``: a page of the common query
(one account or organization, one status or all three, a range on the sort field) is a
slice, without sorting or scanning 100k items per request.
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import hashlib
import heapq
import hmac
import ipaddress
import json
import random
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from qrecon.common.money import to_cents
from qrecon.sim.clock import Clock, format_ts, parse_ts
from qrecon.sim.errors import Forbidden, NotFound, OAuthError, SimError, Unauthorized, Unprocessable
from qrecon.sim.faults import Faults, RateLimiter
from qrecon.sim.idempotency import IdempotencyStore
from qrecon.sim.shapes import (
    MONEY_FIELDS,
    NESTED_SUBJECTS,
    STATUSES,
    SUBJECT_TYPES,
    AmountFormat,
    cents_to_float,
    client_invoice_contract,
    date_value,
    money_object,
    public,
    supplier_invoice_contract,
    ts_value,
    webhook_data,
)

NAMESPACE = uuid.UUID("0b8f2c1e-5d4a-4e6b-9c3f-7a1d2e3f4a5b")
# Invoices carry Paris offsets (``+02:00``), unlike transactions (UTC ``Z``).
_PARIS = ZoneInfo("Europe/Paris")

DEFAULT_ORG_SLUG = "acme-sas-1234"
DEFAULT_LEGAL_NAME = "ACME SAS"
DEFAULT_SECRET_KEY = "sk_test_acme_sas_4f9c2b7e1d3a8c60"  # noqa: S105 - the emulator\'s test credentials
DEFAULT_STAGING_TOKEN = "stg_test_acme_sas_9d2e7c41b8a3f056"  # noqa: S105 - the emulator\'s test credentials
DEFAULT_CLIENT_ID = "qrecon-test-client"
DEFAULT_CLIENT_SECRET = "qrecon-test-client-secret"  # noqa: S105 - the emulator\'s test credentials
DEFAULT_REDIRECT_URI = "http://127.0.0.1/oauth/callback"
DEFAULT_MAIN_IBAN = "FR7616958000010123456789037"

SCOPES = (
    "openid",
    "offline_access",
    "organization.read",
    "client_invoices.read",
    "supplier_invoice.read",
    "webhook",
)
API_KEY_SCOPES = ("organization.read", "client_invoices.read", "supplier_invoice.read")
ACCESS_TOKEN_TTL = timedelta(hours=1)
REFRESH_TOKEN_TTL = timedelta(days=90)
REFRESH_GRACE = timedelta(seconds=60)
AUTH_CODE_TTL = timedelta(minutes=10)
MIN_FILTER_DATE = "2017-01-01T00:00:00.000Z"
FILTER_ONLY_STATUSES = frozenset({"reversed"})

SortField = Literal["settled_at", "updated_at"]
TX_FIELDS_SETTABLE = frozenset(
    {
        "amount",
        "amount_cents",
        "local_amount",
        "local_amount_cents",
        "currency",
        "local_currency",
        "side",
        "operation_type",
        "status",
        "label",
        "clean_counterparty_name",
        "reference",
        "note",
        "category",
        "settled_at",
        "emitted_at",
        "vat_amount",
        "vat_amount_cents",
        "vat_rate",
        "initiator_id",
        "label_ids",
        "attachment_ids",
        "attachment_lost",
        "attachment_required",
        "card_last_digits",
        "is_external_transaction",
        "cashflow_category",
        "cashflow_subcategory",
    }
)


def stable_uuid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


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


@dataclass(frozen=True)
class Principal:
    """Who is calling: the organization, how (API key or bearer) and with which scopes."""

    organization_id: str
    kind: Literal["api_key", "bearer"]
    scopes: frozenset[str]


@dataclass
class WebhookSettings:
    """How webhooks are sent (the transport is in ``qrecon.sim.webhooks``)."""

    timeout: float = 1.0  # Qonto waits 1 s for a 2xx
    max_attempts: int = 6  # first try + retries, then given up
    backoff_base: float = 1.0  # seconds before the first retry, doubling
    backoff_max: float = 60.0
    amount_format: AmountFormat = "number"
    bank_account_style: Literal["object", "id", "both"] = "object"

    def to_dict(self) -> dict[str, Any]:
        return {
            "timeout": self.timeout,
            "max_attempts": self.max_attempts,
            "backoff_base": self.backoff_base,
            "backoff_max": self.backoff_max,
            "amount_format": self.amount_format,
            "bank_account_style": self.bank_account_style,
        }


@dataclass
class _Token:
    organization_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: datetime
    family: str
    rotated_at: datetime | None = None
    revoked: bool = False


@dataclass
class _Code:
    organization_id: str
    client_id: str
    scopes: frozenset[str]
    redirect_uri: str | None
    expires_at: datetime
    used: bool = False


@dataclass
class _Query:
    scope: str
    statuses: tuple[str, ...]
    sort_field: SortField
    descending: bool
    ranges: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    side: str | None = None
    operation_types: tuple[str, ...] = ()
    with_attachments: bool | None = None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Simulator:
    """In-memory Qonto. Thread-safe: every public method holds ``self.lock``."""

    def __init__(
        self,
        *,
        seed: int = 0,
        sandbox: bool = False,
        clock: Clock | None = None,
        webhook_settings: WebhookSettings | None = None,
        with_defaults: bool = True,
    ) -> None:
        from qrecon.sim.webhooks import WebhookDispatcher

        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.seed = seed
        self.sandbox = sandbox
        self.faults = Faults()
        # First successful answers of writes by (organization, X-Qonto-Idempotency-Key).
        self.idempotency = IdempotencyStore(self.clock)
        self.storm_until = 0.0  # monotonic time until which every API request gets a 429
        self.sandbox_login_redirect = False  # sandbox without token: 302 to /login, not 200
        self.rate_limiter = RateLimiter()
        self.api_key_scopes: frozenset[str] = frozenset(API_KEY_SCOPES)
        # "422": asking past the last page answers 422 (seen at Qonto); "empty": an empty page.
        self.past_last_page: Literal["422", "empty"] = "422"
        # Hydra-style reuse detection: a dead refresh token revokes its whole family.
        self.revoke_family_on_reuse = True
        self.webhook_settings = webhook_settings or WebhookSettings()
        self.webhooks = WebhookDispatcher(self)
        self.player: Any = None  # qrecon.sim.player.Player, set when a scenario plays
        self.scenario_info: dict[str, Any] | None = None
        self._with_defaults = with_defaults
        self._init_data()
        self._init_credentials()
        if with_defaults:
            self._create_defaults()

    # ------------------------------------------------------------------ setup / reset

    def _init_data(self) -> None:
        self._rng = random.Random(self.seed)
        self._bank_accounts: dict[str, dict[str, Any]] = {}
        self._pending_debits: dict[str, int] = {}
        self._tx: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._tx_order: list[str] = []
        self._tx_org: dict[str, str] = {}
        self._slug_counter: dict[str, int] = {}
        self._index: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
        self._mutations = 0
        self._qcache: OrderedDict[Any, tuple[int, list[str]]] = OrderedDict()
        self._client_invoices: dict[str, dict[str, Any]] = {}
        self._supplier_invoices: dict[str, dict[str, Any]] = {}
        self._allocations: dict[str, dict[str, Any]] = {}
        self._labels: dict[str, dict[str, Any]] = {}
        self._attachments: dict[str, dict[str, Any]] = {}
        self.idempotency.clear()

    def _init_credentials(self) -> None:
        self._organizations: dict[str, dict[str, Any]] = {}
        self._api_keys: dict[str, tuple[str, str]] = {}  # login -> (secret, organization id)
        self._staging_tokens: dict[str, str] = {}  # token -> organization id
        self._oauth_clients: dict[str, dict[str, Any]] = {}
        self._codes: dict[str, _Code] = {}
        self._access_tokens: dict[str, _Token] = {}
        self._refresh_tokens: dict[str, _Token] = {}
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._account_specs: dict[str, dict[str, Any]] = {}  # to recreate accounts on reset
        self.default_organization_id: str | None = None

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
        self.add_oauth_client(
            client_id=DEFAULT_CLIENT_ID,
            client_secret=DEFAULT_CLIENT_SECRET,
            redirect_uris=[DEFAULT_REDIRECT_URI],
        )

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
            subscriptions = dict(self._subscriptions)
            self._init_data()
            if keep_credentials:
                for spec in list(self._account_specs.values()):
                    self.add_bank_account(**spec)
                if not keep_subscriptions:
                    self._subscriptions.clear()
            else:
                self._init_credentials()
                if self._with_defaults:
                    self._create_defaults()
                if keep_subscriptions:
                    self._subscriptions.update(subscriptions)
                self.clock.reset()
                self.rate_limiter.reset()
            if not keep_faults:
                self.faults = Faults()
                self.storm_until = 0.0
            self.scenario_info = None
            self.player = None
        self.webhooks.reset_log()

    def credentials(self, organization_id: str | None = None) -> Credentials:
        with self.lock:
            org_id = organization_id or self.default_organization_id
            if org_id is None or org_id not in self._organizations:
                raise NotFound("no such organization")
            org = self._organizations[org_id]
            login = org["slug"]
            secret, _ = self._api_keys[login]
            staging = next((t for t, o in self._staging_tokens.items() if o == org_id), "")
            fallback: dict[str, Any] = {"client_secret": "", "redirect_uris": [""]}
            client_id, client = next(
                (
                    (cid, c)
                    for cid, c in self._oauth_clients.items()
                    if c["organization_id"] == org_id
                ),
                ("", fallback),
            )
            main = self._main_account(org_id)
            return Credentials(
                organization_id=org_id,
                login=login,
                secret_key=secret,
                staging_token=staging,
                client_id=client_id,
                client_secret=client["client_secret"],
                redirect_uri=client["redirect_uris"][0] if client["redirect_uris"] else "",
                bank_account_id=main["id"] if main else "",
                iban=main["iban"] if main else "",
            )

    def new_id(self) -> str:
        with self.lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

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
        with self.lock:
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
            self._organizations[org_id] = org
            self._api_keys[slug] = (secret_key or f"sk_test_{secrets.token_hex(12)}", org_id)
            if staging_token or self.default_organization_id is None:
                self._staging_tokens[staging_token or f"stg_{secrets.token_hex(12)}"] = org_id
            if self.default_organization_id is None:
                self.default_organization_id = org_id
            return dict(org)

    def regenerate_api_key(self, organization_id: str | None = None) -> str:
        """Qonto: regenerating the key revokes the old one."""
        with self.lock:
            org_id = organization_id or self.default_organization_id
            for login, (_, owner) in list(self._api_keys.items()):
                if owner == org_id:
                    new_secret = f"sk_test_{secrets.token_hex(12)}"
                    self._api_keys[login] = (new_secret, owner)
                    return new_secret
            raise NotFound("no such organization")

    def organization(self, organization_id: str) -> dict[str, Any]:
        with self.lock:
            org = self._organizations.get(organization_id)
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
        with self.lock:
            org_id = organization_id or self.default_organization_id
            if org_id is None or org_id not in self._organizations:
                raise NotFound("organization not found")
            if iban is None:
                from qrecon.sim.ibans import qonto_iban

                iban = qonto_iban(self._rng)
            account_id = id or stable_uuid("bank_account", org_id, iban)
            account = {
                "id": account_id,
                "slug": f"{self._organizations[org_id]['slug']}-bank-account-"
                f"{len(self._bank_accounts) + 1}",
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
                "updated_at": format_ts(self.clock.now()),
                "is_external_account": False,
                "account_number": iban[-13:-2] if len(iban) > 13 else iban,
            }
            self._bank_accounts[account_id] = account
            self._account_specs[account_id] = {
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

    def _main_account(self, org_id: str) -> dict[str, Any] | None:
        accounts = [a for a in self._bank_accounts.values() if a["organization_id"] == org_id]
        for account in accounts:
            if account["main"]:
                return account
        return accounts[0] if accounts else None

    def bank_accounts(self, organization_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            org_id = organization_id or self.default_organization_id
            return [dict(a) for a in self._bank_accounts.values() if a["organization_id"] == org_id]

    def bank_account(self, account_id: str, organization_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            account = self._bank_accounts.get(account_id)
            if account is None or (
                organization_id is not None and account["organization_id"] != organization_id
            ):
                raise NotFound("bank account not found")
            return dict(account)

    def _account_by_iban(self, iban: str, org_id: str | None) -> dict[str, Any] | None:
        compact = iban.replace(" ", "").upper()
        for account in self._bank_accounts.values():
            if account["iban"] == compact and (
                org_id is None or account["organization_id"] == org_id
            ):
                return account
        return None

    def _apply_balance(self, account_id: str, signed_cents: int, pending_debit_delta: int) -> int:
        account = self._bank_accounts[account_id]
        account["balance_cents"] += signed_cents
        self._pending_debits[account_id] += pending_debit_delta
        account["balance"] = cents_to_float(account["balance_cents"])
        authorized = account["balance_cents"] - self._pending_debits[account_id]
        account["authorized_balance_cents"] = authorized
        account["authorized_balance"] = cents_to_float(authorized)
        account["updated_at"] = format_ts(self.clock.now())
        return int(account["balance_cents"])

    # ------------------------------------------------------------------ transactions

    def _stamp(self, previous: str | None = None, at: datetime | str | None = None) -> str:
        """Now (or ``at``) in Qonto's format, strictly after ``previous`` (a frozen clock
        still moves)."""
        if at is None:
            stamp = format_ts(self.clock.now())
        else:
            stamp = ts_value(at) or format_ts(self.clock.now())
        if previous is not None and stamp <= previous:
            stamp = format_ts(parse_ts(previous) + timedelta(milliseconds=1))
        return stamp

    def add_transaction(
        self, *, notify: bool = True, at: datetime | str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Create a transaction from Qonto fields; returns its REST shape.

        Money as ``amount_cents`` (int) or ``amount`` (decimal/str); ``side`` ``credit`` or
        ``debit``; ``counterparty={"name", "iban", "bic"}`` fills the nested subject object;
        ``bank_account_id`` (or ``iban``) defaults to the main account. ``created_at`` and
        ``updated_at`` come from ``sim.clock`` (or ``at``: scenarios stamp their planned
        business time). ``notify=False`` sends no webhook.
        """
        with self.lock:
            tx = self._build_transaction(fields, at)
            tx_id = tx["id"]
            if tx_id in self._tx:
                raise SimError(f"transaction {tx_id} already exists", status=409, code="conflict")
            account_id = tx["bank_account_id"]
            amount = int(tx["amount_cents"])
            if tx["status"] == "completed":
                signed = amount if tx["side"] == "credit" else -amount
                balance = self._apply_balance(account_id, signed, 0)
                tx["settled_balance_cents"] = balance
                tx["settled_balance"] = cents_to_float(balance)
            elif tx["status"] == "pending" and tx["side"] == "debit":
                self._apply_balance(account_id, 0, amount)
            self._tx[tx_id] = tx
            self._tx_org[tx_id] = self._bank_accounts[account_id]["organization_id"]
            self._versions[tx_id] = [("created", tx)]
            self._tx_order.append(tx_id)
            self._index_add(tx)
            self._mutations += 1
            self._emit("created", tx, notify)
            return dict(tx)

    def _build_transaction(
        self, fields: dict[str, Any], at: datetime | str | None = None
    ) -> dict[str, Any]:
        data = dict(fields)
        account = None
        if data.get("bank_account_id"):
            account = self._bank_accounts.get(data.pop("bank_account_id"))
            if account is None:
                raise NotFound("bank account not found")
        elif data.get("iban"):
            account = self._account_by_iban(data.pop("iban"), None)
            if account is None:
                raise NotFound("bank account not found")
        else:
            data.pop("iban", None)
            data.pop("bank_account_id", None)
            if self.default_organization_id is None:
                raise NotFound("no organization")
            account = self._main_account(self.default_organization_id)
            if account is None:
                raise NotFound("no bank account")
        org = self._organizations[account["organization_id"]]
        side = str(data.pop("side", "credit")).lower()
        if side not in ("credit", "debit"):
            raise Unprocessable(f"side must be credit or debit, got {side!r}")
        status = str(data.pop("status", "completed")).lower()
        if status not in STATUSES:
            raise Unprocessable(f"status must be one of {STATUSES}, got {status!r}")
        operation_type = data.pop("operation_type", None) or (
            "income" if side == "credit" else "transfer"
        )
        subject_type = data.pop("subject_type", None) or SUBJECT_TYPES.get(operation_type, "other")
        currency = data.pop("currency", account["currency"])
        amount_cents = self._cents(data, "amount")
        if amount_cents is None:
            raise Unprocessable("amount or amount_cents is required")
        if amount_cents < 0:
            raise Unprocessable("amounts are positive; side gives the direction")
        local_cents = self._cents(data, "local_amount")
        vat_cents = self._cents(data, "vat_amount")
        counterparty = data.pop("counterparty", None) or {}
        label = data.pop("label", None) or counterparty.get("name") or "Unknown"
        org_slug = org["slug"]
        self._slug_counter[org_slug] = self._slug_counter.get(org_slug, 0) + 1
        tx_id = data.pop("id", None) or self.new_id()
        now = self._stamp(at=at)
        emitted = ts_value(data.pop("emitted_at", None)) or now
        settled_in = data.pop("settled_at", None)
        settled = ts_value(settled_in) if settled_in is not None else None
        if status == "completed" and settled is None:
            settled = now
        if status != "completed":
            settled = None
        tx: dict[str, Any] = {
            "id": tx_id,
            "transaction_id": data.pop("transaction_id", None)
            or f"{org_slug}-transaction-{self._slug_counter[org_slug]}",
            "amount": cents_to_float(amount_cents),
            "amount_cents": amount_cents,
            "settled_balance": None,
            "settled_balance_cents": None,
            "attachment_ids": list(data.pop("attachment_ids", [])),
            "local_amount": cents_to_float(
                local_cents if local_cents is not None else amount_cents
            ),
            "local_amount_cents": local_cents if local_cents is not None else amount_cents,
            "side": side,
            "operation_type": operation_type,
            "currency": currency,
            "local_currency": data.pop("local_currency", currency),
            "label": label,
            "clean_counterparty_name": data.pop("clean_counterparty_name", None) or label,
            "settled_at": settled,
            "emitted_at": emitted,
            "created_at": now,
            "updated_at": now,
            "status": status,
            "note": data.pop("note", None),
            "reference": data.pop("reference", None),
            "vat_amount": cents_to_float(vat_cents) if vat_cents is not None else None,
            "vat_amount_cents": vat_cents,
            "vat_rate": data.pop("vat_rate", None),
            "initiator_id": data.pop("initiator_id", None),
            "label_ids": list(data.pop("label_ids", [])),
            "attachment_lost": bool(data.pop("attachment_lost", False)),
            "attachment_required": bool(data.pop("attachment_required", side == "debit")),
            "card_last_digits": data.pop("card_last_digits", None),
            "category": data.pop("category", "other_income" if side == "credit" else "other"),
            "cashflow_category": data.pop("cashflow_category", None),
            "cashflow_subcategory": data.pop("cashflow_subcategory", None),
            "subject_type": subject_type,
            "bank_account_id": account["id"],
            "is_external_transaction": bool(data.pop("is_external_transaction", False)),
        }
        nested = data.pop(subject_type, None)
        if nested is None and subject_type in NESTED_SUBJECTS:
            nested = {
                "counterparty_account_number": counterparty.get("iban"),
                "counterparty_account_number_format": "IBAN" if counterparty.get("iban") else None,
                "counterparty_bank_identifier": counterparty.get("bic"),
                "counterparty_bank_identifier_format": (
                    "SWIFT_BIC" if counterparty.get("bic") else None
                ),
                "counterparty_name": counterparty.get("name") or label,
            }
            if subject_type.startswith("direct_debit"):
                nested["creditor_identifier"] = counterparty.get("creditor_identifier")
                nested["mandate_reference"] = counterparty.get("mandate_reference")
        if nested is not None:
            tx[subject_type] = nested
        for key, value in data.items():  # undeclared fields are kept, as Qonto's drift
            tx[key] = value
        return tx

    @staticmethod
    def _cents(data: dict[str, Any], major: str) -> int | None:
        cents = data.pop(f"{major}_cents", None)
        value = data.pop(major, None)
        if cents is not None:
            if isinstance(cents, bool) or not isinstance(cents, int):
                raise Unprocessable(f"{major}_cents must be an integer")
            return cents
        if value is not None:
            try:
                return to_cents(value)
            except ValueError as exc:
                raise Unprocessable(str(exc)) from exc
        return None

    def update_transaction(
        self,
        transaction_id: str,
        *,
        notify: bool = True,
        at: datetime | str | None = None,
        **changes: Any,
    ) -> dict[str, Any]:
        """Change fields of a transaction: bumps ``updated_at``, records a version, and
        sends an ``updated`` webhook (unless ``notify=False``)."""
        with self.lock:
            old = self._tx.get(transaction_id)
            if old is None:
                raise NotFound("transaction not found")
            new = dict(old)
            data = dict(changes)
            for major, cents_key in MONEY_FIELDS:
                if major in data or cents_key in data:
                    cents = self._cents(data, major)
                    new[cents_key] = cents
                    new[major] = cents_to_float(cents) if cents is not None else None
            for key in ("settled_at", "emitted_at"):
                if key in data:
                    new[key] = ts_value(data.pop(key))
            for key, value in data.items():
                if key in ("id", "created_at", "updated_at", "bank_account_id", "transaction_id"):
                    raise Unprocessable(f"{key} cannot be changed")
                if key in ("side", "status") and isinstance(value, str):
                    value = value.lower()
                new[key] = list(value) if isinstance(value, (list, tuple)) else value
            if new["status"] not in STATUSES:
                raise Unprocessable(f"status must be one of {STATUSES}")
            if new["side"] not in ("credit", "debit"):
                raise Unprocessable("side must be credit or debit")
            new["updated_at"] = self._stamp(old["updated_at"], at)
            self._settle(old, new)
            self._index_remove(old)
            self._tx[transaction_id] = new
            self._versions[transaction_id].append(("updated", new))
            self._index_add(new)
            self._mutations += 1
            self._emit("updated", new, notify)
            return dict(new)

    def _settle(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Balances follow status transitions (pending -> completed/declined)."""
        account_id = new["bank_account_id"]
        old_amount, new_amount = int(old["amount_cents"]), int(new["amount_cents"])
        pending_delta = 0
        if old["status"] == "pending" and old["side"] == "debit":
            pending_delta -= old_amount
        if new["status"] == "pending" and new["side"] == "debit":
            pending_delta += new_amount
        signed = 0
        if old["status"] == "completed":
            signed -= old_amount if old["side"] == "credit" else -old_amount
        if new["status"] == "completed":
            signed += new_amount if new["side"] == "credit" else -new_amount
        if signed or pending_delta:
            balance = self._apply_balance(account_id, signed, pending_delta)
        else:
            balance = int(self._bank_accounts[account_id]["balance_cents"])
        if new["status"] == "completed" and old["status"] != "completed":
            if new.get("settled_at") is None or new["settled_at"] == old.get("settled_at"):
                new["settled_at"] = new["settled_at"] or new["updated_at"]
            new["settled_balance_cents"] = balance
            new["settled_balance"] = cents_to_float(balance)
        elif new["status"] != "completed":
            new["settled_at"] = None
            new["settled_balance_cents"] = None
            new["settled_balance"] = None

    def transaction(
        self, transaction_id: str, organization_id: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            tx = self._tx.get(transaction_id)
            if tx is None or (
                organization_id is not None and self._tx_org[transaction_id] != organization_id
            ):
                raise NotFound("transaction not found")
            return dict(tx)

    def transactions_latest(self) -> list[dict[str, Any]]:
        """Every transaction's current version, in creation order."""
        with self.lock:
            return [dict(self._tx[i]) for i in self._tx_order]

    def transaction_versions(self, transaction_id: str | None = None) -> list[dict[str, Any]]:
        """Every version of one transaction (or of all), oldest first."""
        with self.lock:
            ids = [transaction_id] if transaction_id is not None else self._tx_order
            out = []
            for tx_id in ids:
                for number, (event, snapshot) in enumerate(self._versions.get(tx_id, []), 1):
                    out.append(
                        {
                            "transaction_id": tx_id,
                            "version": number,
                            "event": event,
                            "updated_at": snapshot["updated_at"],
                            "transaction": dict(snapshot),
                        }
                    )
            return out

    @property
    def transaction_count(self) -> int:
        with self.lock:
            return len(self._tx)

    # --- index

    @staticmethod
    def _sort_keys(tx: dict[str, Any]) -> dict[str, tuple[str, str]]:
        return {
            "settled_at": (tx["settled_at"] or "", tx["id"]),
            "updated_at": (tx["updated_at"], tx["id"]),
        }

    def _scopes(self, tx: dict[str, Any]) -> tuple[str, str]:
        account_id = tx["bank_account_id"]
        return account_id, "org:" + self._bank_accounts[account_id]["organization_id"]

    def _index_add(self, tx: dict[str, Any]) -> None:
        for sort_field, key in self._sort_keys(tx).items():
            for scope in self._scopes(tx):
                for status in (tx["status"], "*"):
                    lst = self._index.setdefault((scope, status, sort_field), [])
                    if not lst or lst[-1] < key:
                        lst.append(key)
                    else:
                        bisect.insort(lst, key)

    def _index_remove(self, tx: dict[str, Any]) -> None:
        for sort_field, key in self._sort_keys(tx).items():
            for scope in self._scopes(tx):
                for status in (tx["status"], "*"):
                    lst = self._index[(scope, status, sort_field)]
                    position = bisect.bisect_left(lst, key)
                    if position < len(lst) and lst[position] == key:
                        del lst[position]

    def query_transactions(
        self,
        organization_id: str,
        *,
        bank_account_id: str | None = None,
        iban: str | None = None,
        statuses: Iterable[str] = ("completed",),
        sort_by: str = "settled_at:desc",
        updated_at_from: str | None = None,
        updated_at_to: str | None = None,
        settled_at_from: str | None = None,
        settled_at_to: str | None = None,
        emitted_at_from: str | None = None,
        emitted_at_to: str | None = None,
        side: str | None = None,
        operation_types: Iterable[str] = (),
        with_attachments: bool | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of transactions (REST shape) and the total count of the query."""
        with self.lock:
            scope = "org:" + organization_id
            if bank_account_id:
                account = self._bank_accounts.get(bank_account_id)
                if account is None or account["organization_id"] != organization_id:
                    raise NotFound("bank account not found", parameter="bank_account_id")
                scope = account["id"]
            elif iban:
                account = self._account_by_iban(iban, organization_id)
                if account is None:
                    raise NotFound("bank account not found", parameter="iban")
                scope = account["id"]
            for status in set(statuses):
                if status not in STATUSES and status not in FILTER_ONLY_STATUSES:
                    raise Unprocessable(f"invalid status {status!r}", parameter="status[]")
            # ``reversed`` is a documented filter value; the emulator never produces one.
            status_set = sorted(set(statuses) & set(STATUSES))
            field_name, _, direction = sort_by.partition(":")
            direction = direction or "desc"
            if field_name not in ("settled_at", "updated_at") or direction not in ("asc", "desc"):
                raise Unprocessable(f"invalid sort_by {sort_by!r}", parameter="sort_by")
            ranges: dict[str, tuple[str | None, str | None]] = {}
            for name, frm, to in (
                ("updated_at", updated_at_from, updated_at_to),
                ("settled_at", settled_at_from, settled_at_to),
                ("emitted_at", emitted_at_from, emitted_at_to),
            ):
                if frm is not None or to is not None:
                    ranges[name] = (frm, to)
            query = _Query(
                scope=scope,
                statuses=tuple(status_set) if len(status_set) < len(STATUSES) else ("*",),
                sort_field=field_name,  # type: ignore[arg-type]
                descending=direction == "desc",
                ranges=ranges,
                side=side,
                operation_types=tuple(sorted(set(operation_types))),
                with_attachments=with_attachments,
            )
            ids, total = self._run_query(query, offset, limit)
            return [self._tx[i] for i in ids], total

    def _slices(
        self, query: _Query, index_field: str
    ) -> list[tuple[list[tuple[str, str]], int, int]]:
        """The index slices (one per status) matching the range on ``index_field``."""
        frm, to = query.ranges.get(index_field, (None, None))
        if index_field == "settled_at" and (frm is not None or to is not None):
            frm = max(frm or "0", "0")  # a range on settled_at excludes unsettled ones
        slices = []
        for status in query.statuses:
            lst = self._index.get((query.scope, status, index_field), [])
            lo = bisect.bisect_left(lst, (frm, "")) if frm is not None else 0
            hi = bisect.bisect_right(lst, (to, "\uffff")) if to is not None else len(lst)
            slices.append((lst, lo, max(lo, hi)))
        return slices

    def _run_query(self, query: _Query, offset: int, limit: int) -> tuple[list[str], int]:
        slices = self._slices(query, query.sort_field)
        if not slices:
            return [], 0
        # A range on the other indexed field may select far fewer candidates (an
        # incremental sync's updated_at window under the default settled_at sort).
        index_field: str = query.sort_field
        other = "updated_at" if query.sort_field == "settled_at" else "settled_at"
        if other in query.ranges:
            other_slices = self._slices(query, other)
            if sum(hi - lo for _, lo, hi in other_slices) < sum(hi - lo for _, lo, hi in slices):
                slices, index_field = other_slices, other
        predicate = self._predicate(query, index_field)
        if len(slices) == 1 and predicate is None and index_field == query.sort_field:
            lst, lo, hi = slices[0]
            total = hi - lo
            if query.descending:
                end = hi - offset
                start = max(lo, end - limit)
                keys = lst[start:end][::-1] if end > lo else []
            else:
                start = lo + offset
                keys = lst[start : min(hi, start + limit)]
            return [k[1] for k in keys], total
        cache_key = (
            query.scope,
            query.statuses,
            query.sort_field,
            query.descending,
            tuple(sorted(query.ranges.items())),
            query.side,
            query.operation_types,
            query.with_attachments,
        )
        cached = self._qcache.get(cache_key)
        if cached is not None and cached[0] == self._mutations:
            ids = cached[1]
            self._qcache.move_to_end(cache_key)
        else:
            merged = heapq.merge(*(lst[lo:hi] for lst, lo, hi in slices))
            if predicate is None:
                ids = [k[1] for k in merged]
            else:
                ids = [k[1] for k in merged if predicate(self._tx[k[1]])]
            if index_field != query.sort_field:
                sort_field = query.sort_field
                ids.sort(key=lambda i: (self._tx[i][sort_field] or "", i))
            if query.descending:
                ids.reverse()
            self._qcache[cache_key] = (self._mutations, ids)
            while len(self._qcache) > 16:
                self._qcache.popitem(last=False)
        return ids[offset : offset + limit], len(ids)

    @staticmethod
    def _predicate(query: _Query, index_field: str) -> Callable[[dict[str, Any]], bool] | None:
        """The filters the index slices did not apply."""
        checks: list[Callable[[dict[str, Any]], bool]] = []
        for name, (frm, to) in query.ranges.items():
            if name == index_field:
                continue

            def in_range(
                tx: dict[str, Any], name: str = name, frm: str | None = frm, to: str | None = to
            ) -> bool:
                value = tx.get(name)
                return (
                    value is not None
                    and (frm is None or value >= frm)
                    and (to is None or value <= to)
                )

            checks.append(in_range)
        if query.side is not None:
            side = query.side
            checks.append(lambda tx: tx["side"] == side)
        if query.operation_types:
            types = frozenset(query.operation_types)
            checks.append(lambda tx: tx["operation_type"] in types)
        if query.with_attachments is not None:
            wanted = query.with_attachments
            checks.append(lambda tx: bool(tx["attachment_ids"]) == wanted)
        if not checks:
            return None
        if len(checks) == 1:
            return checks[0]
        return lambda tx: all(check(tx) for check in checks)

    def transaction_includes(self, tx: dict[str, Any], includes: Iterable[str]) -> dict[str, Any]:
        """``includes[]``: ``vat_details``, ``labels``, ``attachments``."""
        result = dict(tx)
        for include in includes:
            if include == "vat_details":
                vat_cents = tx.get("vat_amount_cents")
                result["vat_details"] = {
                    "items": []
                    if vat_cents is None
                    else [
                        {
                            "amount": tx["vat_amount"],
                            "amount_cents": vat_cents,
                            "rate": tx.get("vat_rate"),
                        }
                    ]
                }
            elif include == "labels":
                result["labels"] = [
                    self._labels.get(label_id, {"id": label_id, "name": label_id})
                    for label_id in tx["label_ids"]
                ]
            elif include == "attachments":
                result["attachments"] = [
                    self._attachments.get(a, {"id": a}) for a in tx["attachment_ids"]
                ]
            else:
                raise Unprocessable(f"invalid include {include!r}", parameter="includes[]")
        return result

    def add_attachment(
        self,
        transaction_id: str,
        file_name: str = "facture.pdf",
        *,
        at: datetime | str | None = None,
        notify: bool = True,
    ) -> dict[str, Any]:
        """Attach a file to a transaction (moves ``updated_at``, sends a webhook)."""
        with self.lock:
            tx = self.transaction(transaction_id)
            attachment_id = self.new_id()
            self._attachments[attachment_id] = {
                "id": attachment_id,
                "created_at": self._stamp(at=at),
                "file_name": file_name,
                "file_size": "48213",
                "file_content_type": "application/pdf",
                "url": f"https://qonto.example/attachments/{attachment_id}",
            }
            return self.update_transaction(
                transaction_id,
                notify=notify,
                at=at,
                attachment_ids=[*tx["attachment_ids"], attachment_id],
            )

    # ------------------------------------------------------------------ invoices

    def add_client_invoice(
        self,
        *,
        number: str,
        client_name: str,
        amount_cents: int,
        issue_date: date | str,
        due_date: date | str | None = None,
        vat_amount_cents: int | None = None,
        status: str = "unpaid",
        client_iban: str | None = None,
        payment_reference: str | None = None,
        organization_id: str | None = None,
        id: str | None = None,
        client: dict[str, Any] | None = None,
        items: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A Qonto client invoice (receivable)."""
        with self.lock:
            org_id = organization_id or self.default_organization_id
            assert org_id is not None
            invoice_id = id or self.new_id()
            issue = date_value(issue_date)
            due = date_value(due_date) or issue
            vat = vat_amount_cents if vat_amount_cents is not None else 0
            main = self._main_account(org_id)
            created = self.clock.now().astimezone(_PARIS).isoformat(timespec="seconds")
            invoice: dict[str, Any] = {
                "id": invoice_id,
                "organization_id": org_id,
                "number": number,
                "purchase_order": extra.pop("purchase_order", None),
                "status": status,
                "invoice_url": f"https://pay.qonto.example/invoices/{invoice_id}",
                "contact_email": "factures@acme.example",
                "currency": "EUR",
                "total_amount": money_object(amount_cents),
                "total_amount_cents": amount_cents,
                "vat_amount": money_object(vat),
                "vat_amount_cents": vat,
                "issue_date": issue,
                "due_date": due,
                "performance_date": issue,
                "created_at": created,
                "finalized_at": created,
                "paid_at": None,
                "client": client
                or {
                    "id": stable_uuid("client", org_id, client_name),
                    "name": client_name,
                    "type": "company",
                    "email": None,
                    "vat_number": None,
                    "address": None,
                    "city": None,
                    "zip_code": None,
                    "country_code": "FR",
                },
                "items": items
                or [
                    {
                        "title": "Prestation",
                        "quantity": "1",
                        "unit_price": money_object(amount_cents - vat),
                        "vat_rate": "0.2" if vat else "0",
                        "total_vat": money_object(vat),
                        "total_amount": money_object(amount_cents),
                    }
                ],
                "payment_methods": {"iban": main["iban"] if main else None},
                "credit_notes_ids": [],
                "_counterparty_iban": client_iban,
                "_payment_reference": payment_reference,
            }
            invoice.update(extra)
            self._client_invoices[invoice_id] = invoice
            return public(invoice)

    def add_supplier_invoice(
        self,
        *,
        invoice_number: str,
        supplier_name: str,
        amount_cents: int,
        issue_date: date | str,
        due_date: date | str | None = None,
        status: str = "to_pay",
        iban: str | None = None,
        payment_reference: str | None = None,
        organization_id: str | None = None,
        id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A Qonto supplier invoice (payable)."""
        with self.lock:
            org_id = organization_id or self.default_organization_id
            assert org_id is not None
            invoice_id = id or self.new_id()
            issue = date_value(issue_date)
            now = self.clock.now().astimezone(_PARIS).isoformat(timespec="seconds")
            invoice: dict[str, Any] = {
                "id": invoice_id,
                "organization_id": org_id,
                "source_type": "email_forward",
                "file_name": f"{invoice_number}.pdf",
                "invoice_number": invoice_number,
                "supplier_name": supplier_name,
                "total_amount": money_object(amount_cents),
                "total_amount_cents": amount_cents,
                "issue_date": issue,
                "due_date": date_value(due_date) or issue,
                "payment_date": None,
                "status": status,
                "iban": iban,
                "is_einvoice": False,
                "created_at": now,
                "updated_at": now,
                "_payment_reference": payment_reference,
            }
            invoice.update(extra)
            self._supplier_invoices[invoice_id] = invoice
            return public(invoice)

    def update_client_invoice(self, invoice_id: str, **changes: Any) -> dict[str, Any]:
        with self.lock:
            invoice = self._client_invoices.get(invoice_id)
            if invoice is None:
                raise NotFound("client invoice not found")
            invoice.update(changes)
            return public(invoice)

    def update_supplier_invoice(self, invoice_id: str, **changes: Any) -> dict[str, Any]:
        with self.lock:
            invoice = self._supplier_invoices.get(invoice_id)
            if invoice is None:
                raise NotFound("supplier invoice not found")
            invoice["updated_at"] = (
                self.clock.now().astimezone(_PARIS).isoformat(timespec="seconds")
            )
            invoice.update(changes)
            return public(invoice)

    def client_invoices(
        self, organization_id: str | None = None, statuses: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        with self.lock:
            org_id = organization_id or self.default_organization_id
            wanted = set(statuses)
            items = [
                public(i)
                for i in self._client_invoices.values()
                if i["organization_id"] == org_id and (not wanted or i["status"] in wanted)
            ]
            items.sort(key=lambda i: (i["issue_date"], i["number"]), reverse=True)
            return items

    def supplier_invoices(
        self,
        organization_id: str | None = None,
        statuses: Iterable[str] = (),
        created_at_from: str | None = None,
        created_at_to: str | None = None,
        sort_by: str = "created_at:desc",
    ) -> list[dict[str, Any]]:
        with self.lock:
            org_id = organization_id or self.default_organization_id
            wanted = set(statuses)
            items = []
            for invoice in self._supplier_invoices.values():
                if invoice["organization_id"] != org_id:
                    continue
                if wanted and invoice["status"] not in wanted:
                    continue
                created = parse_ts(invoice["created_at"])
                if created_at_from and created < parse_ts(created_at_from):
                    continue
                if created_at_to and created > parse_ts(created_at_to):
                    continue
                items.append(public(invoice))
            field_name, _, direction = sort_by.partition(":")
            if field_name not in ("created_at", "issue_date", "due_date", "updated_at"):
                raise Unprocessable(f"invalid sort_by {sort_by!r}", parameter="sort_by")
            items.sort(
                key=lambda i: (str(i.get(field_name) or ""), i["id"]),
                reverse=direction != "asc",
            )
            return items

    def invoices_contract(self) -> list[dict[str, Any]]:
        """Every invoice in the project's ``Invoice`` contract (``invoices.v1``)."""
        with self.lock:
            out = [client_invoice_contract(i) for i in self._client_invoices.values()]
            out += [supplier_invoice_contract(i) for i in self._supplier_invoices.values()]
            return out

    # ------------------------------------------------------------------ ground truth

    def set_allocation(
        self,
        transaction_id: str,
        allocations: list[dict[str, Any]],
        *,
        kind: str | None = None,
    ) -> None:
        """Record the true invoice allocation of a payment (``[]``: pays no invoice)."""
        with self.lock:
            self._allocations[transaction_id] = {
                "transaction_id": transaction_id,
                "kind": kind,
                "allocations": [dict(a) for a in allocations],
            }

    def allocations(self) -> list[dict[str, Any]]:
        """The true allocation of every transaction (in creation order)."""
        with self.lock:
            out = []
            for tx_id in self._tx_order:
                record = self._allocations.get(tx_id)
                out.append(
                    dict(record)
                    if record
                    else {"transaction_id": tx_id, "kind": None, "allocations": []}
                )
            return out

    def ground_truth(
        self, sections: Iterable[str] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Everything that really happened: transactions and their versions, webhook fates,
        the true allocation of every payment, and the invoices (Qonto and contract shapes).

        ``sections`` picks some of: transactions, transaction_versions, webhooks,
        allocations, invoices, client_invoices, supplier_invoices, bank_accounts."""
        producers: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "transactions": self.transactions_latest,
            "transaction_versions": self.transaction_versions,
            "webhooks": self.webhooks.log,
            "allocations": self.allocations,
            "invoices": self.invoices_contract,
            "client_invoices": lambda: [public(i) for i in self._client_invoices.values()],
            "supplier_invoices": lambda: [public(i) for i in self._supplier_invoices.values()],
            "bank_accounts": lambda: [dict(a) for a in self._bank_accounts.values()],
        }
        wanted = list(producers) if sections is None else list(sections)
        with self.lock:
            out = {}
            for name in wanted:
                if name not in producers:
                    raise NotFound(f"no ground-truth section {name!r}")
                out[name] = producers[name]()
            return out

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the faults (``faults=``) or change some of them (``drop=0.2, ...``)."""
        with self.lock:
            base = faults if faults is not None else self.faults
            self.faults = base.updated(**changes)
            if faults is not None or "storm_seconds" in changes:
                # A storm starts when it is set and lasts storm_seconds of real time.
                self.storm_until = time.monotonic() + self.faults.storm_seconds
            self.webhooks.set_fault_seed(self.faults.seed)
            return self.faults

    # ------------------------------------------------------------------ authentication

    def authenticate(self, authorization: str | None) -> Principal:
        """``<login>:<secret-key>`` (no prefix) or ``Bearer <access token>``."""
        if not authorization:
            raise Unauthorized("missing Authorization header")
        value = authorization.strip()
        with self.lock:
            if value[:7].lower() == "bearer ":
                token = self._access_tokens.get(value[7:].strip())
                if token is None or token.revoked:
                    raise Unauthorized("invalid access token")
                if self.clock.now() >= token.expires_at:
                    raise Unauthorized("access token expired")
                return Principal(token.organization_id, "bearer", token.scopes)
            login, sep, secret = value.partition(":")
            if not sep:
                raise Unauthorized("invalid Authorization header")
            known = self._api_keys.get(login)
            if known is None or not hmac.compare_digest(known[0].encode(), secret.encode()):
                raise Unauthorized("invalid API key")
            return Principal(known[1], "api_key", self.api_key_scopes)

    @staticmethod
    def require_scope(principal: Principal, scope: str) -> None:
        if scope not in principal.scopes:
            raise Forbidden(
                f"missing scope: the access token does not have the required scope {scope}",
                code="forbidden",
            )

    def check_staging_token(self, token: str | None) -> bool:
        with self.lock:
            return token is not None and token in self._staging_tokens

    # --- OAuth

    def add_oauth_client(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uris: list[str] | None = None,
        organization_id: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            cid = client_id or f"client-{secrets.token_hex(6)}"
            client = {
                "client_id": cid,
                "client_secret": client_secret or secrets.token_urlsafe(24),
                "redirect_uris": list(redirect_uris or [DEFAULT_REDIRECT_URI]),
                "organization_id": organization_id or self.default_organization_id,
            }
            self._oauth_clients[cid] = client
            return dict(client)

    def mint_authorization_code(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        *,
        scopes: Iterable[str] = SCOPES,
        redirect_uri: str | None = None,
        organization_id: str | None = None,
    ) -> str:
        """What the user's consent in a browser would produce (for tests and the demo)."""
        with self.lock:
            client = self._oauth_clients.get(client_id)
            if client is None:
                raise NotFound(f"unknown OAuth client {client_id!r}")
            code = "qac_" + secrets.token_urlsafe(24)
            self._codes[code] = _Code(
                organization_id=organization_id or client["organization_id"],
                client_id=client_id,
                scopes=frozenset(scopes),
                redirect_uri=redirect_uri or client["redirect_uris"][0],
                expires_at=self.clock.now() + AUTH_CODE_TTL,
            )
            return code

    def _check_client(self, client_id: str | None, client_secret: str | None) -> dict[str, Any]:
        client = self._oauth_clients.get(client_id or "")
        if client is None or not hmac.compare_digest(
            client["client_secret"].encode(), (client_secret or "").encode()
        ):
            raise OAuthError("invalid_client", "Client authentication failed.", status=401)
        return client

    def _issue(
        self, organization_id: str, client_id: str, scopes: frozenset[str], family: str
    ) -> dict[str, Any]:
        now = self.clock.now()
        access = "qat_" + secrets.token_urlsafe(32)
        self._access_tokens[access] = _Token(
            organization_id, client_id, scopes, now + ACCESS_TOKEN_TTL, family
        )
        response: dict[str, Any] = {
            "access_token": access,
            "expires_in": int(ACCESS_TOKEN_TTL.total_seconds()),
            "scope": " ".join(sorted(scopes)),
            "token_type": "bearer",
        }
        if "offline_access" in scopes:
            refresh = "qrt_" + secrets.token_urlsafe(32)
            self._refresh_tokens[refresh] = _Token(
                organization_id, client_id, scopes, now + REFRESH_TOKEN_TTL, family
            )
            response["refresh_token"] = refresh
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "iss": "https://oauth.qonto.com/",
            "sub": organization_id,
            "aud": [client_id],
            "iat": int(now.timestamp()),
            "exp": int((now + ACCESS_TOKEN_TTL).timestamp()),
        }
        payload = _b64url(json.dumps(claims).encode())
        signature = _b64url(hashlib.sha256(f"{header}.{payload}".encode()).digest())
        response["id_token"] = f"{header}.{payload}.{signature}"
        return response

    def token_authorization_code(
        self,
        *,
        client_id: str | None,
        client_secret: str | None,
        code: str | None,
        redirect_uri: str | None,
    ) -> dict[str, Any]:
        with self.lock:
            self._check_client(client_id, client_secret)
            grant = self._codes.get(code or "")
            if grant is None or grant.used or grant.client_id != client_id:
                raise OAuthError("invalid_grant", "The authorization code is invalid or used.")
            if self.clock.now() >= grant.expires_at:
                raise OAuthError("invalid_grant", "The authorization code has expired.")
            if redirect_uri is not None and redirect_uri != grant.redirect_uri:
                raise OAuthError("invalid_grant", "The redirect_uri does not match.")
            grant.used = True
            return self._issue(
                grant.organization_id, grant.client_id, grant.scopes, secrets.token_hex(8)
            )

    def token_refresh(
        self, *, client_id: str | None, client_secret: str | None, refresh_token: str | None
    ) -> dict[str, Any]:
        """Rotation: the old refresh token keeps working for 60 s after its first use."""
        with self.lock:
            self._check_client(client_id, client_secret)
            token = self._refresh_tokens.get(refresh_token or "")
            now = self.clock.now()
            if token is None or token.revoked or token.client_id != client_id:
                raise OAuthError("invalid_grant", "The refresh token is invalid.")
            if now >= token.expires_at:
                raise OAuthError("invalid_grant", "The refresh token has expired.")
            if token.rotated_at is not None and now > token.rotated_at + REFRESH_GRACE:
                if self.revoke_family_on_reuse:
                    self._revoke_family(token.family)
                raise OAuthError("invalid_grant", "The refresh token was already used (rotated).")
            if token.rotated_at is None:
                token.rotated_at = now
            return self._issue(token.organization_id, token.client_id, token.scopes, token.family)

    def _revoke_family(self, family: str) -> None:
        for store in (self._access_tokens, self._refresh_tokens):
            for tok in store.values():
                if tok.family == family:
                    tok.revoked = True

    # ------------------------------------------------------------------ webhooks

    def add_webhook_subscription(
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
        with self.lock:
            org_id = organization_id or self.default_organization_id
            now = format_ts(self.clock.now())
            subscription: dict[str, Any] = {
                "id": self.new_id(),
                "organization_id": org_id,
                "membership_id": stable_uuid("membership", org_id),
                "callback_url": callback_url,
                "types": types_list,
                "description": description,
                "secret": secret or secrets.token_hex(32),
                "created_at": now,
                "updated_at": now,
            }
            self._subscriptions[subscription["id"]] = subscription
            return dict(subscription)

    def take_lost_answer(self, rng: random.Random) -> bool:
        """Whether the answer of the API request now starting is to be lost (the faults
        ``lose_answers``, counted down, and ``lost_answer_rate``)."""
        with self.lock:
            faults = self.faults
            if faults.lose_answers > 0:
                self.faults = dataclasses.replace(faults, lose_answers=faults.lose_answers - 1)
                return True
            return bool(faults.lost_answer_rate) and rng.random() < faults.lost_answer_rate

    def webhook_subscriptions(
        self, organization_id: str | None = None, *, with_secret: bool = False
    ) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for sub in self._subscriptions.values():
                if organization_id is not None and sub["organization_id"] != organization_id:
                    continue
                item = dict(sub)
                if not with_secret:
                    item.pop("secret")
                out.append(item)
            return out

    def webhook_subscription(self, subscription_id: str) -> dict[str, Any]:
        with self.lock:
            sub = self._subscriptions.get(subscription_id)
            if sub is None:
                raise NotFound("webhook subscription not found")
            return dict(sub)

    def delete_webhook_subscription(
        self, subscription_id: str, organization_id: str | None = None
    ) -> None:
        with self.lock:
            sub = self._subscriptions.get(subscription_id)
            if sub is None or (
                organization_id is not None and sub["organization_id"] != organization_id
            ):
                raise NotFound("webhook subscription not found")
            del self._subscriptions[subscription_id]

    def _emit(self, event: str, tx: dict[str, Any], notify: bool) -> None:
        """Hand a transaction change to the webhook dispatcher (called under the lock)."""
        org_id = self._tx_org[tx["id"]]
        subscriptions = [
            s
            for s in self._subscriptions.values()
            if s["organization_id"] == org_id and "v1/transactions" in s["types"]
        ]
        if not subscriptions:
            return
        settings = self.webhook_settings
        data = webhook_data(
            tx,
            event,
            bank_account=self._bank_accounts.get(tx["bank_account_id"]),
            amount_format=settings.amount_format,
            bank_account_style=settings.bank_account_style,
        )
        created_at = tx["updated_at"]  # the change's time (a scenario's business time)
        for sub in subscriptions:
            payload = {
                "id": str(uuid.uuid4()),
                "subscription_id": sub["id"],
                "organization_id": org_id,
                "membership_id": sub["membership_id"],
                "type": "v1/transactions",
                "created_at": created_at,
                "data": data,
            }
            self.webhooks.submit(sub, payload, tx_updated_at=tx["updated_at"], notify=notify)

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        with self.lock:
            by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
            for tx in self._tx.values():
                by_status[tx["status"]] += 1
            player = self.player
            return {
                "clock": self.clock.describe(),
                "sandbox": self.sandbox,
                "transactions": len(self._tx),
                "transactions_by_status": by_status,
                "versions": sum(len(v) for v in self._versions.values()),
                "client_invoices": len(self._client_invoices),
                "supplier_invoices": len(self._supplier_invoices),
                "bank_accounts": len(self._bank_accounts),
                "webhook_subscriptions": len(self._subscriptions),
                "idempotency_keys": len(self.idempotency),
                "webhooks": self.webhooks.stats(),
                "faults": self.faults.to_dict(),
                "scenario": self.scenario_info,
                "player": player.status() if player is not None else None,
            }
