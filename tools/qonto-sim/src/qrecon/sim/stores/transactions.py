"""Transactions: every version of each, balances that follow their status, attachments,
``includes[]``, and the paginated, filtered listing (``transaction_index``).

A change is handed to ``on_change(event, transaction, organization_id, notify)`` (the
webhooks), under the simulator's lock, in the order the changes happen."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from qrecon.sim.clock import format_ts, parse_ts
from qrecon.sim.errors import NotFound, SimError, Unprocessable
from qrecon.sim.shapes import MONEY_FIELDS, STATUSES, cents_to_float, ts_value
from qrecon.sim.stores.accounts import AccountStore
from qrecon.sim.stores.base import StoreContext
from qrecon.sim.stores.transaction_fields import build_transaction, pop_cents, with_includes
from qrecon.sim.stores.transaction_index import TransactionIndex

OnChange = Callable[[str, dict[str, Any], str, bool], None]
_IMMUTABLE = ("id", "created_at", "updated_at", "bank_account_id", "transaction_id")


class TransactionStore:
    def __init__(self, ctx: StoreContext, accounts: AccountStore, on_change: OnChange) -> None:
        self._lock = ctx.lock
        self._clock = ctx.clock
        self._ids = ctx.ids
        self._accounts = accounts
        self._on_change = on_change
        self.clear()

    def clear(self) -> None:
        self._tx: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._order: list[str] = []
        self._org: dict[str, str] = {}
        self._slug_counter: dict[str, int] = {}
        self._labels: dict[str, dict[str, Any]] = {}
        self._attachments: dict[str, dict[str, Any]] = {}
        self._index = TransactionIndex(self._tx)

    def _stamp(self, previous: str | None = None, at: datetime | str | None = None) -> str:
        """Now (or ``at``) in Qonto's format, strictly after ``previous`` (a frozen clock
        still moves)."""
        if at is None:
            stamp = format_ts(self._clock.now())
        else:
            stamp = ts_value(at) or format_ts(self._clock.now())
        if previous is not None and stamp <= previous:
            stamp = format_ts(parse_ts(previous) + timedelta(milliseconds=1))
        return stamp

    def _scopes(self, tx: dict[str, Any]) -> tuple[str, str]:
        account_id = tx["bank_account_id"]
        return account_id, "org:" + self._accounts.by_id[account_id]["organization_id"]

    # ------------------------------------------------------------------ changes

    def add(
        self, *, notify: bool = True, at: datetime | str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Create a transaction from Qonto fields; returns its REST shape.

        Money as ``amount_cents`` (int) or ``amount`` (decimal/str); ``side`` ``credit`` or
        ``debit``; ``counterparty={"name", "iban", "bic"}`` fills the nested subject object;
        ``bank_account_id`` (or ``iban``) defaults to the main account. ``created_at`` and
        ``updated_at`` come from ``sim.clock`` (or ``at``: scenarios stamp their planned
        business time). ``notify=False`` sends no webhook.
        """
        with self._lock:
            data = dict(fields)
            account = self._account_for(data)
            org_slug = self._accounts.organizations[account["organization_id"]]["slug"]

            def next_serial() -> int:
                self._slug_counter[org_slug] = self._slug_counter.get(org_slug, 0) + 1
                return self._slug_counter[org_slug]

            tx = build_transaction(
                data,
                account=account,
                org_slug=org_slug,
                next_serial=next_serial,
                new_id=self._ids.new_id,
                stamp=lambda: self._stamp(at=at),
            )
            tx_id = tx["id"]
            if tx_id in self._tx:
                raise SimError(f"transaction {tx_id} already exists", status=409, code="conflict")
            account_id = tx["bank_account_id"]
            amount = int(tx["amount_cents"])
            if tx["status"] == "completed":
                signed = amount if tx["side"] == "credit" else -amount
                balance = self._accounts.apply_balance(account_id, signed, 0)
                tx["settled_balance_cents"] = balance
                tx["settled_balance"] = cents_to_float(balance)
            elif tx["status"] == "pending" and tx["side"] == "debit":
                self._accounts.apply_balance(account_id, 0, amount)
            self._tx[tx_id] = tx
            self._org[tx_id] = self._accounts.by_id[account_id]["organization_id"]
            self._versions[tx_id] = [("created", tx)]
            self._order.append(tx_id)
            self._index.add(tx, self._scopes(tx))
            self._index.changed()
            self._on_change("created", tx, self._org[tx_id], notify)
            return dict(tx)

    def _account_for(self, data: dict[str, Any]) -> dict[str, Any]:
        """The account ``bank_account_id`` or ``iban`` names (popped), else the default
        organization's main account."""
        accounts = self._accounts
        if data.get("bank_account_id"):
            account = accounts.by_id.get(data.pop("bank_account_id"))
            if account is None:
                raise NotFound("bank account not found")
            return account
        if data.get("iban"):
            account = accounts.by_iban(data.pop("iban"), None)
            if account is None:
                raise NotFound("bank account not found")
            return account
        data.pop("iban", None)
        data.pop("bank_account_id", None)
        if accounts.default_organization_id is None:
            raise NotFound("no organization")
        account = accounts.main_account(accounts.default_organization_id)
        if account is None:
            raise NotFound("no bank account")
        return account

    def update(
        self,
        transaction_id: str,
        *,
        notify: bool = True,
        at: datetime | str | None = None,
        **changes: Any,
    ) -> dict[str, Any]:
        """Change fields of a transaction: bumps ``updated_at``, records a version, and
        sends an ``updated`` webhook (unless ``notify=False``)."""
        with self._lock:
            old = self._tx.get(transaction_id)
            if old is None:
                raise NotFound("transaction not found")
            new = dict(old)
            data = dict(changes)
            for major, cents_key in MONEY_FIELDS:
                if major in data or cents_key in data:
                    cents = pop_cents(data, major)
                    new[cents_key] = cents
                    new[major] = cents_to_float(cents) if cents is not None else None
            for key in ("settled_at", "emitted_at"):
                if key in data:
                    new[key] = ts_value(data.pop(key))
            for key, value in data.items():
                if key in _IMMUTABLE:
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
            self._index.remove(old, self._scopes(old))
            self._tx[transaction_id] = new
            self._versions[transaction_id].append(("updated", new))
            self._index.add(new, self._scopes(new))
            self._index.changed()
            self._on_change("updated", new, self._org[transaction_id], notify)
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
            balance = self._accounts.apply_balance(account_id, signed, pending_delta)
        else:
            balance = int(self._accounts.by_id[account_id]["balance_cents"])
        if new["status"] == "completed" and old["status"] != "completed":
            if new.get("settled_at") is None or new["settled_at"] == old.get("settled_at"):
                new["settled_at"] = new["settled_at"] or new["updated_at"]
            new["settled_balance_cents"] = balance
            new["settled_balance"] = cents_to_float(balance)
        elif new["status"] != "completed":
            new["settled_at"] = None
            new["settled_balance_cents"] = None
            new["settled_balance"] = None

    def add_attachment(
        self,
        transaction_id: str,
        file_name: str = "facture.pdf",
        *,
        at: datetime | str | None = None,
        notify: bool = True,
    ) -> dict[str, Any]:
        """Attach a file to a transaction (moves ``updated_at``, sends a webhook)."""
        with self._lock:
            tx = self.get(transaction_id)
            attachment_id = self._ids.new_id()
            self._attachments[attachment_id] = {
                "id": attachment_id,
                "created_at": self._stamp(at=at),
                "file_name": file_name,
                "file_size": "48213",
                "file_content_type": "application/pdf",
                "url": f"https://qonto.example/attachments/{attachment_id}",
            }
            return self.update(
                transaction_id,
                notify=notify,
                at=at,
                attachment_ids=[*tx["attachment_ids"], attachment_id],
            )

    # ------------------------------------------------------------------ reads

    def get(self, transaction_id: str, organization_id: str | None = None) -> dict[str, Any]:
        with self._lock:
            tx = self._tx.get(transaction_id)
            if tx is None or (
                organization_id is not None and self._org[transaction_id] != organization_id
            ):
                raise NotFound("transaction not found")
            return dict(tx)

    def latest(self) -> list[dict[str, Any]]:
        """Every transaction's current version, in creation order."""
        with self._lock:
            return [dict(self._tx[i]) for i in self._order]

    def ids(self) -> list[str]:
        """Every transaction id, in creation order."""
        with self._lock:
            return list(self._order)

    def versions(self, transaction_id: str | None = None) -> list[dict[str, Any]]:
        """Every version of one transaction (or of all), oldest first."""
        with self._lock:
            ids = [transaction_id] if transaction_id is not None else self._order
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

    def count(self) -> int:
        with self._lock:
            return len(self._tx)

    def counts(self) -> tuple[dict[str, int], int]:
        """Transactions by status, and the number of versions (for the status page)."""
        with self._lock:
            by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
            for tx in self._tx.values():
                by_status[tx["status"]] += 1
            return by_status, sum(len(v) for v in self._versions.values())

    def query(
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
        with self._lock:
            scope = "org:" + organization_id
            if bank_account_id:
                account = self._accounts.by_id.get(bank_account_id)
                if account is None or account["organization_id"] != organization_id:
                    raise NotFound("bank account not found", parameter="bank_account_id")
                scope = account["id"]
            elif iban:
                account = self._accounts.by_iban(iban, organization_id)
                if account is None:
                    raise NotFound("bank account not found", parameter="iban")
                scope = account["id"]
            ranges: dict[str, tuple[str | None, str | None]] = {}
            for name, frm, to in (
                ("updated_at", updated_at_from, updated_at_to),
                ("settled_at", settled_at_from, settled_at_to),
                ("emitted_at", emitted_at_from, emitted_at_to),
            ):
                if frm is not None or to is not None:
                    ranges[name] = (frm, to)
            ids, total = self._index.query(
                scope,
                statuses=statuses,
                sort_by=sort_by,
                ranges=ranges,
                side=side,
                operation_types=operation_types,
                with_attachments=with_attachments,
                offset=offset,
                limit=limit,
            )
            return [self._tx[i] for i in ids], total

    def includes(self, tx: dict[str, Any], includes: Iterable[str]) -> dict[str, Any]:
        """``includes[]``: ``vat_details``, ``labels``, ``attachments``."""
        return with_includes(tx, includes, labels=self._labels, attachments=self._attachments)
