"""Use cases of the transaction side: a transaction event, and the sweep after a crash.

Lifecycle (the pure rules are in :mod:`.lifecycle`):

* a version no newer than the one held is a no-op (``stale`` / ``duplicate``);
* a later version ``declined`` (or marked reversed) of a matched or suggested transaction
  is ``reverted``: its allocations are released (residuals restored);
* a new version of an auto-matched transaction whose money is unchanged keeps its
  allocations (``lifecycle.carried_forward``): a decision is not re-litigated because a
  note was added;
* otherwise the engine decides (:mod:`.decisions`).
"""

from __future__ import annotations

from dataclasses import dataclass

from qrecon.common.schemas import MatchResult, TransactionEvent
from qrecon.matcher.app import lifecycle
from qrecon.matcher.app.decisions import DecidedBy, Decisions


@dataclass(frozen=True)
class Outcome:
    """What handling one event did."""

    applied: bool
    result: MatchResult | None = None
    reason: str = ""


class Transactions:
    def __init__(self, decisions: Decisions) -> None:
        self.decisions = decisions

    async def handle_transaction_event(self, event: TransactionEvent) -> Outcome:
        """Apply a transaction version if newer than the one held; decide; commit."""
        tx = event.transaction
        d = self.decisions

        async def attempt(degrade: bool) -> Outcome:
            async with d.db.unit_of_work() as uow:
                repo = uow.repo
                await repo.lock_transactions([tx.id])
                prev = await repo.get_transaction(tx.id)
                if prev is not None and prev.version >= tx.version:
                    return Outcome(
                        False, reason="stale" if prev.version > tx.version else "duplicate"
                    )
                held = await repo.allocations_of(tx.id) if prev is not None else {}
                reversal = lifecycle.reversal_reason(tx)
                keep = False
                decided_by: DecidedBy = "engine"
                if reversal is not None:
                    result = d.reversal(tx, prev.result_status if prev else None, reversal)
                elif (
                    prev is not None
                    and prev.result_status == lifecycle.ALLOCATING
                    and held
                    and not prev.needs_redecide
                    and held == lifecycle.allocations_map(prev.result.get("allocations") or [])
                    and lifecycle.money_of(prev.transaction) == lifecycle.money_of(tx)
                ):
                    result = lifecycle.carried_result(prev.result, tx, decided_at=d.clock())
                    keep = True
                    decided_by = "review" if prev.decided_by == "review" else "engine"
                else:
                    rejected = await repo.rejections_of(tx.id) if prev is not None else []
                    result = d.decide(tx, held, rejected, degrade)
                await d.commit(
                    uow,
                    tx=tx,
                    prev=prev,
                    held=held,
                    result=result,
                    keep_allocations=keep,
                    cause="transaction",
                    decided_by=decided_by,
                    event=event,
                )
                return Outcome(True, result)

        return await d.with_conflict_retries(attempt)

    async def sweep(self, limit: int = 100) -> int:
        """Decide again the transactions flagged ``needs_redecide`` (after a crash)."""
        async with self.decisions.db.reading() as repo:
            pairs = await repo.transactions_to_redecide(limit)
        for _, transaction_id in pairs:
            await self.decisions.redecide(transaction_id, cause="sweep")
        return len(pairs)
