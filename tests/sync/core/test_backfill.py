"""Backfill planning over settled_at windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from qrecon.sync.core.backfill import (
    Backfill,
    BackfillRangeError,
    backfill_range,
    backfill_statuses,
)
from qrecon.sync.core.sweep import QONTO_EPOCH

from ..fakes import OffsetListApi, Row

NOW = datetime(2025, 6, 15, 10, 0, tzinfo=UTC)


def test_range_clamps_to_qonto_epoch_and_defaults_until_to_now() -> None:
    start, end, clamped = backfill_range(date(2015, 5, 1), None, NOW)
    assert start == QONTO_EPOCH
    assert clamped
    assert end == NOW


def test_range_until_date_is_end_of_day_and_capped_at_now() -> None:
    start, end, clamped = backfill_range(date(2025, 1, 1), date(2025, 1, 31), NOW)
    assert not clamped
    assert start == datetime(2025, 1, 1, tzinfo=UTC)
    assert end == datetime(2025, 1, 31, 23, 59, 59, 999000, tzinfo=UTC)
    _, end2, _ = backfill_range(date(2025, 1, 1), date(2030, 1, 1), NOW)
    assert end2 == NOW


def test_empty_range_is_refused() -> None:
    with pytest.raises(BackfillRangeError):
        backfill_range(date(2026, 1, 1), None, NOW)


def test_walks_windows_and_reads_every_settled_transaction() -> None:
    api = OffsetListApi()
    since = datetime(2025, 1, 1, tzinfo=UTC)
    until = datetime(2025, 4, 1, tzinfo=UTC)
    for i in range(200):
        settled = since + timedelta(hours=11 * i)
        api.add(Row(f"t{i:03}", NOW, settled if settled <= until else None))
    api.add(Row("pending", NOW, None))
    state = Backfill.begin(since, until, timedelta(days=30))
    windows = {(state.sweep.start, state.sweep.end)}
    read: set[str] = set()
    progress = [state.progress]
    while not state.done:
        rows, summary = api.query(state.sweep.request())
        assert all(r.settled_at is not None for r in rows)
        read.update(r.id for r in rows)
        state = state.advance(summary)
        windows.add((state.sweep.start, state.sweep.end))
        progress.append(state.progress)
    expected = {f"t{i:03}" for i in range(200) if since + timedelta(hours=11 * i) <= until}
    assert read == expected
    assert len(windows) == 4  # 90 days in windows of 30
    assert progress == sorted(progress)
    assert progress[-1] == 1.0
    assert state.sweep.request  # state stays serialisable data


def test_completed_open_ended_backfill_can_be_extended() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    state = Backfill.begin(since, since + timedelta(days=2), timedelta(days=30))
    api = OffsetListApi()
    state = state.advance(api.query(state.sweep.request())[1])
    assert state.done
    later = state.extended(since + timedelta(days=5))
    assert not later.done
    assert later.sweep.start < state.until < later.sweep.end
    assert state.extended(since) is state


def test_a_backfill_walks_the_range_once_per_status() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    until = since + timedelta(days=50)
    statuses = ("pending", "declined", "completed")
    state = Backfill.begin(since, until, timedelta(days=30), statuses)
    api = OffsetListApi()
    asked: list[tuple[str, datetime, datetime]] = []
    while not state.done:
        request = state.sweep.request()
        assert request.statuses == (state.sweep.status,)
        asked.append((state.sweep.status, request.lower, request.upper))
        state = state.advance(api.query(request)[1])
    # Two windows per status, each status from the start of the range.
    assert [a[0] for a in asked] == [s for s in statuses for _ in range(2)]
    assert [a[1] for a in asked if a[1] == since] == [since] * 3
    assert all(a[2] <= until for a in asked)
    assert state.progress == 1.0


def test_a_per_status_backfill_is_not_done_before_its_last_status() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    state = Backfill.begin(
        since, since + timedelta(days=2), timedelta(days=30), ("pending", "completed")
    )
    state = state.advance(OffsetListApi().query(state.sweep.request())[1])
    assert not state.done
    assert state.sweep.status == "completed"
    assert state.progress == pytest.approx(0.5)
    state = state.advance(OffsetListApi().query(state.sweep.request())[1])
    assert state.done
    # Carried on to a later end: every status again, from the former end.
    later = state.extended(since + timedelta(days=3))
    assert later.sweep.status == "pending"
    assert not later.done
    assert later.sweep.start == since + timedelta(days=2) - timedelta(milliseconds=1)


def test_a_backfill_walks_completed_first_or_every_status_at_once() -> None:
    assert backfill_statuses(True) == ("completed", "declined", "pending")
    assert backfill_statuses(False) == ("all",)
