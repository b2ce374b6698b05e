"""Process plumbing of ``qonto-matcher run``: the listening socket, uvicorn without its own
signal handlers, and the supervised periodic loops. The wiring is in
:mod:`qrecon.matcher.bootstrap`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn

from qrecon.common.logging import get_logger
from qrecon.matcher.adapters.kafka import TRANSIENT

log = get_logger(__name__)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP
    # (without it each keep-alive response waited ~40 ms for the client's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the runtime owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def every(seconds: float, step: Callable[[], Awaitable[Any]], name: str) -> None:
    """Run ``step`` every ``seconds`` until cancelled; a failure is logged, never fatal."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except TRANSIENT as exc:
            log.warning("matcher_loop_transient", step=name, error=str(exc))
        except Exception:
            log.error("matcher_loop_failed", step=name, exc_info=True)
