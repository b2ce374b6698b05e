"""Qonto's page-number pagination and query encoding.

Every list endpoint takes ``page`` (from 1) and ``per_page`` (1..100) and answers
``{"<resource>": [...], "meta": {current_page, next_page, prev_page, total_pages,
total_count, per_page}}``; ``next_page`` is ``null`` on the last page
(docs.qonto.com/api-reference/using-the-apis/pagination).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from qrecon.common.timeutil import isoformat_z

T = TypeVar("T")

MAX_PER_PAGE = 100

QueryParams = list[tuple[str, str]]


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class PageMeta:
    current_page: int
    next_page: int | None = None
    prev_page: int | None = None
    total_pages: int | None = None
    total_count: int | None = None
    per_page: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any, *, requested_page: int) -> PageMeta:
        """Lenient: a missing or odd ``meta`` means "this page, and no next one"."""
        if not isinstance(raw, Mapping):
            return cls(current_page=requested_page)
        known = {"current_page", "next_page", "prev_page", "total_pages", "total_count"}
        return cls(
            current_page=_int_or_none(raw.get("current_page")) or requested_page,
            next_page=_int_or_none(raw.get("next_page")),
            prev_page=_int_or_none(raw.get("prev_page")),
            total_pages=_int_or_none(raw.get("total_pages")),
            total_count=_int_or_none(raw.get("total_count")),
            per_page=_int_or_none(raw.get("per_page")),
            extra={k: v for k, v in raw.items() if k not in known | {"per_page"}},
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list endpoint: its items and Qonto's ``meta``."""

    items: list[T]
    meta: PageMeta

    @property
    def next_page(self) -> int | None:
        return self.meta.next_page

    def __len__(self) -> int:
        return len(self.items)


def check_per_page(per_page: int) -> int:
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be within 1..{MAX_PER_PAGE}, got {per_page}")
    return per_page


def encode_value(value: Any) -> str:
    """One query value as Qonto wants it (UTC ``…Z`` with milliseconds, lower-case bools)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return isoformat_z(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def encode_params(params: Mapping[str, Any]) -> QueryParams:
    """``None`` values are dropped; sequences repeat the key with Rails' ``[]`` suffix
    (``status=["pending", "completed"]`` -> ``status[]=pending&status[]=completed``)."""
    out: QueryParams = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            out.append((key, encode_value(value)))
            continue
        list_key = key if key.endswith("]") else f"{key}[]"
        out.extend((list_key, encode_value(item)) for item in value)
    return out


__all__ = [
    "MAX_PER_PAGE",
    "Page",
    "PageMeta",
    "QueryParams",
    "check_per_page",
    "encode_params",
    "encode_value",
]
