"""Transactions indexed by (scope, status, sort field), with scope a bank account or a
whole organization, as sorted lists of ``(timestamp, id)``: a page of the common query
(one account or organization, one status or all three, a range on the sort field) is a
slice, without sorting or scanning 100k items per request. Other queries are merged from
the slices, filtered, and cached until the next change."""

from __future__ import annotations

import bisect
import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from qrecon.sim.errors import Unprocessable
from qrecon.sim.shapes import STATUSES

MIN_FILTER_DATE = "2017-01-01T00:00:00.000Z"
FILTER_ONLY_STATUSES = frozenset({"reversed"})

SortField = Literal["settled_at", "updated_at"]


@dataclass
class _Query:
    scope: str
    statuses: tuple[str, ...]
    sort_field: SortField
    descending: bool
    ranges: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    side: str | None = None
    operation_types: tuple[str, ...] = ()
    with_attachments: bool | None = None


def _sort_keys(tx: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        "settled_at": (tx["settled_at"] or "", tx["id"]),
        "updated_at": (tx["updated_at"], tx["id"]),
    }


class TransactionIndex:
    """The sorted index over ``transactions`` (the store's dict of current versions)."""

    def __init__(self, transactions: dict[str, dict[str, Any]]) -> None:
        self._tx = transactions
        self._index: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
        self._mutations = 0
        self._qcache: OrderedDict[Any, tuple[int, list[str]]] = OrderedDict()

    def add(self, tx: dict[str, Any], scopes: Iterable[str]) -> None:
        scope_list = tuple(scopes)
        for sort_field, key in _sort_keys(tx).items():
            for scope in scope_list:
                for status in (tx["status"], "*"):
                    lst = self._index.setdefault((scope, status, sort_field), [])
                    if not lst or lst[-1] < key:
                        lst.append(key)
                    else:
                        bisect.insort(lst, key)

    def remove(self, tx: dict[str, Any], scopes: Iterable[str]) -> None:
        scope_list = tuple(scopes)
        for sort_field, key in _sort_keys(tx).items():
            for scope in scope_list:
                for status in (tx["status"], "*"):
                    lst = self._index[(scope, status, sort_field)]
                    position = bisect.bisect_left(lst, key)
                    if position < len(lst) and lst[position] == key:
                        del lst[position]

    def changed(self) -> None:
        """A transaction was added or changed: cached query results are stale."""
        self._mutations += 1

    def query(
        self,
        scope: str,
        *,
        statuses: Iterable[str],
        sort_by: str,
        ranges: dict[str, tuple[str | None, str | None]],
        side: str | None,
        operation_types: Iterable[str],
        with_attachments: bool | None,
        offset: int,
        limit: int,
    ) -> tuple[list[str], int]:
        """The ids of one page and the total count; validates statuses and ``sort_by``."""
        for status in set(statuses):
            if status not in STATUSES and status not in FILTER_ONLY_STATUSES:
                raise Unprocessable(f"invalid status {status!r}", parameter="status[]")
        # ``reversed`` is a documented filter value; the emulator never produces one.
        status_set = sorted(set(statuses) & set(STATUSES))
        field_name, _, direction = sort_by.partition(":")
        direction = direction or "desc"
        if field_name not in ("settled_at", "updated_at") or direction not in ("asc", "desc"):
            raise Unprocessable(f"invalid sort_by {sort_by!r}", parameter="sort_by")
        query = _Query(
            scope=scope,
            statuses=tuple(status_set) if len(status_set) < len(STATUSES) else ("*",),
            sort_field=field_name,  # type: ignore[arg-type]
            descending=direction == "desc",
            ranges=ranges,
            side=side,
            operation_types=tuple(sorted(set(operation_types))),
            with_attachments=with_attachments,
        )
        return self._run_query(query, offset, limit)

    def _slices(
        self, query: _Query, index_field: str
    ) -> list[tuple[list[tuple[str, str]], int, int]]:
        """The index slices (one per status) matching the range on ``index_field``."""
        frm, to = query.ranges.get(index_field, (None, None))
        if index_field == "settled_at" and (frm is not None or to is not None):
            frm = max(frm or "0", "0")  # a range on settled_at excludes unsettled ones
        slices = []
        for status in query.statuses:
            lst = self._index.get((query.scope, status, index_field), [])
            lo = bisect.bisect_left(lst, (frm, "")) if frm is not None else 0
            hi = bisect.bisect_right(lst, (to, "\uffff")) if to is not None else len(lst)
            slices.append((lst, lo, max(lo, hi)))
        return slices

    def _run_query(self, query: _Query, offset: int, limit: int) -> tuple[list[str], int]:
        slices = self._slices(query, query.sort_field)
        if not slices:
            return [], 0
        # A range on the other indexed field may select far fewer candidates (an
        # incremental sync's updated_at window under the default settled_at sort).
        index_field: str = query.sort_field
        other = "updated_at" if query.sort_field == "settled_at" else "settled_at"
        if other in query.ranges:
            other_slices = self._slices(query, other)
            if sum(hi - lo for _, lo, hi in other_slices) < sum(hi - lo for _, lo, hi in slices):
                slices, index_field = other_slices, other
        predicate = _predicate(query, index_field)
        if len(slices) == 1 and predicate is None and index_field == query.sort_field:
            lst, lo, hi = slices[0]
            total = hi - lo
            if query.descending:
                end = hi - offset
                start = max(lo, end - limit)
                keys = lst[start:end][::-1] if end > lo else []
            else:
                start = lo + offset
                keys = lst[start : min(hi, start + limit)]
            return [k[1] for k in keys], total
        cache_key = (
            query.scope,
            query.statuses,
            query.sort_field,
            query.descending,
            tuple(sorted(query.ranges.items())),
            query.side,
            query.operation_types,
            query.with_attachments,
        )
        cached = self._qcache.get(cache_key)
        if cached is not None and cached[0] == self._mutations:
            ids = cached[1]
            self._qcache.move_to_end(cache_key)
        else:
            merged = heapq.merge(*(lst[lo:hi] for lst, lo, hi in slices))
            if predicate is None:
                ids = [k[1] for k in merged]
            else:
                ids = [k[1] for k in merged if predicate(self._tx[k[1]])]
            if index_field != query.sort_field:
                sort_field = query.sort_field
                ids.sort(key=lambda i: (self._tx[i][sort_field] or "", i))
            if query.descending:
                ids.reverse()
            self._qcache[cache_key] = (self._mutations, ids)
            while len(self._qcache) > 16:
                self._qcache.popitem(last=False)
        return ids[offset : offset + limit], len(ids)


def _predicate(query: _Query, index_field: str) -> Callable[[dict[str, Any]], bool] | None:
    """The filters the index slices did not apply."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for name, (frm, to) in query.ranges.items():
        if name == index_field:
            continue

        def in_range(
            tx: dict[str, Any], name: str = name, frm: str | None = frm, to: str | None = to
        ) -> bool:
            value = tx.get(name)
            return (
                value is not None and (frm is None or value >= frm) and (to is None or value <= to)
            )

        checks.append(in_range)
    if query.side is not None:
        side = query.side
        checks.append(lambda tx: tx["side"] == side)
    if query.operation_types:
        types = frozenset(query.operation_types)
        checks.append(lambda tx: tx["operation_type"] in types)
    if query.with_attachments is not None:
        wanted = query.with_attachments
        checks.append(lambda tx: bool(tx["attachment_ids"]) == wanted)
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda tx: all(check(tx) for check in checks)
