"""Structured logs (structlog): one JSON object per line, or readable lines in a terminal.

Every line carries ``level``, ``timestamp`` and ``logger``, whoever logs it: structlog's
own loggers and the stdlib loggers of the libraries (uvicorn, aiokafka, faststream,
asyncpg, httpx) all end in one root handler whose ``ProcessorFormatter`` renders them
alike; an exception is an ``exception`` field of its line, never a bare traceback.

Secrets never reach a log line: values are ``SecretStr`` in settings, and this processor
also masks any field whose name looks secret, and Authorization-like values.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.typing import Processor

_SECRET_KEY = re.compile(r"(secret|password|token|api_key|authorization|signature)", re.I)
_DSN_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")
# Libraries that install a handler of their own (and stop propagating) on import.
_LIBRARY_LOGGERS = ("faststream", "uvicorn", "uvicorn.error", "uvicorn.access")


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if _SECRET_KEY.search(key) and value is not None:
            event_dict[key] = "***"
        elif isinstance(value, str) and "://" in value:
            event_dict[key] = _DSN_PASSWORD.sub(r"\1***\3", value)
    return event_dict


def _shared_processors() -> list[Processor]:
    """What every line gets, from structlog or from a stdlib logger."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]


def formatter(fmt: str = "json") -> structlog.stdlib.ProcessorFormatter:
    """The formatter of the root handler (also usable on any other handler)."""
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # the traceback as the `exception` field
            renderer,
        ],
    )


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and every stdlib logger to one stderr handler (idempotent)."""
    numeric = logging.getLevelName(level.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for old in list(library.handlers):
            library.removeHandler(old)
        library.propagate = True
    logging.captureWarnings(True)  # warnings become log lines too
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
