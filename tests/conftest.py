"""Fixtures shared by every test: real Kafka and PostgreSQL from one switchable backend.

See ``qrecon.common.testing`` for how the servers are found. A test that needs a server
and finds none fails, in CI and locally alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import hypothesis
import pytest

from qrecon.common import testing
from qrecon.common.db import create_pool
from qrecon.common.topics import Topics

# Property tests are deterministic (the same examples on every run: no luck) and have no
# per-example deadline (a shared 2-core machine is slow at times, never wrong).
hypothesis.settings.register_profile(
    "qrecon", derandomize=True, database=None, deadline=None, print_blob=True
)
hypothesis.settings.load_profile("qrecon")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fault-injection tests stop and restart the shared servers: run them last."""
    items.sort(key=lambda item: item.get_closest_marker("faults") is not None)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    try:
        with testing.kafka_backend() as bootstrap:
            yield bootstrap
    except testing.BackendUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> Iterator[str]:
    try:
        with testing.postgres_backend() as dsn:
            yield dsn
    except testing.BackendUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
async def database_url(postgres_admin_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database for this test."""
    async with testing.fresh_database(postgres_admin_dsn) as dsn:
        yield dsn


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool on this test's fresh database (modules may add migrations)."""
    pool = await create_pool(database_url, min_size=1, max_size=8)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def topics(kafka_bootstrap: str) -> AsyncIterator[Topics]:
    """The contract's topics under a prefix unique to this test, provisioned (3 partitions),
    and deleted after it."""
    provisioned = await testing.provision_topics(kafka_bootstrap, testing.unique_prefix())
    yield provisioned
    await testing.delete_topics(kafka_bootstrap, provisioned.prefix)
