"""Start, watch and stop the system's processes, each with its log and pid file.

Processes run in their own session (``start_new_session``) so that a signal to the
supervisor does not reach them, and so that ``kill -9`` of one of them (the fault suite
does that) leaves the others running. State lives in files under ``.run/`` so that
``make down`` in another shell finds what ``make up`` started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    health_url: str | None = None  # GET answering 2xx once the process is ready
    ready_timeout: float = 60.0


class ProcessFailed(RuntimeError):
    pass


class Supervisor:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self.pid_dir = run_dir / "pids"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pid_dir.mkdir(parents=True, exist_ok=True)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def pid(self, name: str) -> int | None:
        path = self.pid_dir / f"{name}.pid"
        try:
            pid = int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def running(self, name: str) -> bool:
        return self.pid(name) is not None

    def start(self, spec: ProcessSpec, *, wait: bool = True) -> int:
        existing = self.pid(spec.name)
        if existing is not None:
            return existing
        env = {**os.environ, **spec.env}
        with self.log_path(spec.name).open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - argv built by the project
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        (self.pid_dir / f"{spec.name}.pid").write_text(str(process.pid))
        if wait:
            self.wait_ready(spec, process)
        return process.pid

    def wait_ready(self, spec: ProcessSpec, process: subprocess.Popen[bytes] | None = None) -> None:
        if spec.health_url is None:
            return
        deadline = time.monotonic() + spec.ready_timeout
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise ProcessFailed(
                    f"{spec.name} exited with {process.returncode}; see {self.log_path(spec.name)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(spec.health_url, timeout=1.0).is_success:
                    return
            time.sleep(0.2)
        raise ProcessFailed(
            f"{spec.name} not ready after {spec.ready_timeout:.0f} s;"
            f" see {self.log_path(spec.name)}"
        )

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send a signal and wait until the process is gone (SIGKILL: the fault suite's crash)."""
        pid = self.pid(name)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        _wait_gone(pid, 30.0)

    def stop(self, name: str, timeout: float = 20.0) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL if it does not leave in time."""
        pid = self.pid(name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 10.0)
        (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    with contextlib.suppress(ChildProcessError):
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)
