"""The matching engine: a pure core (no I/O) deciding how a Qonto transaction pays invoices.

The interface the matcher service and the ``qonto-matcher match`` CLI build on::

    book = InvoiceBook(invoices)          # open items, indexed
    engine = MatchingEngine(EngineConfig())
    result = engine.decide(tx, book, knowledge)   # pure: the book is not changed
    if result.status == "auto_matched":
        book.allocate(result.allocations)

See ``engine`` for the semantics of a ``MatchResult`` (allocations, residual, fees,
credit notes, confidence, reasons).
"""

from qrecon.matcher.core import rules
from qrecon.matcher.core.batch import reconcile, reconcile_organizations
from qrecon.matcher.core.book import InvoiceBook, OverAllocation
from qrecon.matcher.core.config import MATCHER_VERSION, EngineConfig, Weights
from qrecon.matcher.core.engine import Candidate, Explanation, MatchingEngine, transaction_date
from qrecon.matcher.core.knowledge import Knowledge

__all__ = [
    "MATCHER_VERSION",
    "Candidate",
    "EngineConfig",
    "Explanation",
    "InvoiceBook",
    "Knowledge",
    "MatchingEngine",
    "OverAllocation",
    "Weights",
    "reconcile",
    "reconcile_organizations",
    "rules",
    "transaction_date",
]
