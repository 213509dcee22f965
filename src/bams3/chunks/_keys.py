"""Coordinate sort keys: the order of records in a coordinate-sorted BAM, as one integer.

A shard planned from an index is a range of *sort keys* ``[first, end)``. The key of a
record packs its reference id and leftmost position the way ``samtools sort`` orders
them (htslib ``bam1_cmp_core``: ``(uint64)tid << 32 | (pos + 1)``): reference id as
an unsigned 32-bit number, so records without a reference (``tid == -1``) sort after
every placed record, then ``pos + 1`` so that a position of -1 sorts first. Comparing
packed integers is what lets a shard job select its records with two numpy
comparisons per batch instead of a Python loop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SortKey", "pack_keys", "UNPLACED"]

_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True, order=False, slots=True)
class SortKey:
    """A place in coordinate order: reference id (``-1`` after every reference) and 0-based position.

    Examples
    --------
    >>> SortKey(0, 100) < SortKey(1, 0) < SortKey(-1, -1)
    True
    >>> SortKey(2, 16384).packed == (2 << 32) + 16385
    True
    """

    ref_id: int
    pos: int

    @property
    def packed(self) -> int:
        """The key as one unsigned 64-bit integer (same value :func:`pack_keys` gives)."""
        return ((self.ref_id & _MASK32) << 32) | ((self.pos + 1) & _MASK32)

    def __lt__(self, other: SortKey) -> bool:
        return self.packed < other.packed

    def __le__(self, other: SortKey) -> bool:
        return self.packed <= other.packed

    def __gt__(self, other: SortKey) -> bool:
        return self.packed > other.packed

    def __ge__(self, other: SortKey) -> bool:
        return self.packed >= other.packed


#: the first key of the unplaced reads (no reference, no position), after every placed read
UNPLACED = SortKey(-1, -1)


def pack_keys(ref_id: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Vectorised :attr:`SortKey.packed` over arrays of reference ids and positions.

    Parameters
    ----------
    ref_id, pos
        Signed 32-bit fields as decoded from BAM records (any integer dtype).

    Returns
    -------
    numpy.ndarray
        ``uint64`` keys, in the order ``samtools sort`` puts the records.
    """
    hi = ref_id.astype(np.int64) & _MASK32
    lo = (pos.astype(np.int64) + 1) & _MASK32
    return ((hi << 32) | lo).astype(np.uint64)
