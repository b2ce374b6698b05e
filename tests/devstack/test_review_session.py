"""The scripted reviewer of ``make backtest-demo``: what a careful reviewer does with each
result, knowing what every payment really paid."""

from __future__ import annotations

from collections.abc import Mapping

from qrecon.devstack.review_session import DeskRefused, Proposal, Step, next_step, review

TRUTH = {"inv-1": 12000}


def _p(status: str, allocations: Mapping[str, int] | None = None, seq: int = 1) -> Proposal:
    return Proposal(status, dict(allocations or {}), seq)


# ---------------------------------------------------------------------- the rule
def test_a_right_suggestion_is_confirmed() -> None:
    assert next_step(_p("suggested", TRUTH), TRUTH) == Step("confirm")


def test_a_suggestion_naming_an_invoice_not_paid_has_that_pair_rejected() -> None:
    step = next_step(_p("suggested", {"inv-1": 6000, "inv-9": 6000}), TRUTH)
    assert step == Step("reject", invoice_ids=("inv-9",))


def test_a_suggestion_with_the_right_invoices_but_not_all_of_them_is_matched_by_hand() -> None:
    truth = {"inv-1": 12000, "inv-2": 3000}
    assert next_step(_p("suggested", {"inv-1": 12000}), truth) == Step("match", allocations=truth)


def test_a_suggestion_with_the_right_invoice_at_the_wrong_amount_is_matched_by_hand() -> None:
    assert next_step(_p("suggested", {"inv-1": 11000}), TRUTH) == Step("match", allocations=TRUTH)
    # more than a bank fee over what was received: the invoice was not paid in full
    assert next_step(_p("suggested", {"inv-1": 15001}), TRUTH) == Step("match", allocations=TRUTH)


def test_a_suggestion_settling_the_invoice_of_a_payment_short_by_a_fee_is_confirmed() -> None:
    # 120,00 received for a 125,00 invoice: the engine settles it, 5,00 of fee in residual
    assert next_step(_p("suggested", {"inv-1": 12500}), TRUTH) == Step("confirm")


def test_a_suggestion_for_a_payment_of_no_invoice_is_rejected() -> None:
    assert next_step(_p("suggested", {"inv-3": 500}), {}) == Step("reject", invoice_ids=("inv-3",))


def test_a_missed_payment_is_matched_by_hand_and_an_unmatched_non_payment_left() -> None:
    assert next_step(_p("unmatched"), TRUTH) == Step("match", allocations=TRUTH)
    assert next_step(_p("unmatched"), {}) == Step("leave")


def test_a_final_result_is_left_alone() -> None:
    assert next_step(_p("auto_matched", TRUTH), TRUTH) == Step("leave")
    assert next_step(_p("reverted"), TRUTH) == Step("leave")


def test_on_the_last_step_the_reviewer_stops_rejecting_and_matches_the_truth() -> None:
    wrong = _p("suggested", {"inv-9": 12000})
    assert next_step(wrong, TRUTH, last=True) == Step("match", allocations=TRUTH)


# ---------------------------------------------------------------------- the session
class FakeDesk:
    """A review API whose engine proposes, after each rejection, the next of a list."""

    def __init__(self, proposals: dict[str, list[Proposal]]) -> None:
        self.queue = {k: list(v) for k, v in proposals.items()}
        self.current = {k: v.pop(0) for k, v in self.queue.items()}
        self.calls: list[tuple[str, str, object]] = []
        self.refuse: set[str] = set()

    async def proposal(self, transaction_id: str) -> Proposal | None:
        return self.current.get(transaction_id)

    def _settle(self, tx: str, allocations: Mapping[str, int]) -> None:
        seq = self.current[tx].result_seq + 1
        self.current[tx] = Proposal("auto_matched", dict(allocations), seq)

    async def confirm(self, transaction_id: str, seq: int) -> None:
        assert seq == self.current[transaction_id].result_seq
        self.calls.append((transaction_id, "confirm", None))
        self._settle(transaction_id, self.current[transaction_id].allocations)

    async def reject(self, transaction_id: str, invoice_ids: list[str], seq: int) -> None:
        assert seq == self.current[transaction_id].result_seq
        self.calls.append((transaction_id, "reject", tuple(invoice_ids)))
        following = self.queue[transaction_id]
        self.current[transaction_id] = (
            following.pop(0) if following else _p("unmatched", seq=seq + 1)
        )

    async def match(self, transaction_id: str, allocations: dict[str, int], seq: int) -> None:
        if transaction_id in self.refuse:
            raise DeskRefused("conflict", "an invoice's residual no longer covers it")
        self.calls.append((transaction_id, "match", dict(allocations)))
        self._settle(transaction_id, allocations)


async def test_a_session_confirms_rejects_then_confirms_and_matches_what_was_missed() -> None:
    desk = FakeDesk(
        {
            "tx-right": [_p("suggested", {"inv-1": 12000})],
            # the engine first proposes the wrong invoice of that amount, then the right one
            "tx-wrong": [_p("suggested", {"inv-8": 5000}), _p("suggested", {"inv-2": 5000}, 2)],
            "tx-missed": [_p("unmatched")],
            "tx-fee": [_p("unmatched")],  # a bank fee: paid no invoice
            "tx-noise": [_p("suggested", {"inv-7": 900})],  # paid no invoice either
        }
    )
    truths = {
        "tx-right": {"inv-1": 12000},
        "tx-wrong": {"inv-2": 5000},
        "tx-missed": {"inv-3": 700},
    }

    tally = await review(
        desk, truths, ["tx-right", "tx-wrong", "tx-missed", "tx-fee", "tx-noise", "tx-gone"]
    )

    assert desk.calls == [
        ("tx-right", "confirm", None),
        ("tx-wrong", "reject", ("inv-8",)),
        ("tx-wrong", "confirm", None),
        ("tx-missed", "match", {"inv-3": 700}),
        ("tx-noise", "reject", ("inv-7",)),
    ]
    assert tally.reviewed == 5
    assert tally.decisions == {"confirm": 2, "reject": 2, "match": 1}
    assert tally.outcomes == {
        "suggested -> reconciled": 2,
        "unmatched -> reconciled": 1,
        "unmatched -> nothing to reconcile": 1,
        "suggested -> nothing to reconcile": 1,
        "unknown to the matcher": 1,
    }


async def test_an_engine_that_keeps_proposing_wrong_invoices_gets_the_truth_by_hand() -> None:
    wrong = [_p("suggested", {f"inv-w{i}": 12000}, i) for i in range(1, 10)]
    desk = FakeDesk({"tx": wrong})

    tally = await review(desk, {"tx": TRUTH}, ["tx"], max_steps=3)

    assert [call[1] for call in desk.calls] == ["reject", "reject", "match"]
    assert desk.current["tx"].allocations == TRUTH
    assert tally.outcomes == {"suggested -> reconciled": 1}


async def test_a_refused_decision_is_counted_and_the_line_left_open() -> None:
    desk = FakeDesk({"tx": [_p("unmatched")]})
    desk.refuse.add("tx")

    tally = await review(desk, {"tx": TRUTH}, ["tx"])

    assert tally.refused == {"match: conflict": 1}
    assert tally.outcomes == {"unmatched -> still open": 1}
