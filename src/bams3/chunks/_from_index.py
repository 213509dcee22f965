"""Cut a coordinate-sorted BAM into shards from what its index says. Pure arithmetic, no I/O.

The index reader (:mod:`bams3.bam`) is adapted into one :class:`IndexedReference` per
reference; :func:`shards_from_index` turns them into shards as described in
:mod:`bams3.chunks._plan` ("Two kinds of plans").

Candidate boundaries are the start of each reference (key ``(ref, -1)``, the smallest key
a record of that reference can have) and the start of each window the index gives a
seek offset for (``(ref, window_start)``); the unplaced reads start at key ``(-1, -1)``.
Each candidate's seek offset is at or before the first record with a key at or after
it: the linear index entry, made monotone with a running maximum (writers leave empty
windows as 0) and never before the reference's first record. Each shard's ``stop`` is
the offset of an *anchor*, a record known to have a key at or after the shard's end:
a reference's first record, a leaf bin's first record (every record in a leaf bin
starts inside the bin) or the end of the placed records.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..bam.bgzf import VirtualPosition
from ._keys import UNPLACED, SortKey, pack_keys
from ._plan import Shard, ShardSizing
from ._sizing import greedy_cuts

__all__ = ["IndexedReference", "shards_from_index"]


@dataclass(frozen=True, slots=True)
class IndexedReference:
    """What the planner needs to know about one reference, from its index entry.

    Attributes
    ----------
    ref_id
        Position of the reference in the header.
    n_mapped, n_unmapped
        Records placed on it (pseudo-bin), mapped and unmapped (the unmapped mates
        placed at their mate's position).
    begin, end
        Virtual offsets (as ints) of its first record and just past its last (pseudo-bin).
    window_starts, window_offsets
        0-based start positions of index windows, increasing, and for each the virtual
        offset at or before the first record overlapping it (BAI: the linear index,
        ``window_starts = arange(n) << 14``; CSI: the leaf bins' ``loffset``). A 0 offset
        means "unknown" and is skipped. Some indexers (samtools 0.1.x among them) build
        these from *mapped* records only, which is why placed unmapped records need care.
    leaf_starts, leaf_offsets
        Start positions of non-empty leaf bins, increasing, and the smallest chunk start
        in each (a record that starts inside that bin).
    """

    ref_id: int
    n_mapped: int
    n_unmapped: int
    begin: int
    end: int
    window_starts: np.ndarray
    window_offsets: np.ndarray
    leaf_starts: np.ndarray
    leaf_offsets: np.ndarray

    @property
    def n_reads(self) -> int:
        return self.n_mapped + self.n_unmapped

    def seek_offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """``(window starts, seek offsets)`` of the windows usable as shard boundaries.

        A window's seek offset must be at or before the first record whose key is at or
        after the window's start. The index value is the first record overlapping the
        window, made monotone with a running maximum (writers leave empty windows as 0).
        When the reference has placed unmapped records and the indexer left them out of
        the linear index, one of them may precede that value inside the window, so the
        offset of the last earlier window with a smaller value is used instead (every
        record between the two starts before the window or is such an unmapped mate), as
        htslib does for region queries. Never before the reference's first record.
        """
        starts = np.asarray(self.window_starts, dtype=np.int64)
        raw = np.asarray(self.window_offsets, dtype=np.uint64)
        if len(raw) == 0:
            return starts, raw
        known = raw != 0
        filled = np.maximum.accumulate(np.where(known, raw, np.uint64(0)))
        if self.n_unmapped:
            n = len(filled)
            run_start = np.concatenate(([True], filled[1:] != filled[:-1]))
            first_of_run = np.maximum.accumulate(np.where(run_start, np.arange(n), 0))
            seeks = np.where(first_of_run > 0, filled[np.maximum(first_of_run - 1, 0)], np.uint64(0))
        else:
            seeks = filled
        seeks = np.maximum(seeks, np.uint64(self.begin))
        usable = (starts > 0) & known & (seeks < np.uint64(self.end))
        return starts[usable], seeks[usable]


@dataclass(frozen=True, slots=True)
class _Candidates:
    keys: np.ndarray  # packed sort keys, uint64, increasing
    seeks: np.ndarray  # virtual offsets, uint64, non-decreasing
    cum_reads: np.ndarray  # float64, estimated reads before each candidate (+ end entry)
    whole: np.ndarray  # bool: the candidate starts a reference or the unplaced reads (exact counts)


def shards_from_index(
    references: list[IndexedReference],
    *,
    n_no_coor: int,
    first_record: int,
    bam_size: int,
    sizing: ShardSizing,
) -> tuple[list[Shard], int]:
    """Shards covering every record, and the exact total number of records.

    Parameters
    ----------
    references
        Index entries of the references that hold records, in header order.
    n_no_coor
        Records without a reference (the index's trailing count).
    first_record
        Virtual offset (int) just after the header: where the unplaced reads start when
        no reference holds a record.
    bam_size
        Bytes in the BAM (sizes the last shard).
    sizing
        Shard targets.
    """
    refs = [r for r in references if r.n_reads > 0 and r.end > r.begin]
    total = sum(r.n_reads for r in refs) + n_no_coor
    if total == 0:
        return [], 0
    cand = _candidates(refs, n_no_coor=n_no_coor, first_record=first_record)
    coffsets = (cand.seeks >> np.uint64(16)).astype(np.int64)
    cum_bytes = np.append(coffsets - coffsets[0], bam_size - coffsets[0]).astype(np.float64)
    starts = greedy_cuts(cand.cum_reads, cum_bytes, max_reads=sizing.reads, max_bytes=sizing.bytes)
    anchor_keys, anchor_offsets = _anchors(refs)

    shards = []
    bounds = list(starts) + [len(cand.keys)]
    for s, e in zip(bounds, bounds[1:]):
        first = None if s == 0 else _unpack(int(cand.keys[s]))
        end = None if e == len(cand.keys) else _unpack(int(cand.keys[e]))
        stop = None
        if end is not None:
            i = int(np.searchsorted(anchor_keys, np.uint64(end.packed), side="left"))
            stop = VirtualPosition.from_int(int(anchor_offsets[i]))
        estimate = cand.cum_reads[e] - cand.cum_reads[s]
        exact = bool(cand.whole[s]) and (e == len(cand.keys) or bool(cand.whole[e]))
        shards.append(
            Shard(
                start=VirtualPosition.from_int(int(cand.seeks[s])),
                stop=stop,
                first=first,
                end=end,
                reads=int(round(estimate)) if exact else None,
                estimated_reads=int(round(estimate)),
            )
        )
    return shards, total


def _unpack(packed: int) -> SortKey:
    ref = packed >> 32
    return SortKey(-1 if ref == 0xFFFFFFFF else ref, (packed & 0xFFFFFFFF) - 1)


def _candidates(refs: list[IndexedReference], *, n_no_coor: int, first_record: int) -> _Candidates:
    keys, seeks, cum, whole = [], [], [], []
    before = 0.0
    for ref in refs:
        starts, offsets = ref.seek_offsets()
        ref_keys = pack_keys(np.full(len(starts) + 1, ref.ref_id), np.append(-1, starts))
        ref_seeks = np.append(np.uint64(ref.begin), offsets)
        begin_c, end_c = ref.begin >> 16, ref.end >> 16
        span = end_c - begin_c
        c = (ref_seeks >> np.uint64(16)).astype(np.float64)
        fraction = (c - begin_c) / span if span > 0 else np.zeros(len(c))
        keys.append(ref_keys)
        seeks.append(ref_seeks)
        cum.append(before + ref.n_reads * np.clip(fraction, 0.0, 1.0))
        whole.append(np.arange(len(ref_keys)) == 0)
        before += ref.n_reads
    if n_no_coor:
        unplaced_start = max((r.end for r in refs), default=first_record)
        keys.append(np.array([UNPLACED.packed], dtype=np.uint64))
        seeks.append(np.array([unplaced_start], dtype=np.uint64))
        cum.append(np.array([before]))
        whole.append(np.array([True]))
    cum.append(np.array([before + n_no_coor]))
    return _Candidates(
        keys=np.concatenate(keys),
        seeks=np.concatenate(seeks),
        cum_reads=np.concatenate(cum),
        whole=np.concatenate(whole),
    )


def _anchors(refs: list[IndexedReference]) -> tuple[np.ndarray, np.ndarray]:
    """(packed key, virtual offset) of records known to start at or after each key, sorted by key.

    Offsets are turned into a suffix minimum so that a lookup by key returns the
    earliest record at or after that key among all anchors. The end of the placed records
    anchors the unplaced key whether or not there are unplaced reads.
    """
    if not refs:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64)
    keys, offsets = [], []
    for ref in refs:
        leaf_starts = np.asarray(ref.leaf_starts, dtype=np.int64)
        leaf_offsets = np.asarray(ref.leaf_offsets, dtype=np.uint64)
        # the first leaf bin also holds records at position -1 (htslib files them at 0): the
        # reference's own first record anchors that key instead
        later = leaf_starts > 0
        leaf_starts, leaf_offsets = leaf_starts[later], leaf_offsets[later]
        keys.append(pack_keys(np.full(len(leaf_starts) + 1, ref.ref_id), np.append(-1, leaf_starts)))
        offsets.append(np.append(np.uint64(ref.begin), leaf_offsets))
    keys.append(np.array([UNPLACED.packed], dtype=np.uint64))
    offsets.append(np.array([max(r.end for r in refs)], dtype=np.uint64))
    all_keys = np.concatenate(keys)
    all_offsets = np.concatenate(offsets)
    order = np.argsort(all_keys, kind="stable")
    all_keys, all_offsets = all_keys[order], all_offsets[order]
    suffix_min = np.minimum.accumulate(all_offsets[::-1])[::-1]
    return all_keys, suffix_min
