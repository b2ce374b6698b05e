"""``qonto-ingest``: serve the webhook receiver on ``INGEST_HOST``:``INGEST_PORT``.

Runs uvicorn with uvloop and httptools. ``INGEST_WORKERS`` (``--workers``) processes
share the listening socket, each with its own PostgreSQL pool, group-committing inbox
writer and relay (the relays claim disjoint batches with ``FOR UPDATE SKIP LOCKED``, as
replicas' do; consumers order a transaction's records by version, never by offset);
uvicorn's supervisor restarts a worker that dies. Scale out further with replicas: the
inbox and the relay are safe to share. Settings come from
the environment (see :mod:`qrecon.ingest.settings`); ``--host`` / ``--port`` /
``--workers`` override them.
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from starlette.types import ASGIApp

from qrecon.common.http_server import bounded, uvicorn_options
from qrecon.common.logging import configure_logging, get_logger
from qrecon.ingest.adapters.http import serve_app
from qrecon.ingest.service import create_app
from qrecon.ingest.settings import IngestSettings


def worker_app() -> ASGIApp:
    """The app of one worker process (uvicorn's factory; settings from the environment)."""
    settings = IngestSettings()
    configure_logging(settings.log_level, settings.log_format)
    return bounded(serve_app(create_app(settings)), settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="qonto-ingest", description="Receive Qonto webhooks, make them durable, publish them."
    )
    parser.add_argument("--host", help="listen address (default: INGEST_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: INGEST_PORT or 8080)")
    parser.add_argument(
        "--workers", type=int, help="worker processes (default: INGEST_WORKERS or 1)"
    )
    args = parser.parse_args(argv)
    # Worker processes read their settings from the environment: overrides go there.
    for name, value in (
        ("INGEST_HOST", args.host),
        ("INGEST_PORT", args.port),
        ("INGEST_WORKERS", args.workers),
    ):
        if value:
            os.environ[name] = str(value)
    settings = IngestSettings()
    configure_logging(settings.log_level, settings.log_format)
    get_logger("qrecon.ingest").info(
        "ingest_starting", host=settings.host, port=settings.port, workers=settings.workers
    )
    # One process serves the app directly; several are started by uvicorn's supervisor
    # from the factory, each building its own app (and pool, writer, relay).
    several = settings.workers > 1
    app: ASGIApp | str = (
        "qrecon.ingest.__main__:worker_app"
        if several
        else bounded(serve_app(create_app(settings)), settings)
    )
    uvicorn.run(
        app,
        factory=several,
        workers=settings.workers if several else None,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        lifespan="on",
        backlog=2048,
        # A worker answers the supervisor's health check only once it has imported the
        # app (seconds on a busy or CPU-capped host): at uvicorn's 5 s default, workers
        # were killed and respawned for ever there.
        timeout_worker_healthcheck=60,
        timeout_graceful_shutdown=int(settings.drain_timeout_seconds) + 10,
        proxy_headers=False,  # nothing in ingest reads the client's address
        **uvicorn_options(settings),  # httptools with header timeout, connection cap, logs
    )


if __name__ == "__main__":
    main()
