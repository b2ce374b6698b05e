"""In-memory fakes of the matcher's ports (``qrecon.matcher.app.ports``): no server at all.

:class:`FakeDatabase` keeps the committed state; a :class:`FakeUnitOfWork` works on a copy
of it and swaps the copy in on commit, so a rollback leaves nothing behind (results
published in it included). What PostgreSQL enforces is enforced here too: an invoice's
``allocated_cents`` is the sum of its allocations, kept within its amount
(:class:`ResidualViolation` at commit otherwise), and ``row_version`` / ``updated_at`` move
with every change of an invoice row.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from qrecon.common.schemas import MatchResult
from qrecon.matcher.app.ports import (
    AliasRecord,
    DecisionRecord,
    Hook,
    InvoiceRecord,
    RejectionRecord,
    ResidualViolation,
    ResultRecord,
    ReviewRecord,
    SavedInvoice,
    SavedTransaction,
    TransactionRecord,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
# The one organisation a fake store holds (isolation between organisations is shown on
# PostgreSQL: tests/matcher/adapters/test_organizations.py, tests/e2e).
ORG = "org-a"


@dataclass
class _Tx:
    record: TransactionRecord
    tx_date: datetime
    currency: str
    qonto_status: str


@dataclass
class Published:
    result: MatchResult
    seq: int
    event_id: str


@dataclass
class State:
    """Everything the store holds (copied into each unit of work)."""

    transactions: dict[str, _Tx] = field(default_factory=dict)
    invoices: dict[str, InvoiceRecord] = field(default_factory=dict)
    allocations: dict[tuple[str, str], int] = field(default_factory=dict)
    results: list[tuple[str, ResultRecord]] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    aliases: list[tuple[AliasRecord, int]] = field(default_factory=list)  # (alias, decision)
    rejections: list[tuple[RejectionRecord, int]] = field(default_factory=list)
    epoch: int = 0
    published: list[Published] = field(default_factory=list)
    ticks: int = 0
    ids: int = 0

    def now(self) -> datetime:
        self.ticks += 1
        return EPOCH + timedelta(milliseconds=self.ticks)

    def next_id(self) -> int:
        self.ids += 1
        return self.ids


class FakeRepository:
    def __init__(self, state: State) -> None:
        self.s = state

    # ------------------------------------------------------------------ helpers
    def _touch_invoices(self, invoice_ids: Iterable[str]) -> None:
        """What the allocation trigger does: the sums, a new row version."""
        for invoice_id in set(invoice_ids):
            row = self.s.invoices.get(invoice_id)
            if row is None:
                continue
            total = sum(a for (_, i), a in self.s.allocations.items() if i == invoice_id)
            self.s.invoices[invoice_id] = replace(
                row,
                allocated_cents=total,
                row_version=row.row_version + 1,
                updated_at=self.s.now(),
            )

    # ------------------------------------------------------------------ locks
    async def lock_transactions(self, transaction_ids: Iterable[str]) -> None:
        return None

    async def lock_invoices(self, invoice_ids: Iterable[str]) -> dict[str, InvoiceRecord]:
        return {i: self.s.invoices[i] for i in sorted(set(invoice_ids)) if i in self.s.invoices}

    # ------------------------------------------------------------------ transactions
    async def get_transaction(self, transaction_id: str) -> TransactionRecord | None:
        held = self.s.transactions.get(transaction_id)
        return None if held is None else held.record

    async def save_transaction(self, saved: SavedTransaction) -> None:
        before = self.s.transactions.get(saved.transaction_id)
        observed = saved.event_observed_at or (before.record.event_observed_at if before else None)
        record = TransactionRecord(
            transaction_id=saved.transaction_id,
            version=saved.version,
            transaction=saved.transaction,
            result_status=saved.result.status,
            result=saved.result.model_dump(mode="json"),
            result_seq=saved.result_seq,
            decided_by=saved.decided_by,
            needs_redecide=False,
            event_observed_at=observed,
            candidate_invoice_ids=list(saved.candidate_invoice_ids),
        )
        self.s.transactions[saved.transaction_id] = _Tx(
            record, saved.tx_date, saved.currency, saved.qonto_status
        )

    def _set_redecide(self, transaction_id: str, value: bool) -> None:
        held = self.s.transactions.get(transaction_id)
        if held is not None:
            held.record = replace(held.record, needs_redecide=value)

    async def flag_redecide(self, transaction_ids: Iterable[str]) -> None:
        for transaction_id in set(transaction_ids):
            self._set_redecide(transaction_id, True)

    async def clear_redecide(self, transaction_id: str) -> None:
        self._set_redecide(transaction_id, False)

    async def transactions_to_redecide(self, limit: int) -> list[tuple[str, str]]:
        flagged = sorted(t for t, h in self.s.transactions.items() if h.record.needs_redecide)
        return [(ORG, t) for t in flagged[:limit]]

    async def transactions_suggesting(self, invoice_id: str) -> list[str]:
        return sorted(
            t
            for t, h in self.s.transactions.items()
            if invoice_id in h.record.candidate_invoice_ids
            and h.record.result_status == "suggested"
        )

    async def latest_transaction_date(self) -> datetime | None:
        return max((h.tx_date for h in self.s.transactions.values()), default=None)

    async def reexamine_candidates(
        self, currencies: Sequence[str], since: datetime, limit: int
    ) -> list[TransactionRecord]:
        found = [
            h
            for h in self.s.transactions.values()
            if h.record.result_status in ("unmatched", "suggested")
            and h.tx_date >= since
            and h.currency in currencies
            and h.qonto_status != "declined"
        ]
        found.sort(key=lambda h: (h.tx_date, h.record.transaction_id), reverse=True)
        return [h.record for h in found[:limit]]

    async def list_for_review(
        self, status: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[ReviewRecord]:
        found = sorted(
            (
                h
                for h in self.s.transactions.values()
                if h.record.result_status == status
                and (after is None or (h.tx_date, h.record.transaction_id) < after)
            ),
            key=lambda h: (h.tx_date, h.record.transaction_id),
            reverse=True,
        )
        return [
            ReviewRecord(
                h.record.transaction_id,
                h.tx_date,
                h.record.transaction,
                h.record.result,
                h.record.result_seq,
            )
            for h in found[:limit]
        ]

    # ------------------------------------------------------------------ allocations
    async def allocations_of(self, transaction_id: str) -> dict[str, int]:
        return {i: a for (t, i), a in sorted(self.s.allocations.items()) if t == transaction_id}

    async def allocations_of_many(
        self, transaction_ids: Iterable[str]
    ) -> dict[str, dict[str, int]]:
        wanted = set(transaction_ids)
        found: dict[str, dict[str, int]] = {}
        for (t, i), a in self.s.allocations.items():
            if t in wanted:
                found.setdefault(t, {})[i] = a
        return found

    async def transactions_allocated_to(self, invoice_id: str) -> list[str]:
        return sorted(t for (t, i) in self.s.allocations if i == invoice_id)

    async def delete_allocations(self, transaction_ids: Iterable[str]) -> None:
        wanted = set(transaction_ids)
        gone = [key for key in self.s.allocations if key[0] in wanted]
        for key in gone:
            del self.s.allocations[key]
        self._touch_invoices(i for _, i in gone)

    async def insert_allocations(self, transaction_id: str, allocations: dict[str, int]) -> None:
        for invoice_id, amount in allocations.items():
            assert (transaction_id, invoice_id) not in self.s.allocations, "primary key"
            assert amount != 0
            self.s.allocations[(transaction_id, invoice_id)] = amount
        self._touch_invoices(allocations)

    # ------------------------------------------------------------------ results
    async def record_result(
        self, result: MatchResult, *, seq: int, cause: str, event_id: str
    ) -> None:
        self.s.results.append(
            (
                result.transaction_id,
                ResultRecord(seq, cause, event_id, self.s.now(), result.model_dump(mode="json")),
            )
        )

    async def results_of(self, transaction_id: str) -> list[ResultRecord]:
        return [r for t, r in self.s.results if t == transaction_id]

    # ------------------------------------------------------------------ invoices
    async def get_invoice(self, invoice_id: str) -> InvoiceRecord | None:
        return self.s.invoices.get(invoice_id)

    async def get_invoices(self, invoice_ids: Iterable[str]) -> list[InvoiceRecord]:
        return [self.s.invoices[i] for i in sorted(set(invoice_ids)) if i in self.s.invoices]

    async def save_invoice(self, saved: SavedInvoice) -> None:
        before = self.s.invoices.get(saved.invoice_id)
        self.s.invoices[saved.invoice_id] = InvoiceRecord(
            invoice_id=saved.invoice_id,
            invoice=saved.invoice,
            kind=saved.kind,
            currency=saved.currency,
            amount_cents=saved.amount_cents,
            allocated_cents=before.allocated_cents if before else 0,
            status=saved.status,
            last_event_at=saved.event_at,
            row_version=(before.row_version if before else 0) + 1,
            updated_at=self.s.now(),
            organization_id=ORG,
        )

    async def invoices_changed_since(self, since: datetime | None) -> list[InvoiceRecord]:
        return [r for r in self.s.invoices.values() if since is None or r.updated_at >= since]

    async def clock(self) -> datetime:
        return self.s.now()

    # ------------------------------------------------------------------ knowledge
    async def knowledge_epoch(self) -> int:
        return self.s.epoch

    async def bump_knowledge_epoch(self) -> None:
        self.s.epoch += 1

    async def aliases_after(self, after_id: int) -> list[AliasRecord]:
        return [a for a, _ in self.s.aliases if a.id > after_id]

    async def rejections_after(self, after_id: int) -> list[RejectionRecord]:
        return [r for r, _ in self.s.rejections if r.id > after_id]

    async def rejections_of(self, transaction_id: str) -> list[str]:
        return [r.invoice_id for r, _ in self.s.rejections if r.transaction_id == transaction_id]

    async def add_alias(
        self, observed_counterparty: str, observed_iban: str, invoice_name: str, decision_id: int
    ) -> int | None:
        key = (observed_counterparty, observed_iban, invoice_name)
        if any(a[1:] == key for a, _ in self.s.aliases):
            return None
        alias = AliasRecord(self.s.next_id(), *key, ORG)
        self.s.aliases.append((alias, decision_id))
        return alias.id

    async def add_rejections(
        self, transaction_id: str, invoice_ids: list[str], decision_id: int
    ) -> list[str]:
        added = []
        for invoice_id in invoice_ids:
            if invoice_id in await self.rejections_of(transaction_id) or invoice_id in added:
                continue
            record = RejectionRecord(self.s.next_id(), transaction_id, invoice_id, ORG)
            self.s.rejections.append((record, decision_id))
            added.append(invoice_id)
        return added

    async def forget_decision(self, decision_id: int) -> tuple[int, int]:
        aliases = [a for a in self.s.aliases if a[1] != decision_id]
        rejections = [r for r in self.s.rejections if r[1] != decision_id]
        counts = (len(self.s.aliases) - len(aliases), len(self.s.rejections) - len(rejections))
        self.s.aliases, self.s.rejections = aliases, rejections
        return counts

    # ------------------------------------------------------------------ review decisions
    async def insert_decision(
        self, transaction_id: str, action: str, payload: dict[str, Any], actor: str | None
    ) -> int:
        decision = DecisionRecord(
            self.s.next_id(), transaction_id, action, payload, actor, self.s.now(), None
        )
        self.s.decisions.append(decision)
        return decision.id

    def _update_decision(self, decision_id: int, **changes: Any) -> None:
        self.s.decisions = [
            replace(d, **changes) if d.id == decision_id else d for d in self.s.decisions
        ]

    async def update_decision_payload(self, decision_id: int, payload: dict[str, Any]) -> None:
        self._update_decision(decision_id, payload=payload)

    async def last_undoable_decision(self, transaction_id: str) -> DecisionRecord | None:
        for d in reversed(self.s.decisions):
            if (
                d.transaction_id == transaction_id
                and d.undone_at is None
                and d.action in ("confirm", "reject", "match")
            ):
                return d
        return None

    async def mark_undone(self, decision_id: int) -> None:
        self._update_decision(decision_id, undone_at=self.s.now())

    async def decisions_of(self, transaction_id: str) -> list[DecisionRecord]:
        return [d for d in self.s.decisions if d.transaction_id == transaction_id]


class FakePublisher:
    def __init__(self, state: State) -> None:
        self.s = state

    async def publish(self, result: MatchResult, *, seq: int, event_id: str) -> None:
        self.s.published.append(Published(result, seq, event_id))


class FakeUnitOfWork:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self._after_commit: list[Hook] = []
        self._after_rollback: list[Hook] = []
        self._work = State()
        self.repo = FakeRepository(self._work)
        self.results = FakePublisher(self._work)

    async def __aenter__(self) -> FakeUnitOfWork:
        self._work = copy.deepcopy(self._db.state)
        self.repo = FakeRepository(self._work)
        self.results = FakePublisher(self._work)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        committed = False
        if exc_type is None:
            if self._db.fail_next_commit:
                self._db.fail_next_commit = False
                await self._run(self._after_rollback)
                raise ConnectionError("the store went away at COMMIT")
            for row in self._work.invoices.values():
                if not min(0, row.amount_cents) <= row.allocated_cents <= max(0, row.amount_cents):
                    await self._run(self._after_rollback)
                    raise ResidualViolation(f"invoice {row.invoice_id} over-allocated")
            self._db.state = self._work
            self._db.commits += 1
            committed = True
        else:
            self._db.rollbacks += 1
        await self._run(self._after_commit if committed else self._after_rollback)

    def after_commit(self, hook: Hook) -> None:
        self._after_commit.append(hook)

    def after_rollback(self, hook: Hook) -> None:
        self._after_rollback.append(hook)

    @staticmethod
    async def _run(hooks: list[Hook]) -> None:
        for hook in hooks:
            outcome = hook()
            if outcome is not None:
                await outcome


class FakeDatabase:
    """The committed state, units of work over it, and reads of it."""

    def __init__(self) -> None:
        self.state = State()
        self.commits = 0
        self.rollbacks = 0
        self.fail_next_commit = False

    @property
    def organization(self) -> str | None:
        return None  # the whole store (of one organisation, ORG)

    def for_organization(self, organization: str) -> FakeDatabase:
        assert organization == ORG, f"a fake store holds {ORG} only"
        return self

    def unit_of_work(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def reading(self) -> AbstractAsyncContextManager[FakeRepository]:
        return self._reading()

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[FakeRepository]:
        yield FakeRepository(self.state)

    # ------------------------------------------------------------------ for assertions
    @property
    def published(self) -> list[Published]:
        return self.state.published

    def published_for(self, transaction_id: str) -> list[MatchResult]:
        return [p.result for p in self.published if p.result.transaction_id == transaction_id]

    def invoice(self, invoice_id: str) -> InvoiceRecord:
        return self.state.invoices[invoice_id]

    def allocations(self, transaction_id: str) -> dict[str, int]:
        return {i: a for (t, i), a in self.state.allocations.items() if t == transaction_id}
