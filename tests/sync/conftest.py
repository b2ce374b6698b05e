"""Fixtures of the sync tests: the Qonto emulator over HTTP and SyncSettings pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from qrecon.common.topics import Topics
from qrecon.sim.state import Simulator
from qrecon.sim.testing import EmulatorHandle, arun_emulator
from qrecon.sync.settings import SyncSettings


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorHandle]:
    async with arun_emulator(Simulator(seed=7)) as handle:
        yield handle


@pytest.fixture
def make_settings(
    database_url: str, kafka_bootstrap: str, topics: Topics
) -> Callable[..., SyncSettings]:
    """SyncSettings for this test (never read from the machine's environment files)."""

    def build(emulator: EmulatorHandle | None = None, **overrides: Any) -> SyncSettings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "kafka_bootstrap_servers": kafka_bootstrap,
            "kafka_topic_prefix": topics.prefix,
            "poll_interval": 0.3,
            "poll_jitter": 0.1,
            "overlap": 5.0,
            "settle_delay": 0.2,
            "error_backoff_max": 1.0,
            "consumer_group": f"{topics.prefix}sync-seen",
            "http_port": 0,
        }
        if emulator is not None:
            values.update(
                api_base_url=emulator.base_url,
                organization_id=emulator.login,
                api_key=emulator.secret_key,
            )
        values.update(overrides)
        return SyncSettings(_env_file=None, **values)

    return build
