"""Fixtures of the matcher service tests: a migrated database, a service on the real engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from qrecon.common.db import create_pool
from qrecon.common.topics import Topics
from qrecon.matcher.adapters.runtime import migrate
from qrecon.matcher.core import EngineConfig, MatchingEngine
from qrecon.matcher.service.cache import MatcherState
from qrecon.matcher.service.matching import MatcherService


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=8)
    await migrate(pool)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def service(pool: asyncpg.Pool, topics: Topics) -> MatcherService:
    state = MatcherState()
    await state.load(pool)
    return MatcherService(pool, MatchingEngine(EngineConfig()), state, topics, conflict_retries=3)
