"""Use cases of the review API: confirm, reject, match by hand, undo.

Each decision publishes a new result (:mod:`.decisions`) and teaches the engine: aliases
(persisted, loaded into every replica's Knowledge) and rejected pairs (never suggested
again; also re-read inside each decision's unit of work). ``expected_seq`` refuses with
:class:`.errors.Conflict` a decision taken on a result that changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable

from qrecon.common.schemas import Allocation, MatchResult, QontoTransaction
from qrecon.matcher.app import lifecycle
from qrecon.matcher.app.decisions import DecidedBy, Decisions, check_residuals
from qrecon.matcher.app.errors import Conflict, InvalidRequest, NotFound
from qrecon.matcher.app.ports import InvoiceRecord, TransactionRecord, UnitOfWork
from qrecon.matcher.core import aliases, rules
from qrecon.matcher.core.evidence import payment_view


class Reviews:
    def __init__(self, decisions: Decisions, alias_rules: aliases.AliasRules | None = None) -> None:
        self.decisions = decisions
        self.alias_rules = alias_rules or aliases.AliasRules()

    # ------------------------------------------------------------------ shared steps
    @staticmethod
    async def _start(
        uow: UnitOfWork, transaction_id: str, expected_seq: int | None
    ) -> TransactionRecord:
        await uow.repo.lock_transactions([transaction_id])
        prev = await uow.repo.get_transaction(transaction_id)
        if prev is None:
            raise NotFound(f"transaction {transaction_id} is unknown")
        if expected_seq is not None and prev.result_seq != expected_seq:
            raise Conflict(
                "the result changed since it was read",
                result_seq=prev.result_seq,
                expected_result_seq=expected_seq,
            )
        return prev

    async def _commit(
        self,
        uow: UnitOfWork,
        tx: QontoTransaction,
        prev: TransactionRecord,
        held: dict[str, int],
        result: MatchResult,
        decided_by: DecidedBy,
    ) -> None:
        """Write a decision a review action produced (its allocations replace the held ones)."""
        await self.decisions.commit(
            uow,
            tx=tx,
            prev=prev,
            held=held,
            result=result,
            keep_allocations=False,
            cause="review",
            decided_by=decided_by,
        )

    async def _teach_aliases(
        self,
        uow: UnitOfWork,
        tx: QontoTransaction,
        invoices: Iterable[InvoiceRecord],
        decision_id: int,
    ) -> tuple[list[int], dict[str, str]]:
        """Record what the decision teaches (``core.aliases``: only a name or IBAN specific
        to the invoices' customer); the alias ids added, and what was not learnt and why."""
        name, iban = lifecycle.observed_counterparty(tx)
        state = self.decisions.state
        customers = [str(row.invoice.get("counterparty_name") or "") for row in invoices]
        taught = aliases.lesson(
            self.alias_rules, state.book, state.knowledge, name, iban, customers
        )
        added: list[int] = []
        for alias_name, alias_iban, target in taught.aliases:
            alias_id = await uow.repo.add_alias(alias_name, alias_iban, target, decision_id)
            if alias_id is not None:
                added.append(alias_id)
                uow.after_commit(
                    lambda n=alias_name, i=alias_iban, t=target: state.knowledge.add_alias(  # type: ignore[misc]
                        n or None, i or None, t
                    )
                )
        return added, taught.not_learnt

    @staticmethod
    def _taught(
        allocations: dict[str, int], added: list[int], refused: dict[str, str]
    ) -> dict[str, object]:
        """A decision's payload: its allocations, the aliases it added and, when some
        payer name or IBAN was not learnt, why (``core.aliases``)."""
        payload: dict[str, object] = {"allocations": allocations, "aliases": added}
        if refused:
            payload["not_learnt"] = refused
        return payload

    # ------------------------------------------------------------------ use cases
    async def confirm(
        self, transaction_id: str, *, expected_seq: int | None = None, actor: str | None = None
    ) -> MatchResult:
        """Accept a suggestion: allocate it (checked against residuals) and learn aliases."""
        d = self.decisions
        async with d.db.unit_of_work() as uow:
            prev = await self._start(uow, transaction_id, expected_seq)
            if prev.result_status != "suggested":
                raise Conflict(f"only a suggestion can be confirmed (it is {prev.result_status})")
            suggestion = MatchResult.model_validate(prev.result)
            wanted = lifecycle.allocations_map(suggestion.allocations)
            if not wanted:
                raise Conflict("the suggestion has no allocation")
            tx = QontoTransaction.model_validate(prev.transaction)
            held = await uow.repo.allocations_of(transaction_id)
            locked = await uow.repo.lock_invoices(set(wanted) | set(held))
            bad = check_residuals(locked, held, wanted)
            if bad:
                raise Conflict(
                    "an invoice's residual no longer covers the suggestion", invoice_ids=bad
                )
            decision_id = await uow.repo.insert_decision(
                transaction_id, "confirm", {"allocations": wanted}, actor
            )
            added, refused = await self._teach_aliases(
                uow, tx, [locked[i] for i in wanted], decision_id
            )
            await uow.repo.update_decision_payload(
                decision_id, self._taught(wanted, added, refused)
            )
            result = suggestion.model_copy(
                update={
                    "status": "auto_matched",
                    "confidence": 1.0,
                    "reasons": list(
                        dict.fromkeys([lifecycle.REASON_CONFIRMED, *suggestion.reasons])
                    ),
                    "decided_at": d.clock(),
                    "matcher_version": d.matcher_version,
                }
            )
            await self._commit(uow, tx, prev, held, result, "review")
        return result

    async def reject(
        self,
        transaction_id: str,
        invoice_ids: list[str] | None = None,
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
    ) -> MatchResult:
        """Reject pairs (by default, what the current result proposes) and decide again."""
        d = self.decisions

        async def attempt(degrade: bool) -> MatchResult:
            async with d.db.unit_of_work() as uow:
                prev = await self._start(uow, transaction_id, expected_seq)
                targets = list(dict.fromkeys(invoice_ids or []))
                if not targets:
                    targets = [a["invoice_id"] for a in prev.result.get("allocations") or []]
                if not targets:
                    raise Conflict("nothing to reject: the result proposes no invoice")
                decision_id = await uow.repo.insert_decision(
                    transaction_id, "reject", {"invoice_ids": targets}, actor
                )
                added = await uow.repo.add_rejections(transaction_id, targets, decision_id)
                await uow.repo.update_decision_payload(
                    decision_id, {"invoice_ids": targets, "rejections_added": added}
                )
                knowledge = d.state.knowledge

                def forget() -> None:
                    for invoice_id in added:
                        knowledge.unreject(transaction_id, invoice_id)

                uow.after_rollback(forget)
                tx = QontoTransaction.model_validate(prev.transaction)
                held = await uow.repo.allocations_of(transaction_id)
                rejected = await uow.repo.rejections_of(transaction_id)
                if lifecycle.reversal_reason(tx) is not None:
                    raise Conflict("the transaction was declined or reversed")
                result = lifecycle.with_reasons(
                    d.decide(tx, held, rejected, degrade), lifecycle.REASON_REJECTED
                )
                await self._commit(uow, tx, prev, held, result, "review")
                return result

        return await d.with_conflict_retries(attempt)

    async def match_manually(
        self,
        transaction_id: str,
        allocations: dict[str, int],
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
    ) -> MatchResult:
        """Allocate explicitly (validated against the residuals under lock)."""
        d = self.decisions
        if not allocations:
            raise InvalidRequest("at least one allocation is required")
        if any(amount == 0 for amount in allocations.values()):
            raise InvalidRequest("an allocation amount cannot be zero", rule="sign")
        async with d.db.unit_of_work() as uow:
            prev = await self._start(uow, transaction_id, expected_seq)
            tx = QontoTransaction.model_validate(prev.transaction)
            if lifecycle.reversal_reason(tx) is not None:
                raise Conflict("the transaction was declined or reversed")
            held = await uow.repo.allocations_of(transaction_id)
            locked = await uow.repo.lock_invoices(set(allocations) | set(held))
            missing = sorted(i for i in allocations if i not in locked)
            if missing:
                raise NotFound("unknown invoice", invoice_ids=missing)
            proposed = [
                rules.Proposed(i, row.kind, row.currency, row.amount_cents, amount)
                for i, amount in allocations.items()
                for row in (locked[i],)
            ]
            # A payment abroad pays invoices kept in its local currency from local_amount
            # (as the engine reads it: core.evidence.payment_view).
            paid = payment_view(tx, {row.currency for row in locked.values()})
            broken = rules.check_allocations(paid.side, paid.currency, paid.amount_cents, proposed)
            if broken is not None:
                extra = {"invoice_id": broken.invoice_id} if broken.invoice_id else {}
                raise InvalidRequest(broken.detail, rule=broken.rule, **extra)
            bad = check_residuals(locked, held, allocations)
            if bad:
                raise Conflict(
                    "allocation exceeds an invoice's residual (or the invoice is not open)",
                    rule="open_amount",
                    invoice_ids=bad,
                    residuals={
                        i: (locked[i].residual_cents + held.get(i, 0))
                        if locked[i].allocatable
                        else 0
                        for i in bad
                    },
                )
            decision_id = await uow.repo.insert_decision(
                transaction_id, "match", {"allocations": allocations}, actor
            )
            added, refused = await self._teach_aliases(
                uow, tx, [locked[i] for i in allocations], decision_id
            )
            await uow.repo.update_decision_payload(
                decision_id, self._taught(allocations, added, refused)
            )
            result = MatchResult(
                transaction_id=tx.id,
                transaction_version=tx.version,
                status="auto_matched",
                allocations=[
                    Allocation(
                        invoice_id=i,
                        invoice_number=str(locked[i].invoice.get("number") or ""),
                        amount_cents=a,
                    )
                    for i, a in sorted(allocations.items())
                ],
                residual_cents=paid.amount_cents - rules.effective_cents(tx.side, proposed),
                confidence=1.0,
                reasons=[lifecycle.REASON_MANUAL],
                matcher_version=d.matcher_version,
                decided_at=d.clock(),
            )
            await self._commit(uow, tx, prev, held, result, "review")
        return result

    async def undo(
        self, transaction_id: str, *, expected_seq: int | None = None, actor: str | None = None
    ) -> MatchResult:
        """Undo the last review decision: forget what it taught, decide again."""
        d = self.decisions

        async def attempt(degrade: bool) -> MatchResult:
            async with d.db.unit_of_work() as uow:
                prev = await self._start(uow, transaction_id, expected_seq)
                decision = await uow.repo.last_undoable_decision(transaction_id)
                if decision is None:
                    raise Conflict("no review decision to undo")
                await uow.repo.forget_decision(decision.id)
                await uow.repo.mark_undone(decision.id)
                await uow.repo.insert_decision(
                    transaction_id, "undo", {"undid": decision.id, "action": decision.action}, actor
                )
                await uow.repo.bump_knowledge_epoch()
                await d.state.rebuild_knowledge(uow.repo)
                uow.after_rollback(d.state.invalidate_knowledge)
                tx = QontoTransaction.model_validate(prev.transaction)
                held = await uow.repo.allocations_of(transaction_id)
                rejected = await uow.repo.rejections_of(transaction_id)
                reversal = lifecycle.reversal_reason(tx)
                if reversal is not None:
                    result = d.reversal(tx, prev.result_status, reversal)
                else:
                    result = d.decide(tx, held, rejected, degrade)
                result = lifecycle.with_reasons(result, lifecycle.REASON_UNDONE)
                await self._commit(uow, tx, prev, held, result, "engine")
                return result

        return await d.with_conflict_retries(attempt)
