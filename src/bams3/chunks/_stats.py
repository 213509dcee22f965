"""Per-chunk statistics, computed over whole batches with numpy (never a Python step per read).

A shard's records arrive as batches whose boundaries have nothing to do with chunk
boundaries. :class:`ChunkAccumulator` numbers the records of the shard, splits each
batch at the chunk boundaries that fall inside it, and reduces every segment at once
with ``np.add.reduceat`` (counts), ``np.minimum.reduceat`` / ``np.maximum.reduceat``
(positions); the segment that continues a chunk begun in an earlier batch is merged
into it. The per-record work is a fixed number of vectorised operations over the
batch's columns.

The counters kept per chunk are additive (:class:`ChunkStats` rows add up), so the same
numbers summed over every chunk give the whole file's: the 16 ``samtools flagstat``
categories for QC-passed and QC-failed records are among them, which is how the
per-sample summary equals ``samtools flagstat`` exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bam import _layout as L

__all__ = [
    "FLAGSTAT_KEYS",
    "MAPQ_BINS",
    "ChunkStats",
    "ChunkAccumulator",
    "flagstat_categories",
]

#: the categories of ``samtools flagstat`` (bam_stat.c), in its output order and with its JSON names
FLAGSTAT_KEYS: tuple[str, ...] = (
    "total",
    "primary",
    "secondary",
    "supplementary",
    "duplicates",
    "primary duplicates",
    "mapped",
    "primary mapped",
    "paired in sequencing",
    "read1",
    "read2",
    "properly paired",
    "with itself and mate mapped",
    "singletons",
    "with mate mapped to a different chr",
    "with mate mapped to a different chr (mapQ >= 5)",
)
_NF = len(FLAGSTAT_KEYS)
_F = {key: i for i, key in enumerate(FLAGSTAT_KEYS)}

#: MAPQ histogram of mapped records: bin label -> [low, high] inclusive. MAPQ 0 (multi-mapped)
#: and 255 (unavailable, SAMv1) get bins of their own; the rest in tens up to 60 (BWA's maximum).
MAPQ_BINS: tuple[tuple[str, int, int], ...] = (
    ("0", 0, 0),
    ("1-9", 1, 9),
    ("10-19", 10, 19),
    ("20-29", 20, 29),
    ("30-39", 30, 39),
    ("40-49", 40, 49),
    ("50-59", 50, 59),
    ("60-254", 60, 254),
    ("255", 255, 255),
)
_MAPQ_BIN_OF = np.zeros(256, dtype=np.int64)
for _i, (_label, _lo, _hi) in enumerate(MAPQ_BINS):
    _MAPQ_BIN_OF[_lo : _hi + 1] = _i
_MAPQ_UNAVAILABLE = 255

# counter columns: flagstat (QC-passed, QC-failed), then MAPQ sum and count, bases, histogram
_C_PASS = 0
_C_FAIL = _NF
_C_MAPQ_SUM = 2 * _NF
_C_MAPQ_N = _C_MAPQ_SUM + 1
_C_BASES = _C_MAPQ_SUM + 2
_C_HIST = _C_MAPQ_SUM + 3
_N_COUNTERS = _C_HIST + len(MAPQ_BINS)

_NO_POS = np.iinfo(np.int64).max


def flagstat_categories(flag: np.ndarray, mapq: np.ndarray, ref_id: np.ndarray, next_ref_id: np.ndarray) -> np.ndarray:
    """Which ``samtools flagstat`` categories each record counts in, as an ``(n, 16)`` bool matrix.

    Follows ``flagstat_loop`` in samtools' ``bam_stat.c`` (1.16): secondary and
    supplementary records count only in total, secondary/supplementary, mapped and
    duplicates; the pair categories apply to primary records with the paired flag;
    "different chr" compares ``next_ref_id`` with ``ref_id``. The QC-fail flag is not a
    category: callers split the rows by it.
    """
    flag = flag.astype(np.uint16, copy=False)
    n = len(flag)
    out = np.zeros((n, _NF), dtype=bool)
    secondary = (flag & L.FLAG_SECONDARY) != 0
    supplementary = ~secondary & ((flag & L.FLAG_SUPPLEMENTARY) != 0)
    primary = ~secondary & ~supplementary
    mapped = (flag & L.FLAG_UNMAPPED) == 0
    duplicate = (flag & L.FLAG_DUPLICATE) != 0
    paired = primary & ((flag & L.FLAG_PAIRED) != 0)
    mate_mapped = (flag & L.FLAG_MATE_UNMAPPED) == 0
    both_mapped = paired & mapped & mate_mapped
    diff_chr = both_mapped & (next_ref_id != ref_id)
    out[:, _F["total"]] = True
    out[:, _F["primary"]] = primary
    out[:, _F["secondary"]] = secondary
    out[:, _F["supplementary"]] = supplementary
    out[:, _F["duplicates"]] = duplicate
    out[:, _F["primary duplicates"]] = primary & duplicate
    out[:, _F["mapped"]] = mapped
    out[:, _F["primary mapped"]] = primary & mapped
    out[:, _F["paired in sequencing"]] = paired
    out[:, _F["read1"]] = paired & ((flag & L.FLAG_READ1) != 0)
    out[:, _F["read2"]] = paired & ((flag & L.FLAG_READ2) != 0)
    out[:, _F["properly paired"]] = paired & mapped & ((flag & L.FLAG_PROPER_PAIR) != 0)
    out[:, _F["with itself and mate mapped"]] = both_mapped
    out[:, _F["singletons"]] = paired & mapped & ~mate_mapped
    out[:, _F["with mate mapped to a different chr"]] = diff_chr
    out[:, _F["with mate mapped to a different chr (mapQ >= 5)"]] = diff_chr & (mapq >= 5)
    return out


@dataclass(frozen=True, slots=True)
class ChunkStats:
    """The statistics of one chunk (or of several, added up).

    Attributes
    ----------
    counters
        ``int64`` vector: flagstat QC-passed (16), QC-failed (16), MAPQ sum and count
        over mapped records with a MAPQ (not 255), bases of primary records, MAPQ
        histogram of mapped records (:data:`MAPQ_BINS`).
    pos_min, pos_max, end_max
        0-based leftmost position range and largest alignment end (exclusive) over
        records with a reference and a position; ``None`` if there is none.
    first, last
        ``(ref_id, pos)`` of the first and last such record in file order.
    ref_ids
        References of the records (sorted ids, unplaced records not included).
    first_voffset
        Virtual offset (int) of the chunk's first record.
    """

    counters: np.ndarray
    pos_min: int | None
    pos_max: int | None
    end_max: int | None
    first: tuple[int, int] | None
    last: tuple[int, int] | None
    ref_ids: tuple[int, ...]
    first_voffset: int

    @property
    def total_reads(self) -> int:
        return int(self.counters[_C_PASS + _F["total"]] + self.counters[_C_FAIL + _F["total"]])

    def flagstat(self) -> tuple[np.ndarray, np.ndarray]:
        """The 16 flagstat counters for QC-passed and for QC-failed records."""
        return self.counters[_C_PASS : _C_PASS + _NF], self.counters[_C_FAIL : _C_FAIL + _NF]

    def merge(self, later: ChunkStats) -> ChunkStats:
        """These records followed by ``later``'s (the order decides ``first``/``last``)."""
        return ChunkStats(
            counters=self.counters + later.counters,
            pos_min=_opt(min, self.pos_min, later.pos_min),
            pos_max=_opt(max, self.pos_max, later.pos_max),
            end_max=_opt(max, self.end_max, later.end_max),
            first=self.first if self.first is not None else later.first,
            last=later.last if later.last is not None else self.last,
            ref_ids=tuple(sorted(set(self.ref_ids) | set(later.ref_ids))),
            first_voffset=self.first_voffset,
        )

    def to_json(self, references: tuple[tuple[str, int], ...]) -> dict[str, Any]:
        """The ``stats`` and ``flagstat`` members of a chunk's JSON object."""
        c = [int(x) for x in self.counters]
        passed, failed = c[_C_PASS : _C_PASS + _NF], c[_C_FAIL : _C_FAIL + _NF]
        both = [p + f for p, f in zip(passed, failed)]
        mapped = both[_F["mapped"]]
        total = both[_F["total"]]

        def where(key: tuple[int, int] | None) -> dict[str, Any] | None:
            return None if key is None else {"ref": references[key[0]][0], "pos": key[1]}

        stats = {
            "total_reads": total,
            "mapped_reads": mapped,
            "unmapped_reads": total - mapped,
            "avg_mapping_quality": round(c[_C_MAPQ_SUM] / c[_C_MAPQ_N], 4) if c[_C_MAPQ_N] else None,
            "mapq_sum": c[_C_MAPQ_SUM],
            "mapq_count": c[_C_MAPQ_N],
            "position_range": {
                "min": self.pos_min,
                "max": self.pos_max,
                "max_end": self.end_max,
                "first": where(self.first),
                "last": where(self.last),
            },
            "references": [references[i][0] for i in self.ref_ids],
            "primary_reads": both[_F["primary"]],
            "secondary_reads": both[_F["secondary"]],
            "supplementary_reads": both[_F["supplementary"]],
            "duplicate_reads": both[_F["duplicates"]],
            "qc_failed_reads": failed[_F["total"]],
            "paired_reads": both[_F["paired in sequencing"]],
            "properly_paired_reads": both[_F["properly paired"]],
            "total_bases": c[_C_BASES],
            "mapq_histogram": {label: c[_C_HIST + i] for i, (label, _, _) in enumerate(MAPQ_BINS)},
        }
        flagstat = {key: [passed[i], failed[i]] for i, key in enumerate(FLAGSTAT_KEYS)}
        return {"stats": stats, "flagstat": flagstat}


def _opt(pick: Any, a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)


class ChunkAccumulator:
    """Turn a shard's records, batch by batch, into per-chunk statistics.

    Parameters
    ----------
    chunk_size
        Records per chunk; the shard's first record starts a chunk.

    Feed :meth:`add` the record rows (``RECORD_DTYPE``, in file order, only the shard's
    records); it returns the chunks completed so far. :meth:`finish` returns the last,
    shorter chunk if one is open.
    """

    def __init__(self, *, chunk_size: int) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.chunk_size = chunk_size
        self.records = 0
        self._open: ChunkStats | None = None

    def add(self, rows: np.ndarray) -> list[ChunkStats]:
        """Account for ``rows``; return the chunks they complete, in order."""
        n = len(rows)
        if n == 0:
            return []
        cs = self.chunk_size
        offset = self.records % cs  # records already in the open chunk
        # segment starts: 0, then every chunk boundary inside the batch
        first_boundary = (cs - offset) % cs
        starts = np.arange(first_boundary, n, cs, dtype=np.int64)
        if len(starts) == 0 or starts[0] != 0:
            starts = np.concatenate(([0], starts))
        segments = _reduce(rows, starts)
        self.records += n
        done: list[ChunkStats] = []
        for k, seg in enumerate(segments):
            if k == 0 and self._open is not None:  # the batch continues the open chunk
                seg = self._open.merge(seg)
            self._open = seg
            is_last = k == len(segments) - 1
            if not is_last or self.records % cs == 0:
                done.append(seg)
                self._open = None
        return done

    def finish(self) -> list[ChunkStats]:
        """The open (shorter) chunk, if any; the accumulator is then empty."""
        last, self._open = self._open, None
        return [] if last is None else [last]


#: a record's flagstat categories and MAPQ bin depend only on these 18 bits: the 12 FLAG bits,
#: "mate on another reference", "MAPQ >= 5" and the MAPQ histogram bin
_KEY_MATE_OTHER_REF = 1 << 12
_KEY_MAPQ5 = 1 << 13
_KEY_BIN_SHIFT = 14
_KEY_BITS = 18


def _flag_counters(rows: np.ndarray, seg_of: np.ndarray, n_seg: int) -> np.ndarray:
    """Per segment: flagstat counters (QC-passed, QC-failed) then the MAPQ histogram.

    Records are reduced to an 18-bit key, and ``np.unique`` over ``(segment, key)`` counts
    the few distinct keys of each segment (tens, for thousands of records); the
    categories are then evaluated once per distinct key and weighted by its count. This
    is several times cheaper than building a category matrix row by row.
    """
    flag = rows["flag"].astype(np.int64) & 0xFFF
    key = flag | np.where(rows["ref_id"] != rows["next_ref_id"], _KEY_MATE_OTHER_REF, 0)
    key |= np.where(rows["mapq"] >= 5, _KEY_MAPQ5, 0) | (_MAPQ_BIN_OF[rows["mapq"]] << _KEY_BIN_SHIFT)
    unique, counts = np.unique((seg_of.astype(np.int64) << _KEY_BITS) | key, return_counts=True)
    seg, key = unique >> _KEY_BITS, unique & ((1 << _KEY_BITS) - 1)
    u_flag = key & 0xFFF
    cats = flagstat_categories(
        u_flag, np.where(key & _KEY_MAPQ5, 5, 0), np.zeros(len(key), np.int32), (key & _KEY_MATE_OTHER_REF) >> 12
    )
    qcfail = (u_flag & L.FLAG_QC_FAIL) != 0
    mapped = (u_flag & L.FLAG_UNMAPPED) == 0
    weighted = np.zeros((len(key), 2 * _NF + len(MAPQ_BINS)), dtype=np.int64)
    weighted[:, :_NF] = cats & ~qcfail[:, None]
    weighted[:, _NF : 2 * _NF] = cats & qcfail[:, None]
    weighted[np.flatnonzero(mapped), 2 * _NF + (key[mapped] >> _KEY_BIN_SHIFT)] = 1
    weighted *= counts[:, None]
    return np.add.reduceat(weighted, np.searchsorted(seg, np.arange(n_seg)), axis=0)


def _reduce(rows: np.ndarray, starts: np.ndarray) -> list[ChunkStats]:
    """Statistics of each segment ``rows[starts[i]:starts[i+1]]`` (last one to the end)."""
    n = len(rows)
    flag = rows["flag"]
    mapq = rows["mapq"]
    ref_id = rows["ref_id"].astype(np.int64)
    pos = rows["pos"].astype(np.int64)

    seg_of = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
    by_key = _flag_counters(rows, seg_of, len(starts))
    counters = np.zeros((len(starts), _N_COUNTERS), dtype=np.int64)
    counters[:, _C_PASS : _C_FAIL + _NF] = by_key[:, : 2 * _NF]
    counters[:, _C_HIST:] = by_key[:, 2 * _NF :]
    mapped = (flag & L.FLAG_UNMAPPED) == 0
    with_mapq = mapped & (mapq != _MAPQ_UNAVAILABLE)
    counters[:, _C_MAPQ_SUM] = np.add.reduceat(np.where(with_mapq, mapq, 0).astype(np.int64), starts)
    counters[:, _C_MAPQ_N] = np.add.reduceat(with_mapq.astype(np.int64), starts)
    primary = (flag & (L.FLAG_SECONDARY | L.FLAG_SUPPLEMENTARY)) == 0
    counters[:, _C_BASES] = np.add.reduceat(np.where(primary, rows["l_seq"], 0).astype(np.int64), starts)

    placed = (ref_id >= 0) & (pos >= 0)
    pos_min = np.minimum.reduceat(np.where(placed, pos, _NO_POS), starts)
    pos_max = np.maximum.reduceat(np.where(placed, pos, -1), starts)
    end_max = np.maximum.reduceat(np.where(placed, rows["end"].astype(np.int64), -1), starts)
    index = np.arange(n, dtype=np.int64)
    first_i = np.minimum.reduceat(np.where(placed, index, _NO_POS), starts)
    last_i = np.maximum.reduceat(np.where(placed, index, -1), starts)

    # references of each segment: unique (segment, ref_id) pairs of placed records
    pairs = np.unique(seg_of[ref_id >= 0] * (1 << 32) + ref_id[ref_id >= 0])
    pair_seg, pair_ref = pairs >> 32, pairs & 0xFFFFFFFF
    cuts = np.searchsorted(pair_seg, np.arange(1, len(starts)))
    refs_by_seg = np.split(pair_ref, cuts)

    voffsets = rows["voffset"][starts]
    out = []
    for k in range(len(starts)):
        has = pos_max[k] >= 0
        fi, li = int(first_i[k]), int(last_i[k])
        out.append(
            ChunkStats(
                counters=counters[k],
                pos_min=int(pos_min[k]) if has else None,
                pos_max=int(pos_max[k]) if has else None,
                end_max=int(end_max[k]) if has else None,
                first=(int(ref_id[fi]), int(pos[fi])) if has else None,
                last=(int(ref_id[li]), int(pos[li])) if has else None,
                ref_ids=tuple(int(r) for r in refs_by_seg[k]),
                first_voffset=int(voffsets[k]),
            )
        )
    return out
