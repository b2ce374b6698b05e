"""Dedupe of polled versions against what is already on the topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qrecon.sync.core.versions import (
    ObservedVersion,
    classify_observed,
    merge_known,
    select_unseen,
)

from ..fakes import Row

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(seconds=5)


def test_unknown_and_newer_versions_are_published() -> None:
    rows = [Row("a", T0), Row("b", LATER), Row("c", T0)]
    known = {"b": T0, "c": T0}
    sel = select_unseen(rows, known)
    assert [r.id for r in sel.publish] == ["a", "b"]
    assert [r.id for r in sel.seen] == ["c"]


def test_older_versions_than_known_are_not_published() -> None:
    sel = select_unseen([Row("a", T0)], {"a": LATER})
    assert sel.publish == []
    assert [r.id for r in sel.seen] == ["a"]


def test_repeats_in_a_batch_keep_the_newest_once() -> None:
    rows = [Row("a", T0), Row("b", T0), Row("a", LATER), Row("a", T0), Row("b", T0)]
    sel = select_unseen(rows, {})
    assert [(r.id, r.updated_at) for r in sel.publish] == [("a", LATER), ("b", T0)]
    assert len(sel.repeated) == 3


def test_merge_known_keeps_newest() -> None:
    merged = merge_known({"a": LATER, "b": T0}, [Row("a", T0), Row("b", LATER), Row("c", T0)])
    assert merged == {"a": LATER, "b": LATER, "c": T0}


def test_classify_observed() -> None:
    obs = ObservedVersion("a", T0, "e1", "poll")
    assert classify_observed(obs, None) == "new"
    assert classify_observed(obs, (T0 - timedelta(seconds=1), "e0")) == "new"
    assert classify_observed(obs, (T0, "e1")) == "same_event"
    assert classify_observed(obs, (T0, "webhook-event")) == "duplicate"
    assert classify_observed(obs, (LATER, "e9")) == "stale"
