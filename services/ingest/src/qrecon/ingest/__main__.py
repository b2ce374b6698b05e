"""``qonto-ingest``: serve the webhook receiver on ``INGEST_HOST``:``INGEST_PORT``.

Runs uvicorn with uvloop and httptools, one process (scale out with replicas: the inbox
and the relay are safe to share). Settings come from the environment (see
:mod:`qrecon.ingest.settings`); ``--host`` / ``--port`` override them.
"""

from __future__ import annotations

import argparse

import uvicorn

from qrecon.common.logging import configure_logging, get_logger
from qrecon.ingest.adapters.http import serve_app
from qrecon.ingest.service import create_app
from qrecon.ingest.settings import IngestSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="qonto-ingest", description="Receive Qonto webhooks, make them durable, publish them."
    )
    parser.add_argument("--host", help="listen address (default: INGEST_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: INGEST_PORT or 8080)")
    args = parser.parse_args(argv)
    settings = IngestSettings()
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    configure_logging(settings.log_level, settings.log_format)
    get_logger("qrecon.ingest").info("ingest_starting", host=settings.host, port=settings.port)
    uvicorn.run(
        serve_app(create_app(settings)),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        backlog=2048,
        timeout_graceful_shutdown=int(settings.drain_timeout_seconds) + 10,
        server_header=False,
    )


if __name__ == "__main__":
    main()
