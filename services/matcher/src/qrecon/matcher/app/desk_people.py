"""The desk's people and their sessions: accounts, sign-in (with a lockout after a storm
of wrong passwords), sessions that expire, the organisation switcher.

A session cookie is a random token; the store keeps only its SHA-256 (a copy of the table
opens no session). Each session carries its CSRF token (synchronizer token pattern): every
form and htmx post of the desk sends it back.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from qrecon.matcher.app.desk_ports import (
    ROLES,
    DeskStore,
    Membership,
    PasswordHasher,
    Person,
    SessionRecord,
)
from qrecon.matcher.app.errors import InvalidRequest, NotFound
from qrecon.matcher.app.ports import Clock

MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True, slots=True)
class DeskPolicy:
    """Tuning of sign-in and sessions."""

    lock_after_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    idle_timeout: timedelta = timedelta(hours=8)
    absolute_timeout: timedelta = timedelta(hours=12)


class SignInRefused(Exception):
    """Wrong email or password, a disabled account, a locked one: one message for all."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_membership(text: str) -> Membership:
    """``ORG:ROLE`` (``acme:reviewer``) as given to the CLI."""
    org, _, role = text.partition(":")
    org, role = org.strip(), role.strip() or "reviewer"
    if not org or role not in ROLES:
        raise InvalidRequest(f"membership {text!r}: expected ORGANISATION:reviewer|viewer")
    return Membership(organization_id=org, role=role)  # type: ignore[arg-type]


class People:
    def __init__(
        self,
        store: DeskStore,
        hasher: PasswordHasher,
        *,
        clock: Clock,
        policy: DeskPolicy | None = None,
    ) -> None:
        self.store = store
        self.hasher = hasher
        self.clock = clock
        self.policy = policy or DeskPolicy()
        # Verified when the email is unknown, so an unknown email costs what a known one does.
        self._decoy = hasher.hash(secrets.token_urlsafe(16))

    # ------------------------------------------------------------------ accounts
    async def create(
        self, email: str, name: str, password: str, memberships: list[Membership]
    ) -> int:
        email, name = email.strip(), name.strip()
        if "@" not in email or len(email) > 254 or not name or len(name) > 200:
            raise InvalidRequest("an email address and a name (at most 200 characters)")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidRequest(f"a password of at least {MIN_PASSWORD_LENGTH} characters")
        if not memberships:
            raise InvalidRequest("at least one organisation (ORG:reviewer or ORG:viewer)")
        if await self.store.person_by_email(email) is not None:
            raise InvalidRequest(f"{email} already has an account")
        return await self.store.create_person(email, name, self.hasher.hash(password), memberships)

    async def disable(self, email: str, disabled: bool = True) -> None:
        if not await self.store.set_disabled(email, disabled):
            raise NotFound(f"no account for {email}")

    async def list(self) -> list[tuple[Person, list[Membership]]]:
        return await self.store.people()

    # ------------------------------------------------------------------ sign-in
    async def sign_in(self, email: str, password: str) -> tuple[str, SessionRecord]:
        """A new session (its cookie token and record), or :class:`SignInRefused`."""
        now = self.clock()
        person = await self.store.person_by_email(email.strip())
        if person is None:
            self.hasher.verify(self._decoy, password)
            raise SignInRefused()
        if person.disabled or (person.locked_until is not None and person.locked_until > now):
            raise SignInRefused()
        if not self.hasher.verify(person.password_hash, password):
            await self.store.failed_login(
                person.id,
                lock_after=self.policy.lock_after_failures,
                locked_until=now + self.policy.lockout,
            )
            raise SignInRefused()
        memberships = await self.store.memberships(person.id)
        if not memberships:
            raise SignInRefused()
        rehash = (
            self.hasher.hash(password) if self.hasher.needs_rehash(person.password_hash) else None
        )
        await self.store.successful_login(person.id, rehash)
        token = secrets.token_urlsafe(32)
        await self.store.create_session(
            token_hash(token),
            person.id,
            memberships[0].organization_id,
            secrets.token_urlsafe(32),
            now,
            now + self.policy.absolute_timeout,
        )
        session = await self.store.session(token_hash(token))
        assert session is not None
        return token, session

    async def session(self, token: str | None) -> SessionRecord | None:
        """The live session of a cookie; None when unknown, expired or idle too long
        (the expired one is deleted)."""
        if not token or len(token) > 128:
            return None
        hashed = token_hash(token)
        session = await self.store.session(hashed)
        if session is None:
            return None
        now = self.clock()
        if session.expires_at <= now or session.last_seen_at + self.policy.idle_timeout <= now:
            await self.store.delete_session(hashed)
            return None
        if now - session.last_seen_at > timedelta(minutes=1):
            await self.store.touch_session(hashed, now, session.expires_at)
        return session

    async def switch(self, session: SessionRecord, organization_id: str) -> None:
        """Look at another organisation of one's own (anything else: NotFound)."""
        if organization_id not in {m.organization_id for m in session.memberships}:
            raise NotFound("no such organisation")
        await self.store.switch_session(session.token_hash, organization_id)

    async def sign_out(self, session: SessionRecord) -> None:
        await self.store.delete_session(session.token_hash)
