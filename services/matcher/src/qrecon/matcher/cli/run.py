"""``qonto-matcher run``: the streaming matcher and its review API (settings from the env).

Consumes ``qonto.transactions.v1`` and ``invoices.v1`` (consumer group ``MATCHER_GROUP_ID``),
keeps its state in PostgreSQL (``DATABASE_URL``), publishes ``reconciliation.matches.v1``
through a transactional outbox, and serves the review API on
``MATCHER_HOST``:``MATCHER_PORT`` (default ``127.0.0.1:8082``), which requires
``MATCHER_API_TOKEN`` (the command refuses to start without it, unless --no-api). Stops
gracefully on SIGTERM or SIGINT. See ``qrecon.matcher.settings.MatcherSettings`` for
every variable. Exits 1 naming any missing topic (they are provisioned by
``qrecon-topics apply``, never auto-created).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from qrecon.common.logging import configure_logging
from qrecon.matcher.bootstrap import serve
from qrecon.matcher.settings import MatcherSettings


def has_token(settings: MatcherSettings) -> bool:
    return settings.api_token is not None and bool(settings.api_token.get_secret_value())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--host", help="HTTP host (overrides MATCHER_HOST)")
    parser.add_argument("--port", type=int, help="HTTP port (overrides MATCHER_PORT)")
    parser.add_argument(
        "--no-api", action="store_true", help="run the consumers only, without the HTTP server"
    )


def main(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    if getattr(args, "no_api", False):
        overrides["api_enabled"] = False
    try:
        settings = MatcherSettings()
    except ValidationError as exc:
        print(f"qonto-matcher run: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    if overrides:
        settings = settings.model_copy(update=overrides)
    if settings.api_enabled and not has_token(settings):
        # No default token: one would open the review API to anyone who read the docs.
        print(
            "qonto-matcher run: MATCHER_API_TOKEN is not set: set it to the bearer token the"
            " review API requires (or run with --no-api)",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level, settings.log_format)
    return asyncio.run(serve(settings))
