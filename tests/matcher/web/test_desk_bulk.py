"""Bulk confirmation, as a use case on fakes: only what the preview showed, at the result
it showed, is confirmed; one undo reverts the batch and leaves alone what changed since."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from qrecon.matcher.app.desk_ports import BulkRecord, QueueRow
from qrecon.matcher.app.desk_queue import BulkConfirm
from qrecon.matcher.app.errors import Conflict, NotFound

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def row(transaction_id: str, seq: int, confidence: float) -> QueueRow:
    return QueueRow(transaction_id, AT, "credit", 1000, "EUR", "VIR", "X", None,
                    "suggested", confidence, seq)  # fmt: skip


class FakeStore:
    def __init__(self, rows: list[QueueRow]) -> None:
        self.rows = {r.transaction_id: r for r in rows}
        self.seqs = {r.transaction_id: r.result_seq for r in rows}
        self.bulks: dict[int, BulkRecord] = {}

    async def suggestions_above(
        self, org: str, min_confidence: float, limit: int
    ) -> list[QueueRow]:
        return [r for r in self.rows.values() if r.confidence >= min_confidence][:limit]

    async def transaction_seq(self, org: str, transaction_id: str) -> int | None:
        return self.seqs.get(transaction_id)

    async def record_bulk(
        self, org: str, actor: str, min_confidence: float, items: dict[str, int]
    ) -> int:
        bulk_id = len(self.bulks) + 1
        self.bulks[bulk_id] = BulkRecord(bulk_id, actor, min_confidence, AT, None, dict(items))
        return bulk_id

    async def bulk(self, org: str, bulk_id: int) -> BulkRecord | None:
        return self.bulks.get(bulk_id) if org == "acme" else None

    async def mark_bulk_undone(self, org: str, bulk_id: int) -> bool:
        bulk = self.bulks[bulk_id]
        if bulk.undone_at is not None:
            return False
        self.bulks[bulk_id] = BulkRecord(bulk.id, bulk.actor, bulk.min_confidence, AT, AT,
                                         bulk.items)  # fmt: skip
        return True


class FakeDecider:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.calls: list[tuple[str, str, int | None, str | None]] = []

    async def confirm(self, transaction_id: str, *, expected_seq: int | None = None,
                      actor: str | None = None, organization: str | None = None,
                      ) -> Any:  # fmt: skip
        return self._decide("confirm", transaction_id, expected_seq, actor)

    async def undo(self, transaction_id: str, *, expected_seq: int | None = None,
                   actor: str | None = None, organization: str | None = None) -> Any:  # fmt: skip
        return self._decide("undo", transaction_id, expected_seq, actor)

    def _decide(self, action: str, tx: str, expected: int | None, actor: str | None) -> None:
        if expected != self.store.seqs[tx]:
            raise Conflict("the result changed since it was read")
        self.calls.append((action, tx, expected, actor))
        self.store.seqs[tx] += 1


@pytest.fixture
def store() -> FakeStore:
    return FakeStore([row("a", 1, 0.97), row("b", 3, 0.95), row("c", 1, 0.50)])


async def test_preview_holds_the_suggestions_at_or_above_the_confidence(store: FakeStore) -> None:
    bulk = BulkConfirm(store, FakeDecider(store))
    assert [r.transaction_id for r in await bulk.preview("acme", 0.95)] == ["a", "b"]


async def test_only_what_the_preview_showed_is_confirmed(store: FakeStore) -> None:
    decider = FakeDecider(store)
    bulk = BulkConfirm(store, decider)
    store.seqs["b"] = 4  # a colleague decided b after the preview
    outcome = await bulk.confirm("acme", 0.95, {"a": 1, "b": 3, "c": 1}, "Ana")

    assert outcome.confirmed == ["a"]
    assert outcome.skipped == {"b": "conflict", "c": "changed"}  # c was below the threshold
    assert decider.calls == [("confirm", "a", 1, "Ana")]
    assert store.bulks[outcome.bulk_id or 0].items == {"a": 2}


async def test_one_undo_reverts_the_batch_once(store: FakeStore) -> None:
    decider = FakeDecider(store)
    bulk = BulkConfirm(store, decider)
    done = await bulk.confirm("acme", 0.9, {"a": 1, "b": 3}, "Ana")
    assert done.bulk_id is not None
    store.seqs["b"] += 1  # b changed after the bulk confirmation: left alone

    undone = await bulk.undo("acme", done.bulk_id, "Bea")
    assert undone.confirmed == ["a"]
    assert undone.skipped == {"b": "conflict"}
    assert ("undo", "a", 2, "Bea") in decider.calls
    with pytest.raises(Conflict):
        await bulk.undo("acme", done.bulk_id, "Bea")
    with pytest.raises(NotFound):
        await bulk.undo("globex", done.bulk_id, "Bea")


async def test_nothing_confirmed_records_no_batch(store: FakeStore) -> None:
    outcome = await BulkConfirm(store, FakeDecider(store)).confirm("acme", 0.99, {"a": 1}, "Ana")
    assert outcome.bulk_id is None
    assert store.bulks == {}
