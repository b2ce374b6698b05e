"""Overlapping time windows."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qrecon.common.qonto.windows import time_windows

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_example() -> None:
    got = list(
        time_windows(T0, T0 + timedelta(days=5), size=timedelta(days=2), overlap=timedelta(days=1))
    )
    assert got == [
        (T0, T0 + timedelta(days=2)),
        (T0 + timedelta(days=1), T0 + timedelta(days=3)),
        (T0 + timedelta(days=2), T0 + timedelta(days=4)),
        (T0 + timedelta(days=3), T0 + timedelta(days=5)),
    ]


def test_empty_and_single() -> None:
    assert list(time_windows(T0, T0, size=timedelta(hours=1), overlap=timedelta(0))) == []
    assert list(
        time_windows(
            T0, T0 + timedelta(minutes=5), size=timedelta(hours=1), overlap=timedelta(minutes=1)
        )
    ) == [(T0, T0 + timedelta(minutes=5))]


def test_invalid() -> None:
    with pytest.raises(ValueError):
        list(time_windows(T0, T0 + timedelta(days=1), size=timedelta(0), overlap=timedelta(0)))
    with pytest.raises(ValueError):
        list(
            time_windows(
                T0, T0 + timedelta(days=1), size=timedelta(hours=1), overlap=timedelta(hours=1)
            )
        )
    with pytest.raises(ValueError):
        list(
            time_windows(T0.replace(tzinfo=None), T0, size=timedelta(hours=1), overlap=timedelta(0))
        )


@given(
    span=st.integers(min_value=1, max_value=10_000),
    size=st.integers(min_value=1, max_value=500),
    overlap_frac=st.floats(min_value=0, max_value=0.99),
)
def test_windows_cover_the_range_with_the_overlap(
    span: int, size: int, overlap_frac: float
) -> None:
    overlap = int(size * overlap_frac)
    end = T0 + timedelta(minutes=span)
    got = list(
        time_windows(T0, end, size=timedelta(minutes=size), overlap=timedelta(minutes=overlap))
    )
    assert got[0][0] == T0
    assert got[-1][1] == end
    for lower, upper in got:
        assert lower < upper <= end
        assert upper - lower <= timedelta(minutes=size)
    for (_, prev_upper), (lower, _) in itertools.pairwise(got):
        assert lower == prev_upper - timedelta(minutes=overlap)  # every boundary overlaps
