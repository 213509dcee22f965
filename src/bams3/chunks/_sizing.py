"""Shard sizing arithmetic: where to cut a BAM into jobs. Pure functions, no I/O.

One rule serves both planners: a shard starts at a candidate boundary and closes at the
first later boundary where it has reached either target (reads or compressed bytes).
The index planner knows every candidate up front (one per 16 kbp window), so
:func:`greedy_cuts` finds all cuts with one ``searchsorted`` per shard. The scan planner
sees candidates (chunk starts) batch by batch while streaming, so :class:`ScanCutter`
applies the same rule incrementally and keeps O(1) state: its memory does not grow with
the BAM.
"""
from __future__ import annotations

import numpy as np

__all__ = ["greedy_cuts", "ScanCutter"]


def greedy_cuts(
    cum_reads: np.ndarray,
    cum_bytes: np.ndarray,
    *,
    max_reads: float | None,
    max_bytes: float | None,
) -> np.ndarray:
    """Indices of the candidate boundaries where shards start.

    Parameters
    ----------
    cum_reads, cum_bytes
        Non-decreasing arrays, one entry per candidate boundary plus a last entry for
        the end: the (estimated) reads and compressed bytes before each boundary.
    max_reads, max_bytes
        The targets (``None``: not a limit). A shard closes at the first boundary where
        it holds at least ``max_reads`` reads or spans at least ``max_bytes`` bytes.

    Returns
    -------
    numpy.ndarray
        Increasing indices into the candidates (not the final end entry), starting with 0.

    Examples
    --------
    Ten windows of 100 reads and 1000 bytes each, shards of about 250 reads:

    >>> reads = np.arange(11) * 100
    >>> greedy_cuts(reads, reads * 10, max_reads=250, max_bytes=None).tolist()
    [0, 3, 6, 9]
    """
    n = len(cum_reads) - 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    starts = [0]
    s = 0
    while True:
        e = n
        if max_reads is not None:
            e = min(e, int(np.searchsorted(cum_reads, cum_reads[s] + max_reads, side="left")))
        if max_bytes is not None:
            e = min(e, int(np.searchsorted(cum_bytes, cum_bytes[s] + max_bytes, side="left")))
        e = max(e, s + 1)
        if e >= n:
            return np.asarray(starts, dtype=np.int64)
        starts.append(e)
        s = e


class ScanCutter:
    """Cut a stream of records into shards at chunk boundaries, as :func:`greedy_cuts` would.

    Feed the virtual offsets (as ``uint64``) of consecutive records with :meth:`feed`;
    it returns the ordinals and offsets of the records where new shards start. A shard
    closes at the first chunk boundary (an ordinal that is a multiple of ``chunk_size``)
    where it holds at least ``max_reads`` records or spans at least ``max_bytes``
    compressed bytes.

    Examples
    --------
    >>> cutter = ScanCutter(chunk_size=2, max_reads=4, max_bytes=None)
    >>> cutter.feed(np.arange(5, dtype=np.uint64) << 16)
    [(4, 262144)]
    >>> cutter.feed(np.arange(5, 10, dtype=np.uint64) << 16)
    [(8, 524288)]
    """

    def __init__(self, *, chunk_size: int, max_reads: int | None, max_bytes: int | None) -> None:
        self.chunk_size = chunk_size
        self.max_reads = max_reads
        self.max_bytes = max_bytes
        self.records = 0  # records fed so far
        self._shard_ordinal = 0  # first record of the open shard
        self._shard_coffset: int | None = None  # its compressed offset (known once fed)

    def feed(self, voffsets: np.ndarray) -> list[tuple[int, int]]:
        """Take the next records' virtual offsets; return ``(ordinal, voffset)`` of each new shard start."""
        n = len(voffsets)
        if n == 0:
            return []
        base = self.records
        self.records += n
        if self._shard_coffset is None:
            self._shard_coffset = int(voffsets[0]) >> 16
        # chunk starts in this batch (ordinals that are multiples of chunk_size)
        first = -(-base // self.chunk_size) * self.chunk_size
        local = np.arange(first - base, n, self.chunk_size, dtype=np.int64)
        if len(local) == 0:
            return []
        coffsets = (voffsets[local] >> np.uint64(16)).astype(np.int64)
        ordinals = local + base
        cuts: list[tuple[int, int]] = []
        while True:
            j = len(local)
            if self.max_reads is not None:
                target = self._shard_ordinal + self.max_reads
                j = min(j, int(np.searchsorted(ordinals, target, side="left")))
            if self.max_bytes is not None:
                j = min(j, int(np.searchsorted(coffsets, self._shard_coffset + self.max_bytes, side="left")))
            # never cut at the shard's own first record
            j = max(j, int(np.searchsorted(ordinals, self._shard_ordinal, side="right")))
            if j >= len(local):
                return cuts
            self._shard_ordinal = int(ordinals[j])
            self._shard_coffset = int(coffsets[j])
            cuts.append((self._shard_ordinal, int(voffsets[local[j]])))
