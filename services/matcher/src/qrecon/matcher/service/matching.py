"""The matcher's application services: events and reviews in, committed decisions out.

Design
======
*PostgreSQL is the source of truth; each replica's memory is a cache.* A replica keeps the
engine's InvoiceBook and Knowledge in memory (:mod:`.cache`) because the engine scores a
transaction against every open item through in-memory indexes. The cache only proposes:
each decision is committed in one PostgreSQL transaction (:class:`.uow.UnitOfWork`) that

1. takes the transaction's advisory lock (``pg_advisory_xact_lock``): one writer per
   transaction across replicas and paths (stream, invoice side, review API, sweeper);
2. compares versions: a transaction version is applied only if newer than the one held,
   so duplicates, replays after a crash and reordering are harmless;
3. locks the invoices it would allocate, ``SELECT … FOR UPDATE`` in ``invoice_id`` order
   (a global order: no deadlock between replicas), and checks each residual; if one
   moved (another replica allocated it, the cache was stale), the transaction is rolled
   back, those rows refresh the cache and the decision is taken again
   (``MATCHER_CONFLICT_RETRIES`` times, then it is downgraded to a ``suggested`` result
   with reason ``lifecycle.allocation_conflict``, for a human);
4. writes the allocations; a trigger moves ``matcher_invoices.allocated_cents`` and a
   CHECK constraint keeps it within the invoice amount — so even a faulty code path
   cannot over-allocate: PostgreSQL refuses the commit;
5. writes the transaction's one effective result, its audit row and its *outbox* row.

*Transactional outbox, not Kafka transactions.* The state lives in PostgreSQL; a Kafka
transaction can make "consume offset + produce" atomic, but not "PostgreSQL commit +
produce": a crash between the two would lose or duplicate the effect. Writing the result
to ``matcher_outbox`` in the same PostgreSQL transaction makes the result published if
and only if the state change committed; :class:`qrecon.common.outbox.OutboxRelay`
publishes it (idempotent producer, ``acks=all``; one active relay per deployment, so a
transaction's results reach the topic in decision order, :mod:`..adapters.relay`) with a
deterministic ``event-id`` (transaction id + result sequence, also in the ``result-seq``
header), so a rare republication is an exact duplicate that consumers drop. The input
offsets are committed only after the decision committed (:mod:`..adapters.kafka`); a
crash in between replays the record, which the version check turns into a no-op.

*One effective result per transaction version.* ``matcher_transactions`` holds, per
transaction, the version applied and its current result (``result_seq`` counts the
results). Later results for the same version (a review decision, an invoice that arrived
or was cancelled) supersede it, as the contract says; each is published once.

Lifecycle
=========
* A later version ``declined`` (or marked reversed, see :mod:`.lifecycle`) of a matched
  or suggested transaction: ``reverted``, allocations released (residuals restored).
* A new invoice: recent ``unmatched``/``suggested`` transactions are decided again
  (matching runs in both directions); only changed outcomes are published.
* A cancelled invoice (or one whose amount, kind or currency no longer fits what is
  allocated to it): its allocations are released in the same transaction that changes
  the invoice, the transactions are flagged ``needs_redecide`` and then decided again
  (a periodic sweep finishes the job after a crash).
* Review decisions (confirm, reject, manual match, undo) publish a new result and teach
  the engine: aliases (persisted, loaded into every replica's Knowledge) and rejected
  pairs (never suggested again; also re-read inside each decision's transaction).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol

import asyncpg

from qrecon.common.logging import get_logger
from qrecon.common.schemas import (
    Allocation,
    InvoiceEvent,
    MatchResult,
    QontoTransaction,
    TransactionEvent,
)
from qrecon.common.timeutil import utcnow
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.postgres import InvoiceRow, PgRepository, TransactionRow
from qrecon.matcher.core import MATCHER_VERSION, InvoiceBook, Knowledge, rules
from qrecon.matcher.service import lifecycle, metrics
from qrecon.matcher.service.cache import MatcherState
from qrecon.matcher.service.uow import UnitOfWork

log = get_logger(__name__)

DecidedBy = Literal["engine", "review"]


class Engine(Protocol):
    """What the service needs of the matching engine (``qrecon.matcher.core``)."""

    def decide(
        self, tx: QontoTransaction, book: InvoiceBook, knowledge: Knowledge | None = None
    ) -> MatchResult: ...


class ServiceError(Exception):
    """A request the service refuses (mapped to an HTTP status by the API)."""

    code = "error"
    status = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(ServiceError):
    code = "not_found"
    status = 404


class Conflict(ServiceError):
    code = "conflict"
    status = 409


class InvalidRequest(ServiceError):
    code = "invalid_request"
    status = 422


class AllocationConflict(Exception):
    """PostgreSQL's residuals disagree with the decision: refresh and decide again."""

    def __init__(self, invoice_ids: Iterable[str], detail: str = "") -> None:
        super().__init__(detail or "residual moved")
        self.invoice_ids = set(invoice_ids)
        self.detail = detail


class _Retry(Exception):
    pass


@dataclass(frozen=True)
class Outcome:
    """What handling one event did."""

    applied: bool
    result: MatchResult | None = None
    reason: str = ""


@dataclass(frozen=True)
class InvoiceOutcome:
    applied: bool
    open: bool = False
    currency: str = "EUR"
    redecided: int = 0


def _check_residuals(
    locked: dict[str, InvoiceRow],
    held: dict[str, int],
    wanted: dict[str, int],
    currency: str | None = None,
) -> list[str]:
    """Invoices whose row (read under lock) cannot take ``wanted`` once ``held`` is released:
    unknown, not open, another currency, the wrong sign, or not enough residual."""
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


class MatcherService:
    """Application services of ``qonto-matcher run`` (one instance per replica)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: Engine,
        state: MatcherState,
        topics: Topics,
        *,
        conflict_retries: int = 8,
        reexamine_days: int = 180,
        reexamine_limit: int = 2000,
        matcher_version: str = MATCHER_VERSION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.engine = engine
        self.state = state
        self.topics = topics
        self.conflict_retries = conflict_retries
        self.reexamine_days = reexamine_days
        self.reexamine_limit = reexamine_limit
        self.matcher_version = matcher_version
        self._clock = clock

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.pool)

    def with_pool(self, pool: asyncpg.Pool) -> MatcherService:
        """The same service (engine, state, topics) on another pool: the review API's own,
        so review traffic never takes the connections the consumers need."""
        other = copy.copy(self)
        other.pool = pool
        return other

    # ================================================================== decisions
    def _decide(
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
            update={"decided_at": utcnow(), "transaction_version": tx.version}
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
        return result

    async def _commit(
        self,
        uow: UnitOfWork,
        *,
        tx: QontoTransaction,
        prev: TransactionRow | None,
        held: dict[str, int],
        result: MatchResult,
        keep_allocations: bool,
        cause: str,
        decided_by: DecidedBy,
        event: TransactionEvent | None = None,
    ) -> None:
        """Write one decision (see the module doc); raises AllocationConflict."""
        # Stamped on the caller's result too, so what the API answers is what is published.
        result.decided_by = decided_by
        repo = uow.repo
        wanted = held if keep_allocations else lifecycle.reserved_by(result)
        touched = set(held) | set(wanted)
        if wanted != held:
            locked = await repo.lock_invoices(touched)
            bad = _check_residuals(locked, held, wanted, tx.currency)
            if bad:
                raise AllocationConflict(bad)
        seq = (prev.result_seq if prev else 0) + 1
        await repo.save_transaction(
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
        if wanted != held:
            if held:
                await repo.delete_allocations([tx.id])
            await repo.insert_allocations(tx.id, wanted)
        await repo.record_result(
            result,
            seq=seq,
            cause=cause,
            event_id=lifecycle.result_event_id(tx.id, seq),
            topic=self.topics.matches,
        )
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
                metrics.EVENT_TO_RESULT.observe(max(0.0, self._clock() - observed.timestamp()))

        uow.after_commit(done)

    async def _with_conflict_retries(self, attempt: Callable[[bool], Any]) -> Any:
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
                await self.state.refresh_invoices(self.pool, conflict.invoice_ids)
                if n:
                    await asyncio.sleep(min(0.05 * n, 0.5))
            except asyncpg.CheckViolationError:
                # The residual constraint refused what the locks should have prevented
                # (a concurrent invoice change): decide again on fresh rows.
                metrics.CONFLICTS.inc()
                if n == last:
                    raise
                await self.state.load(self.pool)
        raise AssertionError("unreachable")

    # ================================================================== transactions
    async def handle_transaction_event(self, event: TransactionEvent) -> Outcome:
        """Apply a transaction version if newer than the one held; decide; commit."""
        tx = event.transaction

        async def attempt(degrade: bool) -> Outcome:
            async with self.uow() as uow:
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
                    result = lifecycle.reversal_result(
                        tx, prev.result_status if prev else None, reversal, self.matcher_version
                    )
                elif (
                    prev is not None
                    and prev.result_status == lifecycle.ALLOCATING
                    and held
                    and not prev.needs_redecide
                    and held == lifecycle.allocations_map(prev.result.get("allocations") or [])
                    and lifecycle.money_of(prev.transaction) == lifecycle.money_of(tx)
                ):
                    result = lifecycle.carried_result(prev.result, tx)
                    keep = True
                    decided_by = "review" if prev.decided_by == "review" else "engine"
                else:
                    rejected = await repo.rejections_of(tx.id) if prev is not None else []
                    result = self._decide(tx, held, rejected, degrade)
                await self._commit(
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

        outcome: Outcome = await self._with_conflict_retries(attempt)
        return outcome

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
            async with self.uow() as uow:
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
                    result = lifecycle.reversal_result(
                        tx, prev.result_status, reversal, self.matcher_version
                    )
                else:
                    rejected = await repo.rejections_of(transaction_id)
                    result = self._decide(tx, held, rejected, degrade)
                if lifecycle.unchanged(prev.result_status, prev.result, result, held):
                    if prev.needs_redecide:
                        await repo.clear_redecide(transaction_id)
                    return None
                await self._commit(
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

        result: MatchResult | None = await self._with_conflict_retries(attempt)
        return result

    async def sweep(self, limit: int = 100) -> int:
        """Decide again the transactions flagged ``needs_redecide`` (after a crash)."""
        async with self.pool.acquire() as conn:
            ids = await PgRepository(conn).transactions_to_redecide(limit)
        for transaction_id in ids:
            await self.redecide(transaction_id, cause="sweep")
        return len(ids)

    # ================================================================== invoices
    async def handle_invoice_event(self, event: InvoiceEvent) -> InvoiceOutcome:
        """Apply an invoice upsert or cancellation; release and re-decide what it affects.

        Re-examining unmatched transactions against a new open invoice is done by the
        caller once per batch (:meth:`reexamine`).
        """
        invoice_id = event.invoice_id
        cancel = event.event_type == "invoice.cancel" or (
            event.invoice is not None and event.invoice.status == "canceled"
        )
        released: list[str] = []
        material = False
        new_status = "canceled"
        new_currency = event.invoice.currency if event.invoice else "EUR"
        for _ in range(50):
            async with self.uow() as uow:
                repo = uow.repo
                affected = await repo.transactions_allocated_to(invoice_id)
            try:
                async with self.uow() as uow:
                    repo = uow.repo
                    current = await repo.get_invoice(invoice_id)
                    if current is not None and event.observed_at < current.last_event_at:
                        return InvoiceOutcome(False)
                    fields = self._invoice_fields(event, current, cancel)
                    new_status, new_currency = fields["status"], fields["currency"]
                    material = current is None or any(
                        getattr(current, k) != fields[k]
                        for k in ("kind", "currency", "amount_cents", "status")
                    )
                    incompatible = current is not None and (
                        cancel
                        or fields["kind"] != current.kind
                        or fields["currency"] != current.currency
                        or not (
                            min(0, fields["amount_cents"])
                            <= current.allocated_cents
                            <= max(0, fields["amount_cents"])
                        )
                    )
                    involved = {invoice_id}
                    released = []
                    if incompatible and affected:
                        await repo.lock_transactions(affected)
                        now_affected = await repo.transactions_allocated_to(invoice_id)
                        if set(now_affected) - set(affected):
                            raise _Retry
                        held = await repo.allocations_of_many(now_affected)
                        involved |= {i for allocs in held.values() for i in allocs}
                        await repo.lock_invoices(involved)
                        await repo.delete_allocations(now_affected)
                        await repo.flag_redecide(now_affected)
                        released = now_affected
                    else:
                        await repo.lock_invoices(involved)
                    await repo.save_invoice(
                        invoice_id=invoice_id,
                        invoice=fields["invoice"],
                        kind=fields["kind"],
                        currency=fields["currency"],
                        amount_cents=fields["amount_cents"],
                        status=fields["status"],
                        event_id=event.event_id,
                        event_at=event.observed_at,
                    )
                    rows = await repo.get_invoices(involved)
                    uow.after_commit(lambda rows=rows: self.state.apply_invoices(rows))  # type: ignore[misc]
            except (_Retry, asyncpg.CheckViolationError):
                continue
            break
        else:
            raise RuntimeError(f"invoice {invoice_id}: allocations kept moving")
        cause = "invoice_canceled" if cancel else "invoice_changed"
        redecided = 0
        for transaction_id in released:
            if await self.redecide(transaction_id, cause=cause) is not None:
                redecided += 1
        if material:
            async with self.pool.acquire() as conn:
                suggesting = await PgRepository(conn).transactions_suggesting(invoice_id)
            for transaction_id in suggesting:
                if await self.redecide(transaction_id, cause=cause, statuses=("suggested",)):
                    redecided += 1
        return InvoiceOutcome(
            True, open=new_status == "open", currency=new_currency, redecided=redecided
        )

    @staticmethod
    def _invoice_fields(
        event: InvoiceEvent, current: InvoiceRow | None, cancel: bool
    ) -> dict[str, Any]:
        if event.invoice is not None:
            invoice: dict[str, Any] = event.invoice.model_dump(mode="json")
        elif current is not None:
            invoice = dict(current.invoice)
        else:  # a cancellation of an invoice never seen: a tombstone against reordering
            invoice = {"id": event.invoice_id}
        if cancel:
            invoice["status"] = "canceled"
        known = "kind" in invoice and "amount_cents" in invoice
        return {
            "invoice": invoice,
            "kind": invoice["kind"] if known else "unknown",
            "currency": str(invoice.get("currency") or "EUR"),
            "amount_cents": int(invoice["amount_cents"]) if known else 0,
            "status": str(invoice.get("status") or "open"),
        }

    async def reexamine(self, currencies: Iterable[str]) -> int:
        """Decide recent unmatched/suggested transactions again (new invoices arrived).

        The engine first runs on this replica's cache, without any lock; only the
        transactions whose outcome would change are then decided again for real.
        """
        wanted = sorted(set(currencies))
        if not wanted or self.reexamine_limit == 0:
            return 0
        async with self.pool.acquire() as conn:
            repo = PgRepository(conn)
            # "Recent" is measured from the newest bank date the matcher holds, not from
            # the wall clock: decisions then depend on the data alone (a replayed or
            # backfilled month behaves as it did live, whatever today's date is).
            latest = await repo.latest_transaction_date()
            if latest is None:
                return 0
            since = latest - timedelta(days=self.reexamine_days)
            rows = await repo.reexamine_candidates(wanted, since, self.reexamine_limit)
        changed = 0
        for row in rows:
            try:
                tx = QontoTransaction.model_validate(row.transaction)
            except ValueError:
                continue
            if lifecycle.reversal_reason(tx) is not None:
                continue
            preview = self._decide(tx, {}, (), degrade=False)
            if lifecycle.unchanged(
                row.result_status, row.result, preview, lifecycle.reserved_by(preview)
            ):
                continue
            if await self.redecide(
                row.transaction_id, cause="invoice_arrived", statuses=lifecycle.REVIEWABLE
            ):
                changed += 1
        return changed

    # ================================================================== review
    async def _review_start(
        self, uow: UnitOfWork, transaction_id: str, expected_seq: int | None
    ) -> TransactionRow:
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

    async def _commit_review(
        self,
        uow: UnitOfWork,
        tx: QontoTransaction,
        prev: TransactionRow,
        held: dict[str, int],
        result: MatchResult,
        decided_by: DecidedBy,
    ) -> None:
        """Write a decision a review action produced (its allocations replace the held ones)."""
        await self._commit(
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
        invoices: Iterable[InvoiceRow],
        decision_id: int,
    ) -> list[int]:
        name, iban = lifecycle.observed_counterparty(tx)
        added: list[int] = []
        if not name and not iban:
            return added
        for row in invoices:
            target = str(row.invoice.get("counterparty_name") or "")
            if not target:
                continue
            alias_id = await uow.repo.add_alias(name, iban, target, decision_id)
            if alias_id is not None:
                added.append(alias_id)
                uow.after_commit(
                    lambda t=target: self.state.knowledge.add_alias(name or None, iban or None, t)  # type: ignore[misc]
                )
        return added

    async def confirm(
        self, transaction_id: str, *, expected_seq: int | None = None, actor: str | None = None
    ) -> MatchResult:
        """Accept a suggestion: allocate it (checked against residuals) and learn aliases."""
        async with self.uow() as uow:
            prev = await self._review_start(uow, transaction_id, expected_seq)
            if prev.result_status != "suggested":
                raise Conflict(f"only a suggestion can be confirmed (it is {prev.result_status})")
            suggestion = MatchResult.model_validate(prev.result)
            wanted = lifecycle.allocations_map(suggestion.allocations)
            if not wanted:
                raise Conflict("the suggestion has no allocation")
            tx = QontoTransaction.model_validate(prev.transaction)
            held = await uow.repo.allocations_of(transaction_id)
            locked = await uow.repo.lock_invoices(set(wanted) | set(held))
            bad = _check_residuals(locked, held, wanted)
            if bad:
                raise Conflict(
                    "an invoice's residual no longer covers the suggestion", invoice_ids=bad
                )
            decision_id = await uow.repo.insert_decision(
                transaction_id, "confirm", {"allocations": wanted}, actor
            )
            aliases = await self._teach_aliases(uow, tx, [locked[i] for i in wanted], decision_id)
            await uow.repo.update_decision_payload(
                decision_id, {"allocations": wanted, "aliases": aliases}
            )
            result = suggestion.model_copy(
                update={
                    "status": "auto_matched",
                    "confidence": 1.0,
                    "reasons": list(
                        dict.fromkeys([lifecycle.REASON_CONFIRMED, *suggestion.reasons])
                    ),
                    "decided_at": utcnow(),
                    "matcher_version": self.matcher_version,
                }
            )
            await self._commit_review(uow, tx, prev, held, result, "review")
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

        async def attempt(degrade: bool) -> MatchResult:
            async with self.uow() as uow:
                prev = await self._review_start(uow, transaction_id, expected_seq)
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
                knowledge = self.state.knowledge

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
                    self._decide(tx, held, rejected, degrade), lifecycle.REASON_REJECTED
                )
                await self._commit_review(uow, tx, prev, held, result, "review")
                return result

        result: MatchResult = await self._with_conflict_retries(attempt)
        return result

    async def match_manually(
        self,
        transaction_id: str,
        allocations: dict[str, int],
        *,
        expected_seq: int | None = None,
        actor: str | None = None,
    ) -> MatchResult:
        """Allocate explicitly (validated against the residuals under lock)."""
        if not allocations:
            raise InvalidRequest("at least one allocation is required")
        if any(amount == 0 for amount in allocations.values()):
            raise InvalidRequest("an allocation amount cannot be zero", rule="sign")
        async with self.uow() as uow:
            prev = await self._review_start(uow, transaction_id, expected_seq)
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
            broken = rules.check_allocations(tx.side, tx.currency, tx.amount_cents, proposed)
            if broken is not None:
                extra = {"invoice_id": broken.invoice_id} if broken.invoice_id else {}
                raise InvalidRequest(broken.detail, rule=broken.rule, **extra)
            bad = _check_residuals(locked, held, allocations)
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
            aliases = await self._teach_aliases(
                uow, tx, [locked[i] for i in allocations], decision_id
            )
            await uow.repo.update_decision_payload(
                decision_id, {"allocations": allocations, "aliases": aliases}
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
                residual_cents=tx.amount_cents - rules.effective_cents(tx.side, proposed),
                confidence=1.0,
                reasons=[lifecycle.REASON_MANUAL],
                matcher_version=self.matcher_version,
                decided_at=utcnow(),
            )
            await self._commit_review(uow, tx, prev, held, result, "review")
        return result

    async def undo(
        self, transaction_id: str, *, expected_seq: int | None = None, actor: str | None = None
    ) -> MatchResult:
        """Undo the last review decision: forget what it taught, decide again."""

        async def attempt(degrade: bool) -> MatchResult:
            async with self.uow() as uow:
                prev = await self._review_start(uow, transaction_id, expected_seq)
                decision = await uow.repo.last_undoable_decision(transaction_id)
                if decision is None:
                    raise Conflict("no review decision to undo")
                await uow.repo.forget_decision(decision.id)
                await uow.repo.mark_undone(decision.id)
                await uow.repo.insert_decision(
                    transaction_id, "undo", {"undid": decision.id, "action": decision.action}, actor
                )
                await uow.repo.bump_knowledge_epoch()
                await self.state.rebuild_knowledge(uow.repo.conn)
                uow.after_rollback(self.state.invalidate_knowledge)
                tx = QontoTransaction.model_validate(prev.transaction)
                held = await uow.repo.allocations_of(transaction_id)
                rejected = await uow.repo.rejections_of(transaction_id)
                if lifecycle.reversal_reason(tx) is not None:
                    result = lifecycle.reversal_result(
                        tx,
                        prev.result_status,
                        lifecycle.reversal_reason(tx) or "",
                        self.matcher_version,
                    )
                else:
                    result = self._decide(tx, held, rejected, degrade)
                result = lifecycle.with_reasons(result, lifecycle.REASON_UNDONE)
                await self._commit_review(uow, tx, prev, held, result, "engine")
                return result

        result: MatchResult = await self._with_conflict_retries(attempt)
        return result
