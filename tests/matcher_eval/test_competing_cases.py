"""The generator's cases for issue 17: competing explanations and numbers given by their
last digits; and the reliability table the evaluation reports."""

from __future__ import annotations

from collections import Counter

from qrecon.common.schemas import Invoice, QontoTransaction
from qrecon.matcher.cli.match import run_match
from qrecon.matcher_eval import generate
from qrecon.matcher_eval.metrics import score


def test_competing_payments_have_two_exact_readings_and_are_not_matchable() -> None:
    dataset = generate(31, 3000)
    invoices = {row["id"]: row for row in dataset.invoices}
    competing = [label for label in dataset.labels if label.case == "competing_group"]
    assert competing
    for label in competing:
        assert not label.matchable
        assert label.truth  # the label still says what the customer paid
        paid = [invoices[a["invoice_id"]] for a in label.truth]
        party = paid[0]["counterparty_name"]
        total = sum(a["amount_cents"] for a in label.truth)
        same_party = [
            row
            for row in dataset.invoices
            if row["counterparty_name"] == party and row["id"] not in {i["id"] for i in paid}
        ]
        if len(paid) == 1:  # the other reading: several invoices adding up to it
            assert sum(1 for row in same_party if 0 < row["amount_cents"] < total) >= 2
        else:  # the other reading: one invoice of the whole amount
            assert any(row["amount_cents"] == total for row in same_party)


def test_partial_numbers_name_only_the_last_digits() -> None:
    dataset = generate(32, 3000)
    invoices = {row["id"]: row for row in dataset.invoices}
    seen = 0
    for raw, label in zip(dataset.transactions, dataset.labels, strict=True):
        if label.case != "ref_partial_multi":
            continue
        seen += 1
        text = " ".join(x for x in (raw["reference"], raw["label"]) if x)
        for allocation in label.truth:
            number = invoices[allocation["invoice_id"]]["number"]
            tail = "".join(ch if ch.isdigit() else " " for ch in number).split()[-1]
            assert tail.lstrip("0") in text
            assert number not in text
    assert seen


def test_the_report_has_a_reliability_table_and_the_engine_is_humble_on_competition() -> None:
    dataset = generate(33, 2500)
    invoices = [Invoice.model_validate(row) for row in dataset.invoices]
    txs = [QontoTransaction.model_validate(row) for row in dataset.transactions]
    results = list(run_match(invoices, txs))
    report = score(dataset.labels, results).as_dict()
    reliability = report["reliability"]
    assert 0.0 <= reliability["ece"] <= 1.0
    assert reliability["n"] == sum(row["n"] for row in report["calibration"])
    assert reliability["precision_at_or_above_threshold"] is not None
    statuses = Counter(
        result.status
        for label, result in zip(dataset.labels, results, strict=True)
        if label.case == "competing_group"
    )
    assert statuses["auto_matched"] == 0
