"""Deciding a sequence of transactions, carrying invoice residuals (what ``match`` runs)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from qrecon.common.schemas import MatchResult, QontoTransaction
from qrecon.matcher.core.book import InvoiceBook
from qrecon.matcher.core.engine import MatchingEngine
from qrecon.matcher.core.knowledge import Knowledge


def reconcile(
    transactions: Iterable[QontoTransaction],
    book: InvoiceBook,
    engine: MatchingEngine,
    knowledge: Knowledge | None = None,
) -> Iterator[MatchResult]:
    """One result per transaction, in order; ``auto_matched`` allocations are applied to
    the book before the next transaction is decided. A suggestion changes nothing until a
    reviewer confirms it (the service's job), so it is not applied here; its invoices are
    only *reserved* (``InvoiceBook.reserve``) when the suggestion is confident
    (``EngineConfig.reserve_threshold``), or with its alternatives when they are together
    that confident: a later payment that fits interchangeable invoices equally well then
    takes an unreserved one.
    """
    for tx in transactions:
        yield decide_and_apply(tx, book, engine, knowledge)


def decide_and_apply(
    tx: QontoTransaction,
    book: InvoiceBook,
    engine: MatchingEngine,
    knowledge: Knowledge | None = None,
) -> MatchResult:
    """One step of :func:`reconcile`: decide, then apply the result to the book."""
    result = engine.decide(tx, book, knowledge)
    book.unreserve(tx.id)  # a later version supersedes the earlier decision
    if result.status == "auto_matched" and result.allocations:
        book.allocate(result.allocations)
    elif result.status == "suggested" and result.allocations:
        _reserve(book, tx.id, result, engine.config.reserve_threshold)
    return result


def reconcile_organizations(
    transactions: Iterable[tuple[str | None, QontoTransaction]],
    books: dict[str | None, InvoiceBook],
    engine: MatchingEngine,
) -> Iterator[MatchResult]:
    """:func:`reconcile` for several organisations at once: each transaction is decided
    against its organisation's book only (``None``: the default organisation), so matching
    never crosses organisations and what one holds never changes another's decisions.
    Results name their organisation (``organization_id``)."""
    for organization, tx in transactions:
        book = books.get(organization)
        if book is None:
            book = books[organization] = InvoiceBook()
        result = decide_and_apply(tx, book, engine)
        if organization is not None:
            result = result.model_copy(update={"organization_id": organization})
        yield result


def _reserve(book: InvoiceBook, tx_id: str, result: MatchResult, threshold: float) -> None:
    """A confident suggestion claims its invoices; so do competing readings that are
    together confident (one invoice, or several that add up to it: one of them is paid)."""
    if result.confidence >= threshold:
        book.reserve(tx_id, result.allocations)
        return
    readings = [result.allocations, *(a.allocations for a in result.alternatives)]
    confidence = result.confidence + sum(a.confidence for a in result.alternatives)
    if confidence >= threshold:
        book.reserve(tx_id, [a for allocations in readings for a in allocations])
