"""The ground truth: what really happened, for scoring a reconciliation — the true invoice
allocation of every payment (as the scenario planned it), and the sections exported with
it (transactions and their versions, webhook fates, invoices, bank accounts)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from qrecon.sim.errors import NotFound
from qrecon.sim.stores.accounts import AccountStore
from qrecon.sim.stores.base import StoreContext
from qrecon.sim.stores.invoices import InvoiceStore
from qrecon.sim.stores.transactions import TransactionStore

GROUND_TRUTH_SECTIONS = (
    "transactions",
    "transaction_versions",
    "webhooks",
    "allocations",
    "invoices",
    "client_invoices",
    "supplier_invoices",
    "bank_accounts",
    "payment_links",
)


class GroundTruthStore:
    """Allocations, and the export over the other stores (``webhook_log``: the
    dispatcher's record of every event's fate)."""

    def __init__(
        self,
        ctx: StoreContext,
        *,
        transactions: TransactionStore,
        invoices: InvoiceStore,
        accounts: AccountStore,
        webhook_log: Callable[[], list[dict[str, Any]]],
        payment_links: Callable[[], list[dict[str, Any]]] = list,
    ) -> None:
        self._lock = ctx.lock
        self._transactions = transactions
        self._invoices = invoices
        self._accounts = accounts
        self._webhook_log = webhook_log
        self._payment_links = payment_links
        self._allocations: dict[str, dict[str, Any]] = {}

    def clear(self) -> None:
        self._allocations = {}

    def set_allocation(
        self,
        transaction_id: str,
        allocations: list[dict[str, Any]],
        *,
        kind: str | None = None,
    ) -> None:
        """Record the true invoice allocation of a payment (``[]``: pays no invoice)."""
        with self._lock:
            self._allocations[transaction_id] = {
                "transaction_id": transaction_id,
                "kind": kind,
                "allocations": [dict(a) for a in allocations],
            }

    def allocations(self) -> list[dict[str, Any]]:
        """The true allocation of every transaction (in creation order)."""
        with self._lock:
            out = []
            for tx_id in self._transactions.ids():
                record = self._allocations.get(tx_id)
                out.append(
                    dict(record)
                    if record
                    else {"transaction_id": tx_id, "kind": None, "allocations": []}
                )
            return out

    def export(self, sections: Iterable[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Everything that really happened: transactions and their versions, webhook fates,
        the true allocation of every payment, and the invoices (Qonto and contract shapes).

        ``sections`` picks some of: transactions, transaction_versions, webhooks,
        allocations, invoices, client_invoices, supplier_invoices, bank_accounts,
        payment_links."""
        producers: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "transactions": self._transactions.latest,
            "transaction_versions": self._transactions.versions,
            "webhooks": self._webhook_log,
            "allocations": self.allocations,
            "invoices": self._invoices.contract,
            "client_invoices": self._invoices.client_snapshot,
            "supplier_invoices": self._invoices.supplier_snapshot,
            "bank_accounts": self._accounts.snapshot,
            "payment_links": self._payment_links,
        }
        wanted = list(producers) if sections is None else list(sections)
        with self._lock:
            out = {}
            for name in wanted:
                if name not in producers:
                    raise NotFound(f"no ground-truth section {name!r}")
                out[name] = producers[name]()
            return out
