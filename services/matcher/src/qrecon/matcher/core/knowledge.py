"""What reviewers taught the engine: confirmed aliases and rejected pairs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from qrecon.matcher.core.normalize import label_name_key, name_key, normalise_iban

if TYPE_CHECKING:  # payment_links imports the engine's modules, which import this one
    from qrecon.matcher.core.payment_links import PaymentLinks


class Knowledge:
    """Aliases (an observed payer name or IBAN -> an invoice counterparty) and rejections.

    ``add_alias("SCI LES TILLEULS GESTION", None, "Tilleuls Immobilier")`` makes a later
    payment from that payer count as coming from the invoices' counterparty
    (``counterparty.alias``). ``reject(tx, invoice)`` keeps that pair out of every later
    decision for that transaction.

    It holds what was taught; what a review may teach (a payer name or IBAN specific to
    the customer) is decided by :mod:`.aliases`.
    """

    def __init__(self, payment_links: PaymentLinks | None = None) -> None:
        # The organisation's Qonto payment links (``payment_links``): evidence, not teaching,
        # carried here so that every caller of the engine passes them along.
        self.payment_links = payment_links
        self._by_name: dict[str, dict[str, None]] = {}
        self._by_iban: dict[str, dict[str, None]] = {}
        self._rejected: set[tuple[str, str]] = set()

    def add_alias(
        self,
        observed_counterparty: str | None,
        observed_iban: str | None,
        invoice_counterparty_name: str,
    ) -> None:
        target = name_key(invoice_counterparty_name)
        if not target:
            return
        if observed_counterparty:
            for key in {label_name_key(observed_counterparty), name_key(observed_counterparty)}:
                if key and key != target:
                    self._by_name.setdefault(key, {})[target] = None
        iban = normalise_iban(observed_iban)
        if iban:
            self._by_iban.setdefault(iban, {})[target] = None

    def aliases(self, observed_keys: Iterable[str], iban: str | None) -> list[str]:
        """Invoice counterparty name keys taught for these observed name keys / IBAN."""
        found: dict[str, None] = {}
        for key in observed_keys:
            for target in self._by_name.get(key, ()):
                found[target] = None
        if iban:
            for target in self._by_iban.get(iban, ()):
                found[target] = None
        return list(found)

    def reject(self, transaction_id: str, invoice_id: str) -> None:
        self._rejected.add((transaction_id, invoice_id))

    def unreject(self, transaction_id: str, invoice_id: str) -> None:
        self._rejected.discard((transaction_id, invoice_id))

    def is_rejected(self, transaction_id: str, invoice_id: str) -> bool:
        return (transaction_id, invoice_id) in self._rejected

    @property
    def has_rejections(self) -> bool:
        return bool(self._rejected)
