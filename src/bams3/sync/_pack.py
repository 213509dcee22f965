"""First-fit-decreasing bin packing: split a sync into batches under a byte limit.

Why FFD: it is simple, deterministic (the same tree always gives the same plan, so a
re-planned workflow lines up with the batches it already ran) and provably close to the
optimum: FFD never uses more than ``11/9 * OPT + 6/9`` bins (Dósa, 2007).

An object larger than the limit cannot share a batch with anything: it gets a batch of
its own, closed to every other object (a zero-byte file included), so that "no batch over
the limit unless it holds a single oversized object" holds exactly.

Plain first fit scans every open bin for every item (``O(n * bins)``); a tree of bins
keyed by their largest remaining capacity finds the leftmost bin that fits in
``O(log n)``, so planning a million-object prefix takes seconds, not hours.
"""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["first_fit_decreasing"]

#: remaining capacity of a bin that must not receive anything else (an oversized object)
_CLOSED = -1


class _MaxTree:
    """Leftmost-fit search over bin capacities: a segment tree of maxima.

    Leaves are bins in creation order; a leaf not yet opened holds the full limit, so
    the leftmost leaf that fits is either an open bin (first fit) or the next new bin.
    """

    def __init__(self, n_leaves: int, initial: int) -> None:
        size = 1
        while size < max(n_leaves, 1):
            size *= 2
        self._size = size
        self._tree = [initial] * (2 * size)

    def leftmost_at_least(self, need: int) -> int:
        """Index of the leftmost leaf whose value is ``>= need`` (the caller guarantees one)."""
        node = 1
        while node < self._size:
            node = 2 * node if self._tree[2 * node] >= need else 2 * node + 1
        return node - self._size

    def set(self, leaf: int, value: int) -> None:
        node = leaf + self._size
        self._tree[node] = value
        node //= 2
        while node:
            self._tree[node] = max(self._tree[2 * node], self._tree[2 * node + 1])
            node //= 2


def first_fit_decreasing(sizes: Sequence[int], limit: int) -> list[list[int]]:
    """Pack items into as few bins of capacity ``limit`` as FFD finds.

    Parameters
    ----------
    sizes
        Byte size of each item (``>= 0``).
    limit
        Capacity of a bin in bytes (``> 0``).

    Returns
    -------
    list of list of int
        Bins in creation order (the first holds the largest item), each a list of
        indices into ``sizes`` in decreasing size. Every index appears exactly once.
        Ties between equal sizes keep input order, so the result is deterministic.

    Raises
    ------
    ValueError
        For a non-positive limit or a negative size.

    Examples
    --------
    >>> first_fit_decreasing([4, 8, 1, 4, 2, 1], 10)
    [[1, 4], [0, 3, 2, 5]]
    >>> first_fit_decreasing([25, 3], 10)  # the oversized item travels alone
    [[0], [1]]
    """
    if limit <= 0:
        raise ValueError(f"batch limit must be positive, got {limit}")
    if any(size < 0 for size in sizes):
        raise ValueError("item sizes must not be negative")
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))
    tree = _MaxTree(len(sizes), limit)
    bins: list[list[int]] = []
    remaining: list[int] = []
    for index in order:
        size = sizes[index]
        if size > limit:
            bins.append([index])
            remaining.append(_CLOSED)
            tree.set(len(bins) - 1, _CLOSED)
            continue
        leaf = tree.leftmost_at_least(size)
        if leaf == len(bins):
            bins.append([])
            remaining.append(limit)
        bins[leaf].append(index)
        remaining[leaf] -= size
        tree.set(leaf, remaining[leaf])
    return bins
