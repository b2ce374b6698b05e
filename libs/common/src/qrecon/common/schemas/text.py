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


class _NonFinite(ValueError):
    """Where (a dotted path, built on the way up) a non-finite number was found."""


def clean_document(value: Any) -> Any:
    """``value`` with NUL removed from every string (keys too); raises ``ValueError`` on a
    non-finite number (``1e999999`` parses as infinity). On every transaction's path: exact
    type checks and no path kept until an error needs one."""
    try:
        return _clean(value)
    except _NonFinite as exc:
        raise ValueError(f"number out of range at {exc.args[0] or 'the top'}") from None


def _clean(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value.replace("\x00", "") if "\x00" in value else value
    if kind is float:
        if not math.isfinite(value):
            raise _NonFinite("")
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            try:
                cleaned = _clean(item)
            except _NonFinite as exc:
                raise _NonFinite(_where(str(key)[:40], exc)) from None
            out[key.replace("\x00", "") if type(key) is str and "\x00" in key else key] = cleaned
        return out
    if kind is list:
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_clean(item))
            except _NonFinite as exc:
                raise _NonFinite(_where(f"[{index}]", exc)) from None
        return items
    return value


def _where(step: str, inner: _NonFinite) -> str:
    rest = str(inner.args[0])
    return f"{step}.{rest}" if rest and not rest.startswith("[") else step + rest
