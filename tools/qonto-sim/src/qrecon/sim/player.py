"""Apply a scenario to a ``Simulator``: all at once (history) or played in a background
thread at a chosen speed (a business month in about a minute).

Two ways to stamp what is played (``stamp``):

* ``"wall"`` (the default of a live play): ``created_at``/``updated_at`` are the moment the
  change is applied, by ``sim.clock``, as real Qonto stamps them, while ``emitted_at`` and
  ``settled_at`` keep the scenario's business time. A poller watching ``updated_at`` (the
  sync service) sees the played month the way it would see real activity.
* ``"business"``: every timestamp is the scenario's business time, so a played scenario
  exports exactly what the same seed generates when loaded at once (history, tests).

``sim.clock`` is left alone (OAuth tokens keep living in real time during a fast play).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any, Literal

from qrecon.sim.clock import format_ts
from qrecon.sim.scenario import DEFAULT_START, Event, Scenario, bulk_transactions, generate
from qrecon.sim.state import _PARIS, Simulator

BUSINESS_MONTH = timedelta(days=30)
SCENARIO_NAMES = ("company", "empty", "bulk")


def _paris(at: datetime) -> str:
    return at.astimezone(_PARIS).isoformat(timespec="seconds")


Stamp = Literal["wall", "business"]


class ScenarioContext:
    """Binds a scenario's account aliases to the simulator's accounts."""

    def __init__(self, sim: Simulator, scenario: Scenario, stamp: Stamp = "business") -> None:
        self.sim = sim
        self.scenario = scenario
        self.stamp = stamp
        self.accounts: dict[str, str] = {"main": sim.credentials().bank_account_id}
        for alias, spec in scenario.accounts.items():
            if alias == "main":
                continue
            existing = {a["id"] for a in sim.bank_accounts()}
            if spec["id"] not in existing:
                sim.add_bank_account(
                    name=spec["name"],
                    iban=spec["iban"],
                    id=spec["id"],
                    balance_cents=spec.get("balance_cents", 0),
                )
            self.accounts[alias] = spec["id"]

    def apply(self, event: Event, *, notify: bool) -> None:
        sim, payload, at = self.sim, event.payload, event.at
        # Wall stamping: the record changes now; the bank dates stay the business ones.
        record_at = None if self.stamp == "wall" else at
        if event.kind == "tx_create":
            fields = dict(payload["fields"])
            fields["bank_account_id"] = self.accounts[payload["account"]]
            if record_at is None:
                fields.setdefault("emitted_at", format_ts(at))
                if fields.get("status", "completed") == "completed":
                    fields.setdefault("settled_at", format_ts(at))
            tx = sim.add_transaction(notify=notify, at=record_at, **fields)
            sim.set_allocation(tx["id"], payload["allocations"], kind=payload.get("purpose"))
        elif event.kind == "tx_update":
            if payload.get("attach"):
                sim.add_attachment(payload["id"], at=record_at, notify=notify)
            if payload.get("changes"):
                changes = dict(payload["changes"])
                if record_at is None and changes.get("status") == "completed":
                    changes.setdefault("settled_at", format_ts(at))
                sim.update_transaction(payload["id"], notify=notify, at=record_at, **changes)
        elif event.kind == "client_invoice":
            invoice = {k: v for k, v in payload["invoice"].items() if not k.startswith("_")}
            sim.add_client_invoice(
                **invoice,
                created_at=_paris(at),
                finalized_at=_paris(at),
                at=record_at,
                notify=notify,
            )
        elif event.kind == "supplier_invoice":
            invoice = dict(payload["invoice"])
            sim.add_supplier_invoice(**invoice, created_at=_paris(at), updated_at=_paris(at))
        elif event.kind == "invoice_update":
            changes = dict(payload["changes"])
            if "paid_at" in changes:
                changes["paid_at"] = _paris(datetime.fromisoformat(changes["paid_at"]))
            if payload["invoice_kind"] == "client":
                sim.update_client_invoice(payload["invoice_id"], **changes)
            else:
                sim.update_supplier_invoice(payload["invoice_id"], updated_at=_paris(at), **changes)
        elif event.kind == "payment_link":
            sim.create_payment_link(
                payload["invoice_id"], id=payload["id"], at=record_at, notify=notify
            )
        elif event.kind == "payment_link_update":
            sim.update_payment_link(
                payload["id"], status=payload["status"], at=record_at, notify=notify
            )
        else:  # pragma: no cover - generator and player evolve together
            raise ValueError(f"unknown event kind {event.kind!r}")


def build_scenario(
    *,
    name: str = "company",
    seed: int = 0,
    months: int = 1,
    size: str | int = "small",
    start: datetime | None = None,
) -> Scenario:
    if name not in SCENARIO_NAMES:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIO_NAMES)})")
    if name == "bulk":
        raise ValueError("the bulk scenario loads at once (load_scenario), it does not play")
    scenario = generate(seed=seed, months=months, size=size, start=start)
    if name == "empty":
        scenario.events = []
    return scenario


def load_scenario(
    sim: Simulator,
    *,
    name: str = "company",
    seed: int = 0,
    months: int = 1,
    size: str | int = "small",
    start: datetime | None = None,
    webhooks: bool = False,
    reset: bool = True,
) -> dict[str, Any]:
    """Generate and apply a whole scenario now (webhooks only if ``webhooks``)."""
    if sim.player is not None:
        sim.player.stop()
    if reset:
        sim.reset(keep_credentials=True, keep_subscriptions=True, keep_faults=True)
    began = time.monotonic()
    if name == "bulk":
        count = int(size) if str(size).isdigit() else 100_000
        for fields in bulk_transactions(seed=seed, count=count, start=start):
            sim.add_transaction(notify=webhooks, **fields)
        summary_bulk: dict[str, Any] = {
            "name": name,
            "mode": "instant",
            "seed": seed,
            "transactions": sim.transaction_count,
            "seconds": round(time.monotonic() - began, 3),
        }
        sim.scenario_info = summary_bulk
        return summary_bulk
    scenario = build_scenario(name=name, seed=seed, months=months, size=size, start=start)
    context = ScenarioContext(sim, scenario)
    for event in scenario.events:
        context.apply(event, notify=webhooks)
    summary = scenario.summary()
    summary.update(
        name=name,
        mode="instant",
        applied=len(scenario.events),
        transactions=sim.transaction_count,
        seconds=round(time.monotonic() - began, 3),
    )
    sim.scenario_info = summary
    return summary


class Player:
    """Plays a scenario's events in real time scaled by ``speed`` (a background thread)."""

    def __init__(
        self,
        sim: Simulator,
        scenario: Scenario,
        *,
        speed: float,
        history_until: datetime | None = None,
        stamp: Stamp = "wall",
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.sim = sim
        self.scenario = scenario
        self.speed = speed
        self.history_until = history_until
        self.context = ScenarioContext(sim, scenario, stamp)
        # History (before anyone subscribed) is always in business time.
        self.history_context = ScenarioContext(sim, scenario, "business")
        self.applied = 0
        self.errors: list[str] = []
        self.state = "ready"
        self.business_time: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at: float | None = None
        self._finished_at: float | None = None

    def start(self) -> Player:
        self._thread = threading.Thread(target=self._run, name="qonto-sim-player", daemon=True)
        self.state = "playing"
        self._started_at = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        events = self.scenario.events
        base = self.history_until or self.scenario.start
        index = 0
        try:
            while index < len(events) and self.history_until is not None:
                if events[index].at >= self.history_until:
                    break
                self.history_context.apply(events[index], notify=False)
                self.applied += 1
                index += 1
            began = time.monotonic()
            for event in events[index:]:
                target = (event.at - base).total_seconds() / self.speed
                delay = target - (time.monotonic() - began)
                if delay > 0 and self._stop.wait(delay):
                    break
                if self._stop.is_set():
                    break
                try:
                    self.context.apply(event, notify=True)
                except Exception as exc:  # keep playing; report it in the status
                    self.errors.append(f"{event.kind} at {event.at.isoformat()}: {exc}")
                self.applied += 1
                self.business_time = event.at
            self.state = "stopped" if self._stop.is_set() else "done"
        except Exception as exc:  # pragma: no cover - surfaced in the status
            self.errors.append(repr(exc))
            self.state = "failed"
        finally:
            self._finished_at = time.monotonic()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self.state == "playing":
            self.state = "stopped"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the end of the play; ``True`` when it has ended."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def status(self) -> dict[str, Any]:
        total = len(self.scenario.events)
        now = time.monotonic()
        elapsed = (
            ((self._finished_at or now) - self._started_at) if self._started_at is not None else 0.0
        )
        span = (self.scenario.end - (self.history_until or self.scenario.start)).total_seconds()
        return {
            "state": self.state,
            "applied": self.applied,
            "total": total,
            "progress": round(self.applied / total, 4) if total else 1.0,
            "speed": self.speed,
            "month_seconds": round(BUSINESS_MONTH.total_seconds() / self.speed, 3),
            "business_time": format_ts(self.business_time) if self.business_time else None,
            "start": format_ts(self.scenario.start),
            "end": format_ts(self.scenario.end),
            "elapsed_seconds": round(elapsed, 3),
            "expected_seconds": round(span / self.speed, 3),
            "errors": self.errors[-10:],
        }


def start_play(
    sim: Simulator,
    *,
    name: str = "company",
    seed: int = 0,
    months: int = 1,
    size: str | int = "small",
    start: datetime | None = None,
    speed: float | None = None,
    month_seconds: float = 60.0,
    history_months: int = 0,
    reset: bool = True,
    stamp: Stamp = "wall",
) -> Player:
    """Generate a scenario and play it in the background; ``speed`` defaults to a business
    month (30 days) in ``month_seconds``. The first ``history_months`` are applied at once,
    without webhooks (the past before anyone subscribed)."""
    if sim.player is not None:
        sim.player.stop()
    if reset:
        sim.reset(keep_credentials=True, keep_subscriptions=True, keep_faults=True)
    scenario = build_scenario(
        name=name, seed=seed, months=months + history_months, size=size, start=start
    )
    if speed is None:
        speed = BUSINESS_MONTH.total_seconds() / month_seconds
    history_until = None
    if history_months:
        from qrecon.sim.scenario import _add_months

        history_until = _add_months(scenario.start, history_months)
    player = Player(sim, scenario, speed=speed, history_until=history_until, stamp=stamp)
    sim.player = player
    sim.scenario_info = {
        **scenario.summary(),
        "name": name,
        "mode": "play",
        "history_months": history_months,
        "stamp": stamp,
    }
    return player.start()


__all__ = [
    "DEFAULT_START",
    "SCENARIO_NAMES",
    "Player",
    "ScenarioContext",
    "build_scenario",
    "load_scenario",
    "start_play",
]
