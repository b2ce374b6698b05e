"""A scripted review session: a careful reviewer who knows the month's ground truth.

Used by ``make backtest-demo`` after a month played in shadow mode (every result is a
suggestion), so the matcher's database holds what a real review desk would leave behind:
confirmed suggestions, rejected pairs and allocations made by hand. ``qonto-matcher
backtest`` then compares the engine's decisions with them.

The reviewer, per transaction, oldest first:

* a suggestion that allocates what the payment paid is **confirmed**: the same invoices
  for the same amounts, or for a little more when the payment fell short by a deducted
  bank fee (at most ``fee_tolerance_cents`` in all: the engine settles the invoice and
  records the shortfall as a negative residual, as the emulator marks such an invoice
  paid while its ground truth records the amount received);
* a suggestion naming an invoice the payment did not pay has those pairs **rejected**
  (never proposed again); the engine decides again and the reviewer looks again;
* a suggestion that names only right invoices but not all of them, or the wrong amounts,
  and a payment left unmatched although it paid invoices, are **matched by hand**;
* a suggestion for a payment that paid no invoice is rejected;
* an unmatched transaction that paid nothing, or a result already final, is left alone.

At most ``max_steps`` decisions per transaction: after that the truth is matched by hand.
:func:`next_step` is the pure rule; :func:`review` drives any :class:`Desk` (the review
API over HTTP, or a fake in tests).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Action = Literal["confirm", "reject", "match", "leave"]


@dataclass(frozen=True, slots=True)
class Proposal:
    """A transaction's current result as the review API shows it."""

    status: str
    allocations: Mapping[str, int]  # invoice id -> cents
    result_seq: int


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    invoice_ids: tuple[str, ...] = ()  # reject
    allocations: Mapping[str, int] = field(default_factory=dict)  # match


class Desk(Protocol):
    """The review API, as the session uses it (``None``: the matcher has no such line)."""

    async def proposal(self, transaction_id: str) -> Proposal | None: ...
    async def confirm(self, transaction_id: str, seq: int) -> None: ...
    async def reject(self, transaction_id: str, invoice_ids: list[str], seq: int) -> None: ...
    async def match(self, transaction_id: str, allocations: dict[str, int], seq: int) -> None: ...


class DeskRefused(Exception):
    """The review API refused a decision (its error code: ``conflict``, ``not_found``...)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


FEE_TOLERANCE_CENTS = 3000  # the engine's EngineConfig.fee_tolerance_cents


def agrees(proposed: Mapping[str, int], truth: Mapping[str, int], fee_tolerance_cents: int) -> bool:
    """Does an allocation settle what the payment paid: the same invoices, each for at
    least the amount received, at most ``fee_tolerance_cents`` more in all (a fee)?"""
    if not proposed or set(proposed) != set(truth):
        return False
    if any(abs(proposed[i]) < abs(truth[i]) for i in truth):
        return False
    return sum(abs(a) for a in proposed.values()) - sum(abs(a) for a in truth.values()) <= (
        fee_tolerance_cents
    )


def next_step(
    proposal: Proposal,
    truth: Mapping[str, int],
    *,
    last: bool = False,
    fee_tolerance_cents: int = FEE_TOLERANCE_CENTS,
) -> Step:
    """What a careful reviewer does with ``proposal`` knowing what the payment ``truth``
    paid (invoice id -> cents; empty: no invoice). ``last``: no more rejecting, the
    reviewer matches the truth by hand."""
    proposed = dict(proposal.allocations)
    if proposal.status == "suggested":
        if agrees(proposed, truth, fee_tolerance_cents):
            return Step("confirm")
        wrong = tuple(sorted(set(proposed) - set(truth)))
        if wrong and not (last and truth):
            return Step("reject", invoice_ids=wrong)
        if truth:
            return Step("match", allocations=dict(truth))
        return Step("reject", invoice_ids=tuple(sorted(proposed))) if proposed else Step("leave")
    if proposal.status == "unmatched" and truth:
        return Step("match", allocations=dict(truth))
    return Step("leave")


@dataclass
class SessionTally:
    """What the session did: decisions taken, and how each transaction ended."""

    reviewed: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reviewed": self.reviewed,
            "decisions": dict(self.decisions),
            "outcomes": dict(self.outcomes),
            "refused": dict(self.refused),
        }


async def review(
    desk: Desk,
    truths: Mapping[str, Mapping[str, int]],
    transaction_ids: Iterable[str],
    *,
    max_steps: int = 4,
) -> SessionTally:
    """Review ``transaction_ids`` in that order against ``truths`` (missing: paid nothing)."""
    tally = SessionTally()
    for tx_id in transaction_ids:
        truth = truths.get(tx_id, {})
        proposal = await desk.proposal(tx_id)
        if proposal is None:
            tally.outcomes["unknown to the matcher"] += 1
            continue
        tally.reviewed += 1
        first = proposal.status
        for steps in range(max_steps + 1):
            step = next_step(proposal, truth, last=steps >= max_steps - 1)
            if step.action == "leave" or steps == max_steps:
                break
            try:
                await _take(desk, tx_id, step, proposal.result_seq)
            except DeskRefused as refused:
                tally.refused[f"{step.action}: {refused.code}"] += 1
                break
            tally.decisions[step.action] += 1
            fresh = await desk.proposal(tx_id)
            if fresh is None:
                break
            proposal = fresh
        tally.outcomes[_outcome(first, proposal, truth)] += 1
    return tally


async def _take(desk: Desk, tx_id: str, step: Step, seq: int) -> None:
    if step.action == "confirm":
        await desk.confirm(tx_id, seq)
    elif step.action == "reject":
        await desk.reject(tx_id, list(step.invoice_ids), seq)
    elif step.action == "match":
        await desk.match(tx_id, dict(step.allocations), seq)


def _outcome(first: str, final: Proposal, truth: Mapping[str, int]) -> str:
    right = final.status != "suggested" and agrees(final.allocations, truth, FEE_TOLERANCE_CENTS)
    if right:
        return f"{first} -> reconciled"
    if not truth and not final.allocations:
        return f"{first} -> nothing to reconcile"
    return f"{first} -> still open"
