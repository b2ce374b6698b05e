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

from qrecon.common.logging import configure_logging, get_logger
from qrecon.ingest import bootstrap
from qrecon.ingest.settings import IngestSettings


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
    bootstrap.serve(settings)


if __name__ == "__main__":
    main()
