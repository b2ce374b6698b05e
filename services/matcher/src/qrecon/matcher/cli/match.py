"""``qonto-matcher match``: the matching engine offline, on JSONL files."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from qrecon.common.schemas import Invoice, MatchResult, QontoTransaction
from qrecon.matcher.core import (
    EngineConfig,
    InvoiceBook,
    MatchingEngine,
    reconcile,
    reconcile_organizations,
)

DESCRIPTION = """\
Match Qonto transactions to invoices with the same engine as the service.

--invoices: one invoice per line (the Invoice contract: id, number, kind, counterparty_name,
counterparty_iban, amount_cents, currency, issue_date, due_date, status, payment_reference).
--transactions: one Qonto API transaction object per line (REST or webhook shape).

Writes one MatchResult per transaction, in input order. Transactions are processed in
the order given and invoice residuals are carried from one to the next: the allocations
of an `auto_matched` result are applied to the invoices before the next transaction is
decided. A `suggested` result is NOT applied (a suggestion has no effect until a reviewer
confirms it), so its invoices stay open for later transactions.

Organisations: each invoice line and each transaction line may carry `organization_id`
(a transaction line at its top level, or on its event envelope). A transaction is matched
against its organisation's invoices only; lines without one belong to one default
organisation. Results name their organisation.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--invoices", type=Path, required=True, help="invoices, JSONL")
    parser.add_argument(
        "--transactions", type=Path, required=True, help="Qonto transactions, JSONL"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the results (default: stdout)"
    )


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            if not line.isspace():  # = line.strip() (both ASCII whitespace), without a copy
                yield line


def load_invoices(path: Path) -> list[Invoice]:
    return [Invoice.model_validate_json(line) for line in _lines(path)]


def parse_transaction(line: bytes | str) -> QontoTransaction:
    """A Qonto transaction object; an event envelope (TransactionEvent, webhook) works too."""
    try:
        return QontoTransaction.model_validate_json(line)
    except ValidationError as exc:
        return _from_envelope(line, exc)


def _from_envelope(line: bytes | str, error: ValidationError) -> QontoTransaction:
    """The transaction inside an event envelope; ``error`` (the line's as a transaction)
    when the line is none."""
    obj = json.loads(line)
    if isinstance(obj, dict):
        if isinstance(obj.get("transaction"), dict):
            return QontoTransaction.model_validate(obj["transaction"])
        if isinstance(obj.get("data"), dict) and "side" in obj["data"]:
            return QontoTransaction.model_validate(obj["data"])
    raise error


def organization_of(line: bytes | str) -> str | None:
    """The ``organization_id`` a transaction line carries at its top level, if any."""
    obj = json.loads(line)
    value = obj.get("organization_id") if isinstance(obj, dict) else None
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError("organization_id must be a non-empty string")
    return value


def parse_scoped(line: bytes | str) -> tuple[str | None, QontoTransaction]:
    """``(organisation, transaction)`` of one line, the line parsed once in the usual case.

    A transaction object keeps its unknown top-level keys (``model_extra``): only when
    ``organization_id`` is among them is the line read again for it (as written, not
    cleaned). An envelope is read as JSON anyway: its organisation is taken there."""
    try:
        tx = QontoTransaction.model_validate_json(line)
    except ValidationError as exc:
        organization = organization_of(line)  # first: a bad organisation is the error
        return organization, _from_envelope(line, exc)
    extra = tx.model_extra
    if extra and "organization_id" in extra:
        return organization_of(line), tx
    return None, tx


def load_transactions(path: Path) -> Iterator[QontoTransaction]:
    for line in _lines(path):
        yield parse_transaction(line)


def load_scoped_transactions(path: Path) -> Iterator[tuple[str | None, QontoTransaction]]:
    """``(organisation, transaction)`` per line (``None``: the default organisation)."""
    for number, line in enumerate(_lines(path), start=1):
        try:
            yield parse_scoped(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc


def run_match(
    invoices: Iterable[Invoice],
    transactions: Iterable[QontoTransaction],
    engine: MatchingEngine | None = None,
) -> Iterator[MatchResult]:
    """What ``match`` does, without files (``evaluate`` uses it too)."""
    book = InvoiceBook(invoices)
    return reconcile(transactions, book, engine or MatchingEngine(EngineConfig()))


def run_match_organizations(
    invoices: Iterable[Invoice],
    transactions: Iterable[tuple[str | None, QontoTransaction]],
    engine: MatchingEngine | None = None,
) -> Iterator[MatchResult]:
    """``match`` with organisations: one book per organisation, never crossed."""
    books: dict[str | None, InvoiceBook] = {}
    for invoice in invoices:
        book = books.get(invoice.organization_id)
        if book is None:
            book = books[invoice.organization_id] = InvoiceBook()
        book.upsert(invoice)
    return reconcile_organizations(transactions, books, engine or MatchingEngine(EngineConfig()))


def write_results(results: Iterable[MatchResult], out: IO[str]) -> int:
    count = 0
    for result in results:
        out.write(result.model_dump_json())
        out.write("\n")
        count += 1
    return count


WRITE_BATCH = 512  # results serialised before one write


def write_results_binary(results: Iterable[MatchResult], out: IO[bytes]) -> int:
    """:func:`write_results` to a binary file: the JSON bytes as pydantic serialises them
    (no decoding and re-encoding), written a batch at a time; what was decided before an
    error is still written."""
    serializer = MatchResult.__pydantic_serializer__
    count = 0
    batch: list[bytes] = []
    try:
        for result in results:
            batch.append(serializer.to_json(result))
            count += 1
            if len(batch) >= WRITE_BATCH:
                batch.append(b"")
                out.write(b"\n".join(batch))
                batch = []
    finally:
        if batch:
            batch.append(b"")
            out.write(b"\n".join(batch))
    return count


def main(args: argparse.Namespace) -> int:
    collecting = gc.isenabled()
    try:
        gc.disable()  # loading allocates much and frees nothing: no cycle to look for
        try:
            invoices = load_invoices(args.invoices)
            results = run_match_organizations(invoices, load_scoped_transactions(args.transactions))
        finally:
            if collecting:
                gc.enable()
        # The books live until the end: out of the collector's sight, each collection of the
        # oldest generation no longer walks every invoice again.
        del invoices
        gc.freeze()
        if args.out is None:
            write_results(results, sys.stdout)
        else:
            with args.out.open("wb") as out:
                write_results_binary(results, out)
    except (OSError, ValueError) as exc:
        print(f"qonto-matcher match: {exc}", file=sys.stderr)
        return 1
    finally:
        gc.unfreeze()  # an in-process caller (tests) gets its collector back as it was
    return 0
