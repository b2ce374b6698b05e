"""The matcher's use cases on fakes of their ports: the real engine, no server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qrecon.matcher.app.cache import MatcherState
from qrecon.matcher.app.service import MatcherService
from qrecon.matcher.core import EngineConfig, MatchingEngine

from .fakes import ORG, FakeDatabase

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def new_service(db: FakeDatabase) -> MatcherService:
    """One replica: its own cache, the shared store."""
    return MatcherService(
        db,
        MatchingEngine(EngineConfig()),
        MatcherState(),
        conflict_retries=2,
        clock=clock,
        default_organization=ORG,
    )


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
async def service(db: FakeDatabase) -> MatcherService:
    service = new_service(db)
    await service.state.load(db)
    return service
