"""The back-test: replay the history, compare with what reviewers confirmed, rejected or
matched by hand; precision and coverage overall and per reason."""

from __future__ import annotations

from qrecon.matcher.core import MatchingEngine
from qrecon.matcher.core.backtest import Verdict, backtest

from .conftest import IBAN_DUPONT, Make


def test_precision_and_coverage_per_reason_against_reviewers(make: Make) -> None:
    invoices = [
        make.invoice("FAC-2025-0001", "Maison Dupont SARL", 10000, iban=IBAN_DUPONT),
        make.invoice("FAC-2025-0002", "Martin Plomberie SAS", 20000),
        make.invoice("FAC-2025-0003", "Bernard Conseil EURL", 30000, issue="2025-03-01"),
        make.invoice("FAC-2025-0004", "Bernard Conseil EURL", 30000, issue="2025-03-05"),
        make.invoice("FAC-2025-0005", "Roux SCI", 45000, status="paid"),
    ]
    right = make.tx(10000, label="MAISON DUPONT", reference="FAC-2025-0001", id="right")
    # the oldest of two equal invoices is taken; the reviewer says it was the other one
    wrong = make.tx(30000, label="BERNARD CONSEIL EURL", id="wrong")
    rejected = make.tx(20000, label="MARTIN PLOMBERIE SAS", id="rejected")
    by_hand = make.tx(44000, label="SCI ROUX", id="by_hand")  # paid invoice, reopened
    unreviewed = make.tx(30000, label="BERNARD CONSEIL EURL", id="unreviewed")
    verdicts = {
        "right": Verdict("confirm", {"inv-FAC-2025-0001": 10000}),
        "wrong": Verdict("match", {"inv-FAC-2025-0004": 30000}),
        "rejected": Verdict("reject", rejected=frozenset({"inv-FAC-2025-0002"})),
        "by_hand": Verdict("match", {"inv-FAC-2025-0005": 44000}),
    }

    report = backtest(
        MatchingEngine(),
        invoices,
        [right, wrong, rejected, by_hand, unreviewed],
        verdicts,
    )

    statuses = [r.status for r in report.results]
    assert statuses[:3] == ["auto_matched", "auto_matched", "auto_matched"]
    overall = report.overall
    assert (overall.reviewed, overall.with_truth) == (4, 3)
    assert (overall.auto, overall.auto_correct) == (3, 1)
    assert overall.precision == 1 / 3
    assert overall.coverage == 1 / 3
    by_reason = {s.reason: s for s in report.reasons}
    assert by_reason["reference.invoice_number.exact"].precision == 1.0
    assert by_reason["amount.tie_oldest_first"].precision == 0.0
    # the book followed the reviewer: FAC-2025-0004 is paid, the last payment takes 0003
    assert [a.invoice_number for a in report.results[-1].allocations] == ["FAC-2025-0003"]
    assert report.would_auto_match == 4
    assert report.reliability.n == 4
