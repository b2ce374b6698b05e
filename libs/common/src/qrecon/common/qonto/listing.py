"""Reading Qonto's lists: one page (``get_page``), every page (``iter_pages``, until
``next_page`` is null; a 422 past the first page is read as the end), every item
(``iter_items``). The page format and query encoding are in ``pagination``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from qrecon.common.logging import get_logger
from qrecon.common.qonto.errors import QontoDecodeError, QontoValidationError
from qrecon.common.qonto.pagination import Page, PageMeta, check_per_page, encode_params
from qrecon.common.qonto.transport import QontoTransport

__all__ = ["ListKey", "QontoLister"]

# The key a list answer holds its items under, or the keys accepted (the documented first).
ListKey = str | tuple[str, ...]

log = get_logger("qrecon.common.qonto.client")  # the name its log lines always had


class QontoLister(QontoTransport):
    """``QontoTransport`` and paged reading of any list endpoint."""

    async def get_page(
        self,
        path: str,
        key: ListKey,
        params: Mapping[str, Any] | None = None,
        *,
        page: int = 1,
        per_page: int = 100,
    ) -> Page[dict[str, Any]]:
        """One page of any list endpoint, raw items (under ``key``, or the first of several
        accepted keys present). An answer holding a list under no expected key is an error,
        not an empty page: reading a renamed key as "nothing" is how a list silently empties."""
        check_per_page(per_page)
        query = encode_params({**(params or {}), "page": page, "per_page": per_page})
        body = await self.request_json("GET", path, params=query)
        if not isinstance(body, dict):
            raise QontoDecodeError("a list answer must be a JSON object", path=path, body=body)
        keys = (key,) if isinstance(key, str) else key
        found = next((k for k in keys if k in body), None)
        items = body.get(found) if found is not None else None
        if items is None:
            unexpected = [k for k, v in body.items() if isinstance(v, list) and k != "errors"]
            if unexpected:
                raise QontoDecodeError(
                    f"expected a list under {keys[0]!r}, got one under {unexpected[0]!r}",
                    path=path,
                    body=body,
                )
            items = []
        if not isinstance(items, list):
            raise QontoDecodeError(f"expected a list under {keys[0]!r}", path=path, body=body)
        return Page(items=items, meta=PageMeta.parse(body.get("meta"), requested_page=page))

    async def iter_pages(
        self,
        path: str,
        key: ListKey,
        params: Mapping[str, Any] | None = None,
        *,
        per_page: int = 100,
    ) -> AsyncIterator[Page[dict[str, Any]]]:
        """Every page in turn, until ``next_page`` is null (or a 422 past the first page)."""
        page_number = 1
        while True:
            try:
                page = await self.get_page(path, key, params, page=page_number, per_page=per_page)
            except QontoValidationError as exc:
                if page_number > 1 and exc.status == 422:
                    log.info("qonto_page_past_end", path=path, page=page_number)
                    return
                raise
            yield page
            next_page = page.meta.next_page
            if next_page is None or next_page <= page_number or not page.items:
                return
            page_number = next_page

    async def iter_items(
        self,
        path: str,
        key: ListKey,
        params: Mapping[str, Any] | None = None,
        *,
        per_page: int = 100,
    ) -> AsyncIterator[dict[str, Any]]:
        async for page in self.iter_pages(path, key, params, per_page=per_page):
            for item in page.items:
                yield item
