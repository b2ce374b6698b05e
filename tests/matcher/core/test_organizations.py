"""One book per organisation (``reconcile_organizations``): what other organisations hold
never changes an organisation's decisions, and nothing is allocated across them."""

from __future__ import annotations

from qrecon.common.schemas import Invoice, MatchResult, QontoTransaction
from qrecon.matcher.core import InvoiceBook, MatchingEngine, reconcile_organizations

from .conftest import IBAN_DUPONT, IBAN_MARTIN, Make


def _books(make: Make) -> list[Invoice]:
    return [
        make.invoice("FAC-2025-0001", "Maison Dupont SARL", 100000, iban=IBAN_DUPONT),
        make.invoice("FAC-2025-0002", "Maison Dupont SARL", 50000, iban=IBAN_DUPONT),
        make.invoice("FAC-2025-0003", "Boulangerie Martin", 33300, iban=IBAN_MARTIN),
    ]


def _payments(make: Make, org: str) -> list[tuple[str | None, QontoTransaction]]:
    return [
        (org, make.tx(100000, label="MAISON DUPONT", reference="FAC-2025-0001", id=f"{org}-1")),
        (org, make.tx(50000, label="VIR MAISON DUPONT", iban=IBAN_DUPONT, id=f"{org}-2")),
        (org, make.tx(33300, clean="BOULANGERIE MARTIN", id=f"{org}-3")),
        (org, make.tx(50000, label="MAISON DUPONT", reference="FAC-2025-0002", id=f"{org}-4")),
    ]


def _decisions(results: list[MatchResult], org: str) -> list[tuple[str, dict[str, int], list[str]]]:
    return [
        (r.status, {a.invoice_id: a.amount_cents for a in r.allocations}, r.reasons)
        for r in results
        if r.organization_id == org
    ]


def test_an_organisations_decisions_do_not_depend_on_the_others(
    make: Make, engine: MatchingEngine
) -> None:
    alone = list(
        reconcile_organizations(
            _payments(make, "org-a"),
            {"org-a": InvoiceBook(_books(make))},
            engine,
        )
    )
    # Nine more organisations: the same customers, IBANs and invoice numbers, and ids,
    # but other amounts; their payments interleaved with org-a's.
    books: dict[str | None, InvoiceBook] = {"org-a": InvoiceBook(_books(make))}
    stream: list[tuple[str | None, QontoTransaction]] = []
    for k in range(9):
        org = f"org-{k}"
        books[org] = InvoiceBook(
            [
                i.model_copy(update={"amount_cents": i.amount_cents + 100 * (k + 1)})
                for i in _books(make)
            ]
        )
        stream += _payments(make, org)
    mixed = stream[:6] + _payments(make, "org-a") + stream[6:]
    crowded = list(reconcile_organizations(mixed, books, engine))

    assert _decisions(crowded, "org-a") == _decisions(alone, "org-a")
    assert [r.status for r in alone] == [
        "auto_matched",
        "auto_matched",
        "auto_matched",
        "unmatched",
    ]
    # Every other organisation's exact payments find nothing of theirs at those amounts, and
    # never org-a's invoices (its residuals are exactly what its own payments left).
    assert books["org-a"].residual("inv-FAC-2025-0001") == 0
    assert books["org-a"].residual("inv-FAC-2025-0002") == 0
    for k in range(9):
        assert books[f"org-{k}"].residual("inv-FAC-2025-0003") == 33300 + 100 * (k + 1)
