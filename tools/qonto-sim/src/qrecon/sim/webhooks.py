"""Webhook delivery: a background thread with its own asyncio loop, so sending never
blocks the API or the code that changed a transaction.

Each subscription has an ordered queue: first attempts start in the order the changes
happened (up to ``concurrency`` at once), retries run apart with exponential backoff
(``backoff_base * 2**n``, capped, bounded by ``max_attempts``), each attempt signed anew
with ``X-Qonto-Signature: t=<now>,v1=<hmac>`` over the exact bytes sent, and given up
after ``timeout`` (Qonto waits 1 s for a 2xx). Faults are decided per event with a
seeded random generator and written into the ground-truth log: ``dropped`` (never sent),
``silent`` (a change that sends no webhook), ``duplicate`` (sent twice, same event id),
``reorder`` (held back until the next event of the subscription went), ``delay_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from qrecon.common.qonto.signature import SIGNATURE_HEADER, signature_header
from qrecon.sim.clock import Clock, format_ts
from qrecon.sim.faults import Faults
from qrecon.sim.shapes import AmountFormat, SubjectTypeCase

USER_AGENT = "Qonto-Webhooks/1.0 (qonto-sim)"
REORDER_HOLD_SECONDS = 0.5


@dataclass
class WebhookSettings:
    """How webhooks are sent."""

    timeout: float = 1.0  # Qonto waits 1 s for a 2xx
    max_attempts: int = 6  # first try + retries, then given up
    backoff_base: float = 1.0  # seconds before the first retry, doubling
    backoff_max: float = 60.0
    amount_format: AmountFormat = "number"
    bank_account_style: Literal["object", "id", "both"] = "object"
    subject_type_case: SubjectTypeCase = "camel"  # "lower": as the REST examples

    def to_dict(self) -> dict[str, Any]:
        return {
            "timeout": self.timeout,
            "max_attempts": self.max_attempts,
            "backoff_base": self.backoff_base,
            "backoff_max": self.backoff_max,
            "amount_format": self.amount_format,
            "bank_account_style": self.bank_account_style,
            "subject_type_case": self.subject_type_case,
        }


@dataclass
class _Job:
    record: dict[str, Any]
    subscription_id: str
    callback_url: str
    secret: str
    body: bytes
    duplicate: bool
    reorder: bool
    delay: float


class WebhookDispatcher:
    """Sends events to subscriptions. It reads what it needs when it needs it: ``faults``
    (the faults in force), ``settings`` (timeouts, attempts, backoff) and ``clock`` (the
    simulated time recorded in the ground truth)."""

    def __init__(
        self,
        *,
        faults: Callable[[], Faults],
        settings: Callable[[], WebhookSettings],
        clock: Clock,
    ) -> None:
        self._faults = faults
        self._settings = settings
        self._clock = clock
        self._lock = threading.Condition(threading.Lock())
        self._log: dict[str, dict[str, Any]] = {}
        self._rng = random.Random(0)
        self._inflight = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._queues: dict[str, asyncio.Queue[_Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._held: dict[str, list[_Job]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # First attempts in flight at once per subscription (1: strictly in change order).
        self.concurrency = 4

    # ------------------------------------------------------------------ thread side

    def set_fault_seed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def submit(
        self,
        subscription: dict[str, Any],
        payload: dict[str, Any],
        *,
        tx_updated_at: str,
        notify: bool = True,
    ) -> dict[str, Any]:
        """Queue one event for one subscription; returns its ground-truth record."""
        faults = self._faults()
        data = payload["data"]
        record: dict[str, Any] = {
            "event_id": payload["id"],
            "subscription_id": subscription["id"],
            "callback_url": subscription["callback_url"],
            "type": payload["type"],
            "event": data.get("event"),
            "transaction_id": data.get("id"),
            # what the event is about: the transaction, or a payment link's id
            "resource_id": data.get("id") or data.get("payment_link_id"),
            "transaction_updated_at": tx_updated_at,
            "transaction_status": data.get("status"),
            "created_at": payload["created_at"],
            "outcome": "pending",
            "attempts": 0,
            "deliveries": 0,
            "statuses": [],
            "duplicated": False,
            "reordered": False,
            "delay_ms": 0,
            "first_sent_at": None,
            "delivered_at": None,
        }
        with self._lock:
            # Always draw the same number of values: the decisions depend only on the seed
            # and on the sequence of events.
            silent, drop, duplicate, reorder, delay = (
                self._rng.random(),
                self._rng.random(),
                self._rng.random(),
                self._rng.random(),
                self._rng.random(),
            )
            self._log[record["event_id"]] = record
            if not notify:
                record["outcome"] = "not_sent"
                return record
            if silent < faults.silent:
                record["outcome"] = "silent"
                return record
            if drop < faults.drop:
                record["outcome"] = "dropped"
                return record
            job = _Job(
                record=record,
                subscription_id=subscription["id"],
                callback_url=subscription["callback_url"],
                secret=subscription["secret"],
                body=json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(),
                duplicate=duplicate < faults.duplicate,
                reorder=reorder < faults.reorder,
                delay=(delay * faults.delay_ms / 1000.0) if faults.delay_ms else 0.0,
            )
            record["duplicated"] = job.duplicate
            record["delay_ms"] = round(job.delay * 1000)
            self._inflight += 1
        loop = self._ensure_started()
        loop.call_soon_threadsafe(self._enqueue, job)
        return record

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None and self._thread is not None and self._thread.is_alive():
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                self._client = httpx.AsyncClient(
                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=16)
                )
                loop.call_soon(ready.set)
                loop.run_forever()

            self._loop = loop
            self._queues = {}
            self._workers = {}
            self._held = {}
            self._thread = threading.Thread(target=run, name="qonto-sim-webhooks", daemon=True)
            self._thread.start()
        ready.wait(5)
        return loop

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event is delivered, given up or dropped."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._inflight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.05))
            return True

    @property
    def inflight(self) -> int:
        with self._lock:
            return self._inflight

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**r, "statuses": list(r["statuses"])} for r in self._log.values()]

    def stats(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {"inflight": self._inflight, "events": len(self._log)}
            for record in self._log.values():
                counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
            return counts

    def reset_log(self) -> None:
        with self._lock:
            self._log = {}

    def close(self, timeout: float = 5.0) -> None:
        """Stop the delivery thread (events still queued are abandoned)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = None
            self._thread = None
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            for task in list(self._tasks) + list(self._workers.values()):
                task.cancel()
            await asyncio.gather(*self._tasks, *self._workers.values(), return_exceptions=True)
            if self._client is not None:
                await self._client.aclose()
            loop.stop()

        if loop.is_running():
            loop.call_soon_threadsafe(lambda: loop.create_task(shutdown()))
            thread.join(timeout)
        with contextlib.suppress(Exception):
            loop.close()
        with self._lock:
            self._inflight = 0
            self._lock.notify_all()

    # ------------------------------------------------------------------ loop side

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _enqueue(self, job: _Job) -> None:
        queue = self._queues.get(job.subscription_id)
        if queue is None:
            queue = asyncio.Queue()
            self._queues[job.subscription_id] = queue
            self._workers[job.subscription_id] = asyncio.get_running_loop().create_task(
                self._worker(job.subscription_id, queue)
            )
        queue.put_nowait(job)

    async def _worker(self, subscription_id: str, queue: asyncio.Queue[_Job]) -> None:
        semaphore = asyncio.Semaphore(max(1, self.concurrency))
        held = self._held.setdefault(subscription_id, [])
        while True:
            job = await queue.get()
            if job.reorder and not held:
                job.record["reordered"] = True
                held.append(job)
                asyncio.get_running_loop().call_later(
                    REORDER_HOLD_SECONDS, self._release_held, subscription_id, semaphore
                )
                continue
            if job.reorder:
                job.record["reordered"] = True
            await self._start(job, semaphore)
            while held:
                await self._start(held.pop(0), semaphore)

    def _release_held(self, subscription_id: str, semaphore: asyncio.Semaphore) -> None:
        held = self._held.get(subscription_id, [])
        while held:
            job = held.pop(0)
            self._spawn(self._start(job, semaphore))

    async def _start(self, job: _Job, semaphore: asyncio.Semaphore) -> None:
        await semaphore.acquire()
        self._spawn(self._run(job, semaphore))

    async def _run(self, job: _Job, semaphore: asyncio.Semaphore) -> None:
        released = False
        try:
            if job.delay > 0:
                semaphore.release()
                released = True
                await asyncio.sleep(job.delay)
            settings = self._settings()
            attempt = 0
            delivered = False
            while attempt < max(1, settings.max_attempts):
                attempt += 1
                delivered = await self._attempt(job)
                if not released:
                    semaphore.release()
                    released = True
                if delivered:
                    break
                if attempt < settings.max_attempts:
                    backoff = min(settings.backoff_max, settings.backoff_base * 2 ** (attempt - 1))
                    await asyncio.sleep(backoff)
            with self._lock:
                job.record["outcome"] = "delivered" if delivered else "failed"
            if delivered and job.duplicate:
                await asyncio.sleep(0.02)
                await self._attempt(job, copy=True)
        except asyncio.CancelledError:
            with self._lock:
                if job.record["outcome"] == "pending":
                    job.record["outcome"] = "abandoned"
            raise
        finally:
            if not released:
                semaphore.release()
            with self._lock:
                self._inflight = max(0, self._inflight - 1)
                self._lock.notify_all()

    async def _attempt(self, job: _Job, *, copy: bool = False) -> bool:
        client = self._client
        assert client is not None
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(job.secret, job.body, timestamp),
        }
        sent_at = format_ts(self._clock.now())
        try:
            response = await client.post(
                job.callback_url,
                content=job.body,
                headers=headers,
                timeout=self._settings().timeout,
            )
            status: str = str(response.status_code)
            ok = 200 <= response.status_code < 300
        except httpx.TimeoutException:
            status, ok = "timeout", False
        except httpx.HTTPError as exc:
            status, ok = type(exc).__name__, False
        with self._lock:
            record = job.record
            record["attempts"] += 1
            record["statuses"].append(status)
            if record["first_sent_at"] is None:
                record["first_sent_at"] = sent_at
            if ok:
                record["deliveries"] += 1
                if record["delivered_at"] is None:
                    record["delivered_at"] = sent_at
        return ok
