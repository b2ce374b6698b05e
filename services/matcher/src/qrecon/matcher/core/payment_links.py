"""Qonto payment links as evidence: a paid link says which invoice a credit of its amount pays.

A payment link is created by Qonto's invoicing for one client invoice (``v1/payment-links``
webhooks: ``resource_type`` ``Invoice``, ``resource_id`` the invoice's Qonto id,
``resource_metadata.invoice_number``, ``amount {value, currency}``, ``status``). Qonto does
not document how the bank transaction a link produces points back to it, so the pairing is
made from evidence, conservatively (:func:`link_evidence`):

* only a **paid** link counts (open, expired or canceled: no payment happened through it);
* only a **credit** whose amount and currency equal the link's, of a **completed**
  transaction, settled within ``[paid_at - before, paid_at + after]`` (Qonto marks the
  link paid when the client pays; the transfer or card settlement follows within days,
  and a link marked paid by hand may trail the money by a little);
* the link must name an **open receivable** of the book of that amount (by ``resource_id``
  = the invoice id, else by its number);
* exactly one such invoice: *decisive* evidence (``payment_link.paid``); two or more
  (several paid links of the same amount in the window): each is only *pointed to*
  (``payment_link.ambiguous``), never decisive on its own; nor is a link when the payer
  looks like another counterparty of the book (IBAN, name, alias or a similar name).

How the engine uses it (two calls in ``engine``): :func:`mark_links` adds the linked
invoices to the evidence's reference hits (decisive: the level of a payment reference;
ambiguous: the level of a fuzzy number, which brings the invoice's counterparty as a
candidate but decides nothing without a known payer); :func:`relabel` then names the
signal for what it is in the candidates' reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from qrecon.common.schemas import QontoTransaction
from qrecon.matcher.core.book import BookEntry, InvoiceBook
from qrecon.matcher.core.candidates import Proposal
from qrecon.matcher.core.evidence import REF_FUZZY, REF_PAYREF, Evidence, RefHit

__all__ = [
    "DEFAULT_AFTER",
    "DEFAULT_BEFORE",
    "REASON_AMBIGUOUS",
    "REASON_PAID",
    "LinkEvidence",
    "PaymentLink",
    "PaymentLinks",
    "link_evidence",
    "mark_links",
    "relabel",
]

REASON_PAID = "payment_link.paid"
REASON_AMBIGUOUS = "payment_link.ambiguous"
PAID = "paid"
# The money arrives within this long after the link became paid (and at most this long before).
DEFAULT_AFTER = timedelta(days=5)
DEFAULT_BEFORE = timedelta(days=1)

# What scoring calls the reference levels the links are given.
_REASON_OF_LEVEL = {
    REF_PAYREF: "reference.payment_reference.exact",
    REF_FUZZY: "reference.invoice_number.fuzzy",
}


@dataclass(frozen=True, slots=True)
class PaymentLink:
    """One payment link as its latest webhook described it."""

    link_id: str
    organization_id: str
    invoice_id: str | None  # resource_id: the Qonto client invoice's id
    invoice_number: str | None
    amount_cents: int
    currency: str
    status: str  # open, paid, expired, canceled, ...
    paid_at: datetime | None  # when it became paid (None unless status is paid)
    updated_at: datetime  # the version: a newer one replaces it


@dataclass(frozen=True, slots=True)
class LinkEvidence:
    """The invoices the paid links of a transaction's amount name."""

    invoice_ids: tuple[str, ...]
    link_ids: tuple[str, ...]
    decisive: bool  # one paid link of the amount in the window, naming one open invoice


class PaymentLinks:
    """An organisation's payment links, the paid ones indexed by amount and currency."""

    def __init__(
        self,
        links: Iterable[PaymentLink] = (),
        *,
        before: timedelta = DEFAULT_BEFORE,
        after: timedelta = DEFAULT_AFTER,
    ) -> None:
        self.before = before  # the money may settle this long before the link is paid
        self.after = after  # and this long after
        self._links: dict[str, PaymentLink] = {}
        self._paid: dict[tuple[int, str], dict[str, None]] = {}
        for link in links:
            self.upsert(link)

    def upsert(self, link: PaymentLink) -> bool:
        """Keep ``link`` unless a version as new is held; True when it was kept."""
        held = self._links.get(link.link_id)
        if held is not None:
            if held.updated_at >= link.updated_at:
                return False
            if held.status == PAID:
                self._paid.get((held.amount_cents, held.currency), {}).pop(held.link_id, None)
                if link.status == PAID and held.paid_at and link.paid_at:
                    # paid since the first paid version (as the store keeps it)
                    link = replace(link, paid_at=min(held.paid_at, link.paid_at))
        self._links[link.link_id] = link
        if link.status == PAID and link.paid_at is not None:
            self._paid.setdefault((link.amount_cents, link.currency), {})[link.link_id] = None
        return True

    def get(self, link_id: str) -> PaymentLink | None:
        return self._links.get(link_id)

    def paid_with(self, amount_cents: int, currency: str) -> list[PaymentLink]:
        """The paid links of exactly this amount and currency."""
        ids = self._paid.get((amount_cents, currency), {})
        return [self._links[i] for i in ids]

    def __len__(self) -> int:
        return len(self._links)


def _stamp(tx: QontoTransaction) -> datetime:
    return tx.settled_at or tx.emitted_at or tx.created_at or tx.updated_at


def _linked_entry(book: InvoiceBook, link: PaymentLink) -> BookEntry | None:
    """The open receivable of the link's amount the link names (by id, else by number)."""
    entry = book.entry(link.invoice_id) if link.invoice_id else None
    if entry is None and link.invoice_number:
        for invoice_id in book.ids_by_amount("receivable", link.amount_cents):
            candidate = book.entry(invoice_id)
            if candidate is not None and candidate.invoice.number == link.invoice_number:
                entry = candidate
                break
    if (
        entry is None
        or not entry.is_open
        or entry.invoice.kind != "receivable"
        or entry.invoice.currency != link.currency
        or entry.residual != link.amount_cents
    ):
        return None
    return entry


def link_evidence(
    links: PaymentLinks | None,
    tx: QontoTransaction,
    book: InvoiceBook,
) -> LinkEvidence | None:
    """What the paid links say about ``tx`` (read in the currency it pays), or None."""
    if not links or tx.side != "credit" or tx.status != "completed" or tx.amount_cents <= 0:
        return None
    at = _stamp(tx)
    invoices: dict[str, None] = {}
    link_ids: list[str] = []
    for link in links.paid_with(tx.amount_cents, tx.currency):
        assert link.paid_at is not None  # indexed as paid only with a paid_at
        if not link.paid_at - links.before <= at <= link.paid_at + links.after:
            continue
        link_ids.append(link.link_id)
        entry = _linked_entry(book, link)
        if entry is not None:
            invoices[entry.id] = None
    if not invoices:
        return None
    # Decisive only when one link alone fits: another paid link of this amount in the window
    # (whether or not it names an open invoice) may be what this money is.
    decisive = len(link_ids) == 1
    return LinkEvidence(tuple(sorted(invoices)), tuple(sorted(link_ids)), decisive)


def mark_links(ev: Evidence, found: LinkEvidence | None) -> dict[str, int]:
    """Add the linked invoices to ``ev``'s reference hits (where the text names them no
    higher); returns invoice id -> the level added, for :func:`relabel`."""
    if found is None:
        return {}
    added: dict[str, int] = {}
    for invoice_id in found.invoice_ids:
        level = REF_PAYREF if found.decisive else REF_FUZZY
        entry = ev.book.entry(invoice_id)
        if ev.cp_hits and (entry is None or entry.party not in ev.cp_hits):
            # the payer looks like someone else (by IBAN, name, alias, even a similar
            # name): the link alone decides nothing
            level = REF_FUZZY
        held = ev.ref_hits.get(invoice_id)
        if held is None or held.level < level:
            ev.ref_hits[invoice_id] = RefHit(level)
            added[invoice_id] = level
    return added


def relabel(candidates: Iterable[Proposal], added: dict[str, int]) -> None:
    """Name the link signal in the reasons of the candidates it scored."""
    if not added:
        return
    for c in candidates:
        levels = {added[i] for i in c.ids if i in added}
        if not levels:
            continue
        level = min(levels)
        code = REASON_PAID if level == REF_PAYREF else REASON_AMBIGUOUS
        generic = _REASON_OF_LEVEL[level]
        c.reasons[:] = [code if r == generic else r for r in c.reasons]
        if code not in c.reasons:
            c.reasons.append(code)
