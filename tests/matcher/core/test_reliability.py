"""The reliability table: buckets of confidence, observed precision, calibration error."""

from __future__ import annotations

import pytest

from qrecon.matcher.core.reliability import at_least, reliability


def test_buckets_count_precision_and_the_expected_calibration_error() -> None:
    pairs = [(0.95, True)] * 9 + [(0.95, False)] + [(0.2, False)] * 4 + [(1.0, True)] * 2
    table = reliability(pairs, edges=(0.0, 0.5, 0.99, 1.0001))
    assert [(b.n, b.precision) for b in table.buckets] == [(4, 0.0), (10, 0.9), (2, 1.0)]
    assert table.buckets[2].label == "[0.990, 1.000]"
    # |0.2 - 0| * 4 + |0.95 - 0.9| * 10 + |1.0 - 1.0| * 2, over 16
    assert table.ece == pytest.approx((0.8 + 0.5) / 16)


def test_nothing_to_measure_is_an_empty_table() -> None:
    table = reliability([])
    assert (table.buckets, table.n, table.ece) == ([], 0, 0.0)
    assert at_least([], 0.9) == (0, None)


def test_the_precision_at_and_above_a_threshold() -> None:
    pairs = [(0.97, True), (0.964, False), (0.5, False), (0.999, True)]
    assert at_least(pairs, 0.964) == (3, pytest.approx(2 / 3))
