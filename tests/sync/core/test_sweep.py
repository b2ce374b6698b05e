"""The sweep planner: keyset paging, ties, shifting pages, watermark rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qrecon.sync.core.sweep import (
    ALL_AT_ONCE,
    QONTO_EPOCH,
    TRANSACTION_STATUSES,
    PageSummary,
    Sweep,
    SweepPlan,
    SweepUnstable,
    backoff_delay,
    jittered,
    lag_seconds,
    latest_covered,
    status_keys,
    statuses_of,
    truncate_ms,
)

from ..fakes import OffsetListApi, Row, ms

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def run_sweep(api: OffsetListApi, sweep: Sweep) -> tuple[Sweep, set[str]]:
    read: set[str] = set()
    guard = 0
    while not sweep.done:
        rows, summary = api.query(sweep.request())
        read.update(r.id for r in rows)
        sweep = sweep.advance(summary)
        guard += 1
        assert guard < 10_000, "the sweep does not terminate"
    return sweep, read


def test_plan_first_sweep_starts_at_initial_and_ends_before_now() -> None:
    plan = SweepPlan(overlap=timedelta(minutes=10), settle_delay=timedelta(seconds=5))
    sweep = plan.next_sweep(None, T0)
    assert sweep is not None
    assert sweep.start == QONTO_EPOCH
    assert sweep.end == T0 - timedelta(seconds=5)
    assert sweep.field == "updated_at"


def test_plan_next_sweep_overlaps_watermark() -> None:
    plan = SweepPlan(overlap=timedelta(minutes=10), settle_delay=timedelta(seconds=5))
    watermark = T0 - timedelta(minutes=1)
    sweep = plan.next_sweep(watermark, T0)
    assert sweep is not None
    assert sweep.start == watermark - timedelta(minutes=10)
    assert sweep.request().lower == sweep.start
    assert sweep.request().filters()["sort_by"] == "updated_at:asc"


def test_plan_nothing_to_do_when_watermark_is_recent_or_in_the_future() -> None:
    plan = SweepPlan(overlap=timedelta(minutes=10), settle_delay=timedelta(seconds=5))
    assert plan.next_sweep(T0, T0) is None
    assert plan.next_sweep(T0 + timedelta(hours=1), T0) is None


def test_plan_never_before_qonto_epoch() -> None:
    plan = SweepPlan(initial=datetime(2010, 1, 1, tzinfo=UTC))
    sweep = plan.next_sweep(None, T0)
    assert sweep is not None
    assert sweep.start == QONTO_EPOCH


def test_empty_window_completes_in_one_request() -> None:
    api = OffsetListApi()
    sweep, read = run_sweep(api, Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 10))
    assert sweep.done
    assert sweep.covered_until == T0 + timedelta(hours=1)
    assert api.requests == 1
    assert read == set()


def test_keyset_reads_everything_and_moves_the_cursor() -> None:
    api = OffsetListApi()
    for i in range(95):
        api.add(Row(f"t{i:03}", T0 + ms(i * 7)))
    sweep = Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 10)
    rows, summary = api.query(sweep.request())
    after = sweep.advance(summary)
    assert after.cursor == rows[-1].updated_at
    assert after.page == 1
    assert not after.done
    assert after.request().lower == rows[-1].updated_at - ms(1)
    done, read = run_sweep(api, after)
    assert len(read | {r.id for r in rows}) == 95
    assert done.done
    # Keyset re-reads the boundary item: about one extra request per 9 pages.
    assert api.requests <= 13


def test_tie_group_larger_than_a_page_is_paged_by_offset() -> None:
    api = OffsetListApi()
    for i in range(35):  # 35 transactions updated in the same millisecond
        api.add(Row(f"bulk{i:02}", T0 + timedelta(seconds=1)))
    for i in range(5):
        api.add(Row(f"after{i}", T0 + timedelta(seconds=2, milliseconds=i)))
    sweep, read = run_sweep(api, Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 10))
    assert sweep.done
    assert len(read) == 40


def test_tie_group_shift_restarts_the_group() -> None:
    api = OffsetListApi()
    tie = T0 + timedelta(seconds=1)
    for i in range(30):
        api.add(Row(f"bulk{i:02}", tie))
    api.add(Row("later", tie + timedelta(seconds=1)))
    state = {"n": 0}

    def mutate(a: OffsetListApi) -> None:
        state["n"] += 1
        if state["n"] == 3:  # while paging the group, one already read is edited
            a.touch("bulk00", T0 + timedelta(hours=2))

    api.between_pages = mutate
    sweep = Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 10)
    sweep = sweep.advance(api.query(sweep.request())[1])
    assert sweep.page == 1
    assert sweep.cursor == tie
    sweep = sweep.advance(api.query(sweep.request())[1])
    assert sweep.page == 2
    assert sweep.tie_total == 31
    sweep = sweep.advance(api.query(sweep.request())[1])  # total is 30 now
    assert sweep.page == 1
    assert sweep.tie_restarts == 1
    done, read = run_sweep(api, sweep)
    assert done.done
    assert {f"bulk{i:02}" for i in range(1, 30)} | {"later"} <= read


def test_tie_group_that_never_settles_gives_up_without_advancing() -> None:
    api = OffsetListApi()
    tie = T0 + timedelta(seconds=1)
    for i in range(30):
        api.add(Row(f"bulk{i:02}", tie))
    counter = {"n": 0}

    def churn(a: OffsetListApi) -> None:  # late commits keep joining and leaving the group
        counter["n"] += 1
        if counter["n"] % 2:
            a.add(Row(f"new{counter['n']}", tie))
            a.add(Row(f"new{counter['n']}b", tie))
        else:
            a.touch(f"new{counter['n'] - 1}", T0 + timedelta(hours=2))
            a.touch(f"new{counter['n'] - 1}b", T0 + timedelta(hours=2))

    api.between_pages = churn
    sweep = Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 10)
    with pytest.raises(SweepUnstable):
        run_sweep(api, sweep)


def test_lower_bound_is_covered_even_if_qonto_treats_from_as_exclusive() -> None:
    api = OffsetListApi(lower_exclusive=True)
    for i in range(25):
        api.add(Row(f"t{i:02}", T0 + timedelta(seconds=1 + i // 3)))  # ties of three
    sweep = Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 4)
    done, read = run_sweep(api, sweep)
    assert done.done
    assert len(read) == 25


def test_offset_paging_would_skip_under_shifts_but_keyset_does_not() -> None:
    """The scenario that motivates keyset: an edit during paging shifts the offsets."""
    api = OffsetListApi()
    for i in range(30):
        api.add(Row(f"t{i:02}", T0 + timedelta(seconds=i)))
    edited = {"done": False}

    def edit_once(a: OffsetListApi) -> None:
        if a.requests == 1 and not edited["done"]:
            edited["done"] = True
            a.touch("t00", T0 + timedelta(hours=2))  # leaves the window

    api.between_pages = edit_once
    _done, read = run_sweep(api, Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 10))
    assert {f"t{i:02}" for i in range(30)} <= read


def test_sweep_cannot_be_advanced_after_completion() -> None:
    sweep = Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 10)
    done = sweep.advance(PageSummary(values=[], has_next=False))
    with pytest.raises(RuntimeError):
        done.request()
    with pytest.raises(RuntimeError):
        done.advance(PageSummary(values=[], has_next=False))


def test_covered_until_and_progress() -> None:
    sweep = Sweep.begin("updated_at", T0, T0 + timedelta(hours=2))
    assert sweep.covered_until == T0
    assert sweep.progress == 0.0
    mid = sweep.advance(PageSummary(values=[T0 + timedelta(hours=1)], has_next=True))
    assert mid.covered_until == T0 + timedelta(hours=1)
    assert mid.progress == pytest.approx(0.5)
    assert lag_seconds(mid.covered_until, T0 + timedelta(hours=2)) == 3600
    assert lag_seconds(None, T0) == float("inf")


def test_truncate_ms_and_begin_validation() -> None:
    assert truncate_ms(T0.replace(microsecond=123456)).microsecond == 123000
    with pytest.raises(ValueError, match="start <= end"):
        Sweep.begin("updated_at", T0, T0 - timedelta(seconds=1))


def test_jitter_and_backoff_bounds() -> None:
    assert jittered(60, 0.2, 0.0) == pytest.approx(48)
    assert jittered(60, 0.2, 0.999999) == pytest.approx(72, rel=1e-4)
    assert backoff_delay(0, 1, 60, 0.5) == 0
    assert backoff_delay(3, 1, 60, 1.0) == 4
    assert backoff_delay(30, 1, 60, 0.0) == 30


# Property: whatever the data, ties, page size and edits/creations during the sweep,
# every transaction whose version lay in the window and that was not edited meanwhile is
# read; edited ones end with a version after the window's end (the next sweep's job).
@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(0, 120),
    spread_ms=st.integers(1, 400),
    per_page=st.integers(1, 25),
    edits=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_nothing_stable_is_missed(
    n: int, spread_ms: int, per_page: int, edits: int, seed: int
) -> None:
    rng = random.Random(seed)
    api = OffsetListApi()
    for i in range(n):
        api.add(Row(f"t{i:03}", T0 + ms(rng.randrange(spread_ms))))
    end = T0 + timedelta(seconds=10)
    after_end = [end + timedelta(seconds=1)]
    edited: set[str] = set()
    budget = {"edits": edits}

    def mutate(a: OffsetListApi) -> None:
        if budget["edits"] and a.rows and rng.random() < 0.5:
            budget["edits"] -= 1
            victim = rng.choice(sorted(a.rows))
            after_end[0] += ms(1)
            a.touch(victim, after_end[0])
            edited.add(victim)
        if rng.random() < 0.2:
            after_end[0] += ms(1)
            a.add(Row(f"new{len(a.rows)}", after_end[0]))

    api.between_pages = mutate
    sweep = Sweep.begin("updated_at", T0, end, per_page)
    done, read = run_sweep(api, sweep)
    stable = {f"t{i:03}" for i in range(n)} - edited
    assert stable <= read
    assert done.covered_until == end


def test_past_the_last_page_inside_a_tie_group_rereads_the_group() -> None:
    sweep = Sweep.begin("updated_at", T0, T0 + timedelta(hours=1), 2)
    tie = T0 + timedelta(seconds=1)
    sweep = sweep.advance(PageSummary(values=[tie, tie], has_next=True, total_count=5))
    sweep = sweep.advance(PageSummary(values=[tie, tie], has_next=True, total_count=5))
    assert sweep.page == 2
    sweep = sweep.advance(PageSummary(values=[], has_next=False, past_end=True))
    assert sweep.page == 1
    assert not sweep.done
    assert sweep.tie_restarts == 1


def test_an_api_ignoring_the_upper_bound_cannot_make_the_sweep_loop() -> None:
    end = T0 + timedelta(seconds=10)
    sweep = Sweep.begin("updated_at", T0, end, 3)
    page = PageSummary(values=[T0 + timedelta(seconds=9), end + ms(5), end + ms(6)], has_next=True)
    done = sweep.advance(page)
    assert done.done
    assert done.covered_until == end


def test_a_new_sweep_does_not_report_its_overlap_as_lag() -> None:
    """A sweep restarts an overlap before the watermark; what the previous sweep covered stays
    covered, so the lag is measured from the later of the cursor and the watermark."""
    watermark = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    cursor = watermark - timedelta(minutes=10)
    now = watermark + timedelta(seconds=3)
    assert latest_covered(cursor, watermark) == watermark
    assert lag_seconds(latest_covered(cursor, watermark), now) == 3.0
    assert latest_covered(watermark + timedelta(seconds=1), watermark) == watermark + timedelta(
        seconds=1
    )
    assert latest_covered(None, None) is None
    assert latest_covered(None, watermark) == watermark


# ---------------------------------------------------------------- one status per request


def test_status_keys_one_sweep_per_status_or_one_for_all() -> None:
    assert status_keys(True) == ("pending", "declined", "completed")
    assert status_keys(False) == (ALL_AT_ONCE,)
    assert statuses_of("pending") == ("pending",)
    assert statuses_of(ALL_AT_ONCE) == TRANSACTION_STATUSES
    with pytest.raises(ValueError):
        statuses_of("settled")


def test_a_status_sweep_asks_for_its_status_only_on_every_page() -> None:
    plan = SweepPlan(initial=T0 - timedelta(days=1))
    sweep = plan.next_sweep(None, T0, "declined")
    assert sweep is not None
    assert sweep.status == "declined"
    first = sweep.request()
    assert first.statuses == ("declined",)
    assert first.filters()["statuses"] == ["declined"]
    # Keyset paging keeps the status, and so does a tie group's offset paging.
    after = sweep.advance(PageSummary(values=[T0 - timedelta(hours=5)] * 3, has_next=True))
    assert after.request().statuses == ("declined",)
    tied = after.advance(PageSummary(values=[after.cursor] * 3, has_next=True, total_count=9))
    assert tied.page == 2
    assert tied.request().statuses == ("declined",)


def test_the_legacy_sweep_asks_for_every_status_in_one_request() -> None:
    sweep = SweepPlan(initial=T0 - timedelta(days=1)).next_sweep(None, T0)
    assert sweep is not None
    assert sweep.status == ALL_AT_ONCE
    assert sweep.request().filters()["statuses"] == ["pending", "declined", "completed"]


def test_each_status_is_planned_from_its_own_watermark() -> None:
    plan = SweepPlan(overlap=timedelta(minutes=10), settle_delay=timedelta(seconds=5))
    watermarks = {
        "pending": T0 - timedelta(minutes=1),
        "declined": T0 - timedelta(hours=2),
        "completed": T0,  # up to date: nothing to ask for
    }
    sweeps = {s: plan.next_sweep(w, T0, s) for s, w in watermarks.items()}
    assert sweeps["completed"] is None
    pending, declined = sweeps["pending"], sweeps["declined"]
    assert pending is not None
    assert declined is not None
    assert pending.start == watermarks["pending"] - timedelta(minutes=10)
    assert declined.start == watermarks["declined"] - timedelta(minutes=10)
    assert pending.end == declined.end == T0 - timedelta(seconds=5)


def test_an_unknown_status_cannot_begin_a_sweep() -> None:
    with pytest.raises(ValueError):
        Sweep.begin("updated_at", T0 - timedelta(days=1), T0, status="settled")
