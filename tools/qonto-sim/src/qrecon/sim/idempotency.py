"""``X-Qonto-Idempotency-Key`` on the emulator's writes, and answers lost on the way back.

Qonto [doc]: a write carrying ``X-Qonto-Idempotency-Key`` (any unique string; a UUID v4 is
recommended, not required) whose first attempt
succeeded gets that first answer again, for 30 minutes, even if the body differs. The
emulator does the same for every write under ``/v2`` (``POST``, ``PUT``, ``PATCH``,
``DELETE``):

* the key is scoped to the caller's organization (two organizations never see each
  other's answers); any non-empty printable key of at most 255 characters is taken as
  sent (a UUID in any case is the same key), anything else gets 422 in Qonto's error
  format before anything is done;
* only a successful (2xx) answer is kept: a write that failed can be retried with the same
  key and is processed again;
* the answer is replayed byte for byte (status, body, content type) with the emulator's
  own ``X-Sim-Idempotent-Replay: true`` header; expiry follows ``sim.clock`` (advance the
  clock 30 minutes and the key is forgotten);
* two requests with the same key at once: the second waits for the first and gets its
  answer (the first answer is lost to a client that times out, not the write);
* [guess, stricter than Qonto says] the same key on another method or path is refused
  (422 ``idempotency_key_reused``) rather than answered with the other request's answer.

``LostAnswers`` is the fault that makes this matter: the request is processed in full,
then the connection is closed after the status line, before the body (``faults.lose_answers``
counts down the next API answers to lose; ``faults.lost_answer_rate`` loses at random). A
client sees a transport error and must retry; only the idempotency key makes the retried
write safe.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qrecon.sim.clock import Clock
from qrecon.sim.faults import Faults

IDEMPOTENCY_HEADER = "X-Qonto-Idempotency-Key"
REPLAY_HEADER = "X-Sim-Idempotent-Replay"
IDEMPOTENCY_TTL = timedelta(minutes=30)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


MAX_KEY_LENGTH = 255


def parse_key(raw: str) -> str | None:
    """The key as compared (a UUID in lower case, any other key as sent), or None when it
    cannot be a key (empty, too long, control characters)."""
    value = raw.strip()
    if not value or len(value) > MAX_KEY_LENGTH or not value.isprintable():
        return None
    return value.lower() if _UUID.match(value) else value


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    method: str
    path: str
    status: int
    body: bytes
    content_type: str | None
    stored_at: datetime


Scope_ = tuple[str, str]  # (organization id, key)


class IdempotencyStore:
    """First successful answers by (organization, key), forgotten after ``ttl`` of
    ``clock`` time. Thread-safe; the in-flight locks belong to the serving event loop."""

    def __init__(self, clock: Clock, ttl: timedelta = IDEMPOTENCY_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self._lock = threading.Lock()
        self._answers: OrderedDict[Scope_, StoredAnswer] = OrderedDict()
        self._inflight: dict[Scope_, tuple[asyncio.Lock, int]] = {}

    def get(self, scope: Scope_) -> StoredAnswer | None:
        with self._lock:
            answer = self._answers.get(scope)
            if answer is None:
                return None
            if self.clock.now() >= answer.stored_at + self.ttl:
                del self._answers[scope]
                return None
            return answer

    def put(self, scope: Scope_, answer: StoredAnswer) -> None:
        with self._lock:
            self._answers[scope] = answer
            self._answers.move_to_end(scope)
            cutoff = self.clock.now() - self.ttl
            while self._answers:  # oldest first: drop what expired
                oldest = next(iter(self._answers.values()))
                if oldest.stored_at > cutoff:
                    break
                self._answers.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._answers)

    def inflight(self, scope: Scope_) -> _InFlight:
        """``async with store.inflight(scope):`` one request per key at a time."""
        return _InFlight(self, scope)

    def _enter(self, scope: Scope_) -> asyncio.Lock:
        with self._lock:
            lock, users = self._inflight.get(scope, (None, 0))
            if lock is None:
                lock = asyncio.Lock()
            self._inflight[scope] = (lock, users + 1)
            return lock

    def _leave(self, scope: Scope_) -> None:
        with self._lock:
            lock, users = self._inflight[scope]
            if users <= 1:
                del self._inflight[scope]
            else:
                self._inflight[scope] = (lock, users - 1)


class _InFlight:
    def __init__(self, store: IdempotencyStore, scope: Scope_) -> None:
        self.store = store
        self.scope = scope
        self.lock: asyncio.Lock | None = None

    async def __aenter__(self) -> None:
        self.lock = self.store._enter(self.scope)
        try:
            await self.lock.acquire()
        except BaseException:
            self.store._leave(self.scope)
            raise

    async def __aexit__(self, *exc: object) -> None:
        assert self.lock is not None
        self.lock.release()
        self.store._leave(self.scope)


class AnswerLoss(Protocol):
    """What ``LostAnswers`` asks of the faults (``qrecon.sim.stores.fault_state``)."""

    @property
    def faults(self) -> Faults: ...

    def take_lost_answer(self, rng: random.Random) -> bool: ...


class LostAnswers:
    """ASGI middleware: an API answer chosen by the faults is processed, then lost (the
    status line goes out, the body never does, the connection is closed)."""

    def __init__(self, app: ASGIApp, faults: AnswerLoss, rng: random.Random | None = None) -> None:
        self.app = app
        self.faults = faults
        self.rng = rng or random.Random(faults.faults.seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not str(scope.get("path", "")).startswith("/v2/")
            or not self.faults.take_lost_answer(self.rng)
        ):
            await self.app(scope, receive, send)
            return

        async def lose(message: Message) -> None:
            if message["type"] == "http.response.start":
                await send(message)
            # the body is dropped: returning without it makes the server close the
            # connection, and the client sees an incomplete answer

        await self.app(scope, receive, lose)
