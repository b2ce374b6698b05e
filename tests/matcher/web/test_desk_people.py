"""Accounts and sessions of the desk (use cases on the real store, an explicit clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from qrecon.matcher.adapters.postgres_desk import PgDeskStore
from qrecon.matcher.adapters.web.security import Argon2Hasher
from qrecon.matcher.app.desk_people import DeskPolicy, People, SignInRefused, parse_membership
from qrecon.matcher.app.desk_ports import Membership
from qrecon.matcher.app.errors import InvalidRequest, NotFound

from .conftest import PASSWORD

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def desk_people(pool: asyncpg.Pool) -> tuple[People, Clock]:
    clock = Clock()
    people = People(PgDeskStore(pool), Argon2Hasher(), clock=clock, policy=DeskPolicy())
    await people.create("ana@example.fr", "Ana Martin", PASSWORD, [Membership("acme", "reviewer")])
    return people, clock


async def test_passwords_are_stored_as_argon2id_hashes(
    desk_people: tuple[People, Clock], pool: asyncpg.Pool
) -> None:
    stored = await pool.fetchval("SELECT password_hash FROM matcher_desk_people")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_a_session_ends_after_its_idle_timeout(desk_people: tuple[People, Clock]) -> None:
    people, clock = desk_people
    token, session = await people.sign_in("ANA@example.fr", PASSWORD)
    assert session.person_name == "Ana Martin"
    assert session.can_act

    clock.now = T0 + timedelta(hours=7)
    assert await people.session(token) is not None  # seen: the idle clock restarts
    clock.now = T0 + timedelta(hours=11, minutes=59)
    assert await people.session(token) is not None
    clock.now = T0 + timedelta(hours=12)  # the absolute limit, however active
    assert await people.session(token) is None
    assert await people.session(token) is None  # and it is gone


async def test_an_idle_session_expires(desk_people: tuple[People, Clock]) -> None:
    people, clock = desk_people
    token, _ = await people.sign_in("ana@example.fr", PASSWORD)
    clock.now = T0 + timedelta(hours=8)
    assert await people.session(token) is None
    assert await people.session("forged-token") is None
    assert await people.session("x" * 500) is None


async def test_the_lockout_ends_after_its_time(desk_people: tuple[People, Clock]) -> None:
    people, clock = desk_people
    for _ in range(5):
        with pytest.raises(SignInRefused):
            await people.sign_in("ana@example.fr", "wrong password")
    with pytest.raises(SignInRefused):
        await people.sign_in("ana@example.fr", PASSWORD)
    clock.now = T0 + timedelta(minutes=15, seconds=1)
    token, _ = await people.sign_in("ana@example.fr", PASSWORD)
    assert await people.session(token) is not None


async def test_a_disabled_account_cannot_sign_in_and_loses_its_sessions(
    desk_people: tuple[People, Clock],
) -> None:
    people, _ = desk_people
    token, _ = await people.sign_in("ana@example.fr", PASSWORD)
    await people.disable("ana@example.fr")
    assert await people.session(token) is None
    with pytest.raises(SignInRefused):
        await people.sign_in("ana@example.fr", PASSWORD)
    with pytest.raises(NotFound):
        await people.disable("nobody@example.fr")


async def test_accounts_are_validated(desk_people: tuple[People, Clock]) -> None:
    people, _ = desk_people
    acme = [Membership("acme", "viewer")]
    with pytest.raises(InvalidRequest, match="already"):
        await people.create("Ana@Example.fr", "Other", PASSWORD, acme)
    with pytest.raises(InvalidRequest, match="at least 10"):
        await people.create("bob@example.fr", "Bob", "short", acme)
    with pytest.raises(InvalidRequest, match="organisation"):
        await people.create("bob@example.fr", "Bob", PASSWORD, [])
    with pytest.raises(InvalidRequest):
        parse_membership("acme:admin")
    assert parse_membership("acme") == Membership("acme", "reviewer")
    assert parse_membership("globex:viewer") == Membership("globex", "viewer")
