"""In-memory stand-ins used by the sync unit tests (no servers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from qrecon.sync.core.sweep import PageRequest, PageSummary


@dataclass
class Row:
    id: str
    updated_at: datetime
    settled_at: datetime | None = None


@dataclass
class OffsetListApi:
    """Qonto's list semantics: filter by an inclusive range, sort, then slice by offset.

    ``between_pages`` runs before every request: tests mutate the data there, as Qonto
    would while a client pages through it.
    """

    rows: dict[str, Row] = field(default_factory=dict)
    between_pages: Callable[[OffsetListApi], None] | None = None
    requests: int = 0
    lower_exclusive: bool = False

    def add(self, row: Row) -> None:
        self.rows[row.id] = row

    def touch(self, tx_id: str, at: datetime) -> None:
        self.rows[tx_id].updated_at = at

    def query(self, request: PageRequest) -> tuple[list[Row], PageSummary]:
        if self.between_pages is not None:
            self.between_pages(self)
        self.requests += 1
        key = request.field

        def value(row: Row) -> datetime | None:
            return getattr(row, key)  # type: ignore[no-any-return]

        def inside(v: datetime | None) -> bool:
            if v is None:
                return False
            low_ok = v > request.lower if self.lower_exclusive else v >= request.lower
            return low_ok and v <= request.upper

        matching = sorted(
            (r for r in self.rows.values() if inside(value(r))),
            key=lambda r: (value(r), r.id),
        )
        offset = (request.page - 1) * request.per_page
        items = matching[offset : offset + request.per_page]
        summary = PageSummary(
            values=[value(r) for r in items],
            has_next=offset + request.per_page < len(matching),
            total_count=len(matching),
        )
        return [Row(r.id, r.updated_at, r.settled_at) for r in items], summary


def ms(n: int) -> timedelta:
    return timedelta(milliseconds=n)
