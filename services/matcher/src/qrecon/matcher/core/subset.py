"""Bounded subset-sum (meet in the middle), deterministic, oldest first on ties."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import combinations

MAX_FOUND = 512  # stop collecting raw solutions past this (many equal amounts)


def _combos(values: list[int], size: int) -> list[tuple[int, tuple[int, ...]]]:
    n = len(values)
    if size == 1:
        return [(values[i], (i,)) for i in range(n)]
    if size == 2:
        return [(values[i] + values[j], (i, j)) for i in range(n) for j in range(i + 1, n)]
    get = values.__getitem__
    return [(sum(map(get, c)), c) for c in combinations(range(n), size)]


def find_subsets(
    values: list[int],
    lo: int,
    hi: int,
    *,
    max_size: int,
    min_size: int = 1,
    limit: int = 8,
    named: int = 0,
) -> list[tuple[int, ...]]:
    """Index tuples of at most ``max_size`` values whose sum lies in ``[lo, hi]``.

    ``values`` are in priority order (oldest first) and may be negative (credit notes).
    Solutions come smallest first, then lexicographically by index, i.e. oldest first;
    solutions with the same multiset of values as an earlier one (interchangeable
    invoices) are dropped, so the oldest of equal invoices is the one kept; the first
    ``named`` values (those the text names) are never interchangeable: a solution with
    other named values is kept. At most ``limit`` solutions are returned.

    Every sorted index tuple S of size s splits uniquely into a head (its first
    ceil(s/2) indices) and a tail (the rest, all greater than the head's last index); heads
    are enumerated, tails looked up by bisection in the sorted sums of small combinations.
    Cost: O(n^ceil(k/2) log n) for n values and k = max_size.
    """
    n = len(values)
    if n == 0 or max_size < 1:
        return []
    max_size = min(max_size, n)
    head_max = (max_size + 1) // 2
    tail_max = max_size // 2
    tails: dict[int, tuple[list[int], list[tuple[int, ...]]]] = {}
    for size in range(1, tail_max + 1):
        combos = _combos(values, size)
        combos.sort()
        tails[size] = ([s for s, _ in combos], [c for _, c in combos])
    found: list[tuple[int, ...]] = []
    for a in range(1, head_max + 1):
        heads = tails.get(a)
        head_items = zip(*heads, strict=True) if heads else iter(_combos(values, a))
        for head_sum, head in head_items:
            last = head[-1]
            for b in (a - 1, a):
                size = a + b
                if b < 0 or size < min_size or size > max_size or b > tail_max:
                    continue
                if b == 0:
                    if lo <= head_sum <= hi:
                        found.append(head)
                    continue
                sums, tail_combos = tails[b]
                start = bisect_left(sums, lo - head_sum)
                stop = bisect_right(sums, hi - head_sum)
                for k in range(start, stop):
                    tail = tail_combos[k]
                    if tail[0] > last:
                        found.append(head + tail)
            if len(found) > MAX_FOUND:
                break
    found.sort(key=lambda c: (len(c), c))
    unique: list[tuple[int, ...]] = []
    seen: set[tuple[tuple[int, int], ...]] = set()
    for combo in found:
        signature = tuple(sorted((values[i], i if i < named else -1) for i in combo))
        if signature in seen:
            continue
        seen.add(signature)
        unique.append(combo)
        if len(unique) >= limit:
            break
    return unique
