"""Sync's clock: the wall clock unless ``SYNC_CLOCK_START`` names where it starts (tests,
demos and replays), then that instant plus the real time elapsed since."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from qrecon.common.timeutil import utcnow
from qrecon.sync import bootstrap
from qrecon.sync.adapters.clock import started_clock, sync_clock
from qrecon.sync.bootstrap import SyncService
from qrecon.sync.settings import SyncSettings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_started_clock_reads_its_start_then_advances_with_elapsed_time() -> None:
    ticks = iter([100.0, 100.0, 102.5, 3700.0])  # what time.monotonic would answer
    clock = started_clock(START, monotonic=lambda: next(ticks))
    assert clock() == START
    assert clock() == START + timedelta(seconds=2.5)
    assert clock() == START + timedelta(seconds=3600)


def test_without_a_start_sync_reads_the_wall_clock() -> None:
    assert sync_clock(None) is utcnow
    assert sync_clock(START)() >= START


def test_the_setting_is_an_optional_iso_instant_naive_meaning_utc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert SyncSettings(_env_file=None).clock_start is None
    monkeypatch.setenv("SYNC_CLOCK_START", "2026-03-02T09:00:00Z")
    assert SyncSettings(_env_file=None).clock_start == START
    monkeypatch.setenv("SYNC_CLOCK_START", "2026-03-02T10:00:00+01:00")
    assert SyncSettings(_env_file=None).clock_start == START
    monkeypatch.setenv("SYNC_CLOCK_START", "2026-03-02T09:00:00")
    assert SyncSettings(_env_file=None).clock_start == START
    monkeypatch.setenv("SYNC_CLOCK_START", "next monday")
    with pytest.raises(ValidationError, match="SYNC_CLOCK_START"):
        SyncSettings(_env_file=None)


def test_the_composition_root_gives_sync_the_started_clock_and_warns() -> None:
    settings = SyncSettings(_env_file=None, clock_start=START)
    service = SyncService(settings)  # nothing is started: no server is needed
    assert START <= service.clock() < START + timedelta(hours=1)
    assert SyncService(SyncSettings(_env_file=None)).clock is utcnow
    with capture_logs() as logs:
        bootstrap.warn_if_clock_not_real(settings)
        bootstrap.warn_if_clock_not_real(SyncSettings(_env_file=None))
    assert [(e["event"], e["log_level"], e["clock_start"]) for e in logs] == [
        ("clock_not_real", "warning", START.isoformat())
    ]
