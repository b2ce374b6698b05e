"""Text and JSON values safe to store and key on: the one place that decides.

PostgreSQL refuses ``\\u0000`` in ``text`` and ``jsonb``, UTF-8 cannot encode a lone
surrogate, and a non-finite number has no JSON spelling; any of them accepted at the edge
becomes a poison message further down. The policy:

* identifiers (:data:`Id`) are refused unless 1 to 255 characters with no control
  character or surrogate: they become keys, headers and primary keys;
* bounded free text annotated with :data:`NO_CONTROL_CHARACTERS` is refused on the same characters;
* free text of a document from outside (a Qonto transaction, an invoice), known field or
  extra, is sanitised by :func:`clean_document`: NUL removed (it carries no meaning and
  refusing it would lose a real bank line), non-finite numbers refused.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

MAX_ID_LENGTH = 255
# C0 and C1 control characters, DEL, and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _no_control_characters(value: str) -> str:
    if _UNSAFE.search(value):
        raise ValueError("control characters are not allowed")
    return value


# Annotate a ``str`` with it (and a length) to refuse control characters.
NO_CONTROL_CHARACTERS = AfterValidator(_no_control_characters)

Id = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH), NO_CONTROL_CHARACTERS
]


def clean_document(value: Any, path: str = "") -> Any:
    """``value`` with NUL removed from every string (keys too); raises ``ValueError`` on a
    non-finite number (``1e999999`` parses as infinity)."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"number out of range at {path or 'the top'}")
        return value
    if isinstance(value, dict):
        return {
            clean_document(k): clean_document(v, f"{path}.{str(k)[:40]}" if path else str(k)[:40])
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [clean_document(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value
