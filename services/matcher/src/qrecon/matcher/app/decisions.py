"""How a decision is taken and committed: shared by every use case that decides.

Design
======
*PostgreSQL is the source of truth; each replica's memory is a cache.* A replica keeps the
engine's InvoiceBook and Knowledge in memory (:mod:`.cache`) because the engine scores a
transaction against every open item through in-memory indexes. The cache only proposes:
each decision is committed in one unit of work (:class:`.ports.UnitOfWork`, one
PostgreSQL transaction in production) that

1. locks the transaction (an advisory lock in PostgreSQL): one writer per transaction
   across replicas and paths (stream, invoice side, review API, sweeper);
2. compares versions: a transaction version is applied only if newer than the one held,
   so duplicates, replays after a crash and reordering are harmless;
3. locks the invoices it would allocate (in ``invoice_id`` order: no deadlock between
   replicas) and checks each residual; if one moved (another replica allocated it, the
   cache was stale), :class:`.errors.AllocationConflict` rolls the unit of work back, those
   invoices refresh the cache and the decision is taken again (``MATCHER_CONFLICT_RETRIES``
   times, then it is downgraded to a ``suggested`` result with reason
   ``lifecycle.allocation_conflict``, for a human);
4. writes the allocations; the store keeps every invoice's allocated amount within its
   amount (a trigger and a CHECK constraint in PostgreSQL), so even a faulty code path
   cannot over-allocate: :class:`.ports.ResidualViolation`, and the decision is retried;
5. writes the transaction's one effective result and its audit row, and **publishes** the
   result through :class:`.ports.ResultPublisher` — published iff the unit of work commits
   (a transactional outbox in PostgreSQL, relayed to Kafka by one active relay per
   deployment, with a deterministic ``event-id``: transaction id + result sequence).

*One effective result per transaction version.* The store holds, per transaction, the
version applied and its current result (``result_seq`` counts the results). Later results
for the same version (a review decision, an invoice that arrived or was cancelled)
supersede it, as the contract says; each is published once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal, TypeVar

from qrecon.common.logging import get_logger
from qrecon.common.schemas import Allocation, MatchResult, QontoTransaction, TransactionEvent
from qrecon.matcher import metrics
from qrecon.matcher.app import lifecycle
from qrecon.matcher.app.cache import OrgState
from qrecon.matcher.app.errors import AllocationConflict
from qrecon.matcher.app.ports import (
    Clock,
    Database,
    Engine,
    InvoiceRecord,
    ResidualViolation,
    SavedTransaction,
    TransactionRecord,
    UnitOfWork,
)
from qrecon.matcher.core.evidence import payment_view

log = get_logger(__name__)

DecidedBy = Literal["engine", "review"]
T = TypeVar("T")


def check_residuals(
    locked: dict[str, InvoiceRecord],
    held: dict[str, int],
    wanted: dict[str, int],
    currency: str | None = None,
) -> list[str]:
    """Invoices whose record (read under lock) cannot take ``wanted`` once ``held`` is
    released: unknown, not open, another currency, the wrong sign, or not enough residual."""
    bad: list[str] = []
    for invoice_id, amount in wanted.items():
        row = locked.get(invoice_id)
        if (
            row is None
            or not row.allocatable
            or amount == 0
            or (currency is not None and row.currency != currency)
        ):
            bad.append(invoice_id)
            continue
        after = row.allocated_cents - held.get(invoice_id, 0) + amount
        low, high = min(0, row.amount_cents), max(0, row.amount_cents)
        if (amount > 0) != (row.amount_cents > 0) or not low <= after <= high:
            bad.append(invoice_id)
    return bad


class Decisions:
    """Decide with the engine on this replica's cache; commit against the store. One per
    organisation: ``db`` and ``state`` are scoped to it, so a decision reads and writes
    that organisation's rows, and the engine sees that organisation's book only."""

    def __init__(
        self,
        db: Database,
        engine: Engine,
        state: OrgState,
        *,
        clock: Clock,
        matcher_version: str,
        conflict_retries: int,
        auto_match: bool = True,
    ) -> None:
        self.db = db
        self.auto_match = auto_match  # False: shadow mode, the engine only suggests
        self.engine = engine
        self.state = state
        self.clock = clock
        self.matcher_version = matcher_version
        self.conflict_retries = conflict_retries
        self.organization = state.organization

    def decide(
        self, tx: QontoTransaction, held: dict[str, int], rejected: Iterable[str], degrade: bool
    ) -> MatchResult:
        """The engine's decision, as if this transaction's own allocations were released.

        The book is adjusted and restored synchronously (no ``await`` in between), so no
        other task of this replica ever sees the adjustment.
        """
        book, knowledge = self.state.book, self.state.knowledge
        for invoice_id in rejected:
            knowledge.reject(tx.id, invoice_id)
        own = []
        for invoice_id, amount in held.items():
            held_invoice = book.get(invoice_id)
            if held_invoice is not None and held_invoice.status == "open":
                own.append(
                    Allocation(invoice_id=invoice_id, invoice_number="", amount_cents=amount)
                )
        book.release(own)
        try:
            result = self.engine.decide(tx, book, knowledge)
        finally:
            # release() of the negated amounts restores the exact residuals, unchecked.
            book.release([a.model_copy(update={"amount_cents": -a.amount_cents}) for a in own])
        result = result.model_copy(
            update={"decided_at": self.clock(), "transaction_version": tx.version}
        )
        if any(knowledge.is_rejected(tx.id, a.invoice_id) for a in result.allocations):
            result = result.model_copy(
                update={
                    "status": "unmatched",
                    "allocations": [],
                    "residual_cents": tx.amount_cents,
                    "reasons": [*result.reasons, lifecycle.REASON_REJECTED_GUARD],
                }
            )
        if degrade and result.status == "auto_matched":
            result = lifecycle.with_reasons(
                result.model_copy(update={"status": "suggested"}), lifecycle.REASON_CONFLICT
            )
        if not self.auto_match and result.status == "auto_matched":
            result = lifecycle.with_reasons(
                result.model_copy(update={"status": "suggested"}), lifecycle.REASON_SHADOW
            )
        return result

    def reversal(self, tx: QontoTransaction, prev_status: str | None, reason: str) -> MatchResult:
        return lifecycle.reversal_result(
            tx, prev_status, reason, self.matcher_version, decided_at=self.clock()
        )

    async def commit(
        self,
        uow: UnitOfWork,
        *,
        tx: QontoTransaction,
        prev: TransactionRecord | None,
        held: dict[str, int],
        result: MatchResult,
        keep_allocations: bool,
        cause: str,
        decided_by: DecidedBy,
        event: TransactionEvent | None = None,
    ) -> None:
        """Write one decision and publish its result (see the module doc); raises
        AllocationConflict."""
        # Stamped on the caller's result too, so what the API answers is what is published.
        result.decided_by = decided_by
        result.organization_id = self.organization
        repo = uow.repo
        wanted = held if keep_allocations else lifecycle.reserved_by(result)
        touched = set(held) | set(wanted)
        if wanted != held:
            locked = await repo.lock_invoices(touched)
            # a payment abroad pays invoices in its local currency (core.evidence.payment_view)
            paying = payment_view(tx, {row.currency for row in locked.values()}).currency
            bad = check_residuals(locked, held, wanted, paying)
            if bad:
                raise AllocationConflict(bad)
        seq = (prev.result_seq if prev else 0) + 1
        await repo.save_transaction(
            SavedTransaction(
                transaction_id=tx.id,
                version=tx.version,
                transaction=tx.model_dump(mode="json"),
                side=tx.side,
                currency=tx.currency,
                amount_cents=tx.amount_cents,
                qonto_status=tx.status,
                tx_date=lifecycle.transaction_date(tx),
                event_id=event.event_id if event else None,
                event_observed_at=event.observed_at if event else None,
                result=result,
                result_seq=seq,
                decided_by=decided_by,
                candidate_invoice_ids=[a.invoice_id for a in result.allocations],
            )
        )
        if wanted != held:
            if held:
                await repo.delete_allocations([tx.id])
            await repo.insert_allocations(tx.id, wanted)
        event_id = lifecycle.result_event_id(tx.id, seq, self.organization)
        await repo.record_result(result, seq=seq, cause=cause, event_id=event_id)
        await uow.results.publish(result, seq=seq, event_id=event_id)
        if touched:
            rows = await repo.get_invoices(touched)
            uow.after_commit(lambda: self.state.apply_invoices(rows))
        observed = event.observed_at if event else None

        def done() -> None:
            log.debug(
                "matcher_decided",
                transaction_id=tx.id,
                status=result.status,
                cause=cause,
                seq=seq,
                allocations=len(result.allocations),
            )
            metrics.RESULTS.labels(result.status, cause).inc()
            if observed is not None:
                latency = (self.clock() - observed).total_seconds()
                metrics.EVENT_TO_RESULT.observe(max(0.0, latency))

        uow.after_commit(done)

    async def with_conflict_retries(self, attempt: Callable[[bool], Awaitable[T]]) -> T:
        """Run ``attempt(degrade)`` until it commits without an allocation conflict.

        The last attempt is told to ``degrade`` (an auto match becomes a suggestion, which
        allocates nothing and so cannot conflict).
        """
        last = self.conflict_retries
        for n in range(last + 1):
            try:
                return await attempt(n == last)
            except AllocationConflict as conflict:
                metrics.CONFLICTS.inc()
                if n == last:
                    raise
                await self.state.refresh_invoices(self.db, conflict.invoice_ids)
                if n:
                    await asyncio.sleep(min(0.05 * n, 0.5))
            except ResidualViolation:
                # The store refused what the locks should have prevented (a concurrent
                # invoice change): decide again on fresh rows.
                metrics.CONFLICTS.inc()
                if n == last:
                    raise
                await self.state.load(self.db)
        raise AssertionError("unreachable")

    async def redecide(
        self,
        transaction_id: str,
        *,
        cause: str,
        statuses: Iterable[str] | None = None,
    ) -> MatchResult | None:
        """Decide a held transaction version again; publish only if the outcome changed.

        ``statuses``: only when its current result has one of these (a transaction flagged
        ``needs_redecide`` is always taken).
        """
        wanted_status = set(statuses) if statuses is not None else None

        async def attempt(degrade: bool) -> MatchResult | None:
            async with self.db.unit_of_work() as uow:
                repo = uow.repo
                await repo.lock_transactions([transaction_id])
                prev = await repo.get_transaction(transaction_id)
                if prev is None:
                    return None
                if (
                    wanted_status is not None
                    and not prev.needs_redecide
                    and prev.result_status not in wanted_status
                ):
                    return None
                tx = QontoTransaction.model_validate(prev.transaction)
                held = await repo.allocations_of(transaction_id)
                reversal = lifecycle.reversal_reason(tx)
                if reversal is not None:
                    result = self.reversal(tx, prev.result_status, reversal)
                else:
                    rejected = await repo.rejections_of(transaction_id)
                    result = self.decide(tx, held, rejected, degrade)
                if lifecycle.unchanged(prev.result_status, prev.result, result, held):
                    if prev.needs_redecide:
                        await repo.clear_redecide(transaction_id)
                    return None
                await self.commit(
                    uow,
                    tx=tx,
                    prev=prev,
                    held=held,
                    result=result,
                    keep_allocations=False,
                    cause=cause,
                    decided_by="engine",
                )
                return result

        return await self.with_conflict_retries(attempt)
