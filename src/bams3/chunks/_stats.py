"""Per-chunk statistics, computed over whole batches with numpy (never a Python step per read).

A shard's records arrive as batches whose boundaries have nothing to do with chunk
boundaries. :class:`ChunkAccumulator` numbers the records of the shard, splits each
batch at the chunk boundaries that fall inside it, and reduces every segment in one
pass over the batch's rows in C (``_reduce.c``: counters, positions, references); the
segment that continues a chunk begun in an earlier batch is merged into it. At the
default chunk size the numpy version (some forty array operations and a sort per
batch) cost as much as decoding the records.

The counters kept per chunk are additive (:class:`ChunkStats` rows add up), so the same
numbers summed over every chunk give the whole file's: the 16 ``samtools flagstat``
categories for QC-passed and QC-failed records are among them, which is how the
per-sample summary equals ``samtools flagstat`` exactly.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bam.records import RECORD_DTYPE
from . import _reduce as _creduce

__all__ = [
    "FLAGSTAT_KEYS",
    "MAPQ_BINS",
    "ChunkStats",
    "ChunkAccumulator",
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

# counter columns (the C reducer's layout): flagstat (QC-passed, QC-failed), then MAPQ sum
# and count, bases, histogram
_C_PASS = 0
_C_FAIL = _NF
_C_MAPQ_SUM = 2 * _NF
_C_MAPQ_N = _C_MAPQ_SUM + 1
_C_BASES = _C_MAPQ_SUM + 2
_C_HIST = _C_MAPQ_SUM + 3
_N_COUNTERS = _C_HIST + len(MAPQ_BINS)
if (
    _creduce.CATEGORIES != FLAGSTAT_KEYS
    or (_creduce.COUNTER_MAPQ_SUM, _creduce.COUNTER_MAPQ_N, _creduce.COUNTER_BASES, _creduce.COUNTER_HIST)
    != (_C_MAPQ_SUM, _C_MAPQ_N, _C_BASES, _C_HIST)
    or _creduce.ITEMSIZE != RECORD_DTYPE.itemsize
):
    raise ImportError("bams3.chunks._reduce was built for another counter or row layout: rebuild the extension")


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

    def json_members(self, ref_json: Sequence[str]) -> str:
        """The text ``"stats":{...},"flagstat":{...}`` exactly as compact ``json.dumps`` writes
        :meth:`to_json`'s object (``ref_json``: each reference name as a JSON string).

        Formatting the text directly costs a fifth of building the dicts and serialising
        them, which at the default chunk size cost as much as computing the statistics.
        tests/chunks/test_tables.py checks the two agree.
        """
        c = self.counters.tolist()
        passed, failed = c[_C_PASS : _C_PASS + _NF], c[_C_FAIL : _C_FAIL + _NF]
        both = [p + f for p, f in zip(passed, failed)]
        total, mapped, n_mapq = both[_I_TOTAL], both[_I_MAPPED], c[_C_MAPQ_N]
        average = repr(round(c[_C_MAPQ_SUM] / n_mapq, 4)) if n_mapq else "null"
        if self.first is None or self.last is None:
            positions = '"min":null,"max":null,"max_end":null,"first":null,"last":null'
        else:
            positions = (
                f'"min":{self.pos_min},"max":{self.pos_max},"max_end":{self.end_max},'
                f'"first":{{"ref":{ref_json[self.first[0]]},"pos":{self.first[1]}}},'
                f'"last":{{"ref":{ref_json[self.last[0]]},"pos":{self.last[1]}}}'
            )
        references = ",".join([ref_json[i] for i in self.ref_ids])
        histogram = ",".join([key + str(n) for key, n in zip(_HISTOGRAM_KEYS, c[_C_HIST:])])
        flagstat = ",".join([f"{key}[{p},{f}]" for key, p, f in zip(_FLAGSTAT_JSON_KEYS, passed, failed)])
        return (
            f'"stats":{{"total_reads":{total},"mapped_reads":{mapped},"unmapped_reads":{total - mapped},'
            f'"avg_mapping_quality":{average},"mapq_sum":{c[_C_MAPQ_SUM]},"mapq_count":{n_mapq},'
            f'"position_range":{{{positions}}},"references":[{references}],"primary_reads":{both[_I_PRIMARY]},'
            f'"secondary_reads":{both[_I_SECONDARY]},"supplementary_reads":{both[_I_SUPPLEMENTARY]},'
            f'"duplicate_reads":{both[_I_DUPLICATES]},"qc_failed_reads":{failed[_I_TOTAL]},'
            f'"paired_reads":{both[_I_PAIRED]},"properly_paired_reads":{both[_I_PROPER]},"total_bases":{c[_C_BASES]},'
            f'"mapq_histogram":{{{histogram}}}}},"flagstat":{{{flagstat}}}'
        )


#: JSON keys with their colon, for :meth:`ChunkStats.json_members`
_HISTOGRAM_KEYS = tuple(f"{json.dumps(label)}:" for label, _, _ in MAPQ_BINS)
_FLAGSTAT_JSON_KEYS = tuple(f"{json.dumps(key)}:" for key in FLAGSTAT_KEYS)


_I_TOTAL, _I_MAPPED, _I_PRIMARY, _I_SECONDARY, _I_SUPPLEMENTARY, _I_DUPLICATES, _I_PAIRED, _I_PROPER = (
    _F[key]
    for key in ("total", "mapped", "primary", "secondary", "supplementary", "duplicates", "paired in sequencing",
                "properly paired")
)


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


def _reduce(rows: np.ndarray, starts: np.ndarray) -> list[ChunkStats]:
    """Statistics of each segment ``rows[starts[i]:starts[i+1]]`` (last one to the end)."""
    if rows.dtype != RECORD_DTYPE or not rows.flags.c_contiguous:
        rows = np.ascontiguousarray(rows).astype(RECORD_DTYPE)  # np.concatenate drops the row padding
    n_seg = len(starts)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    counters = np.empty((n_seg, _N_COUNTERS), dtype=np.int64)
    positions = np.empty((n_seg, _creduce.N_POSITIONS), dtype=np.int64)
    refs = np.empty(len(rows), dtype=np.int64)
    n_refs = _creduce.reduce_segments(rows, starts, _MAPQ_BIN_OF, counters, positions, refs)
    # references of each segment: the unique (segment << 32 | ref_id) pairs, in order
    pairs = np.unique(refs[:n_refs])
    refs_by_seg = np.split(pairs & 0xFFFFFFFF, np.searchsorted(pairs >> 32, np.arange(1, n_seg)))
    voffsets = rows["voffset"][starts].tolist()
    ref_id, pos = rows["ref_id"], rows["pos"]
    out = []
    for k, (pos_min, pos_max, end_max, first_i, last_i) in enumerate(positions.tolist()):
        has = pos_max >= 0
        out.append(
            ChunkStats(
                counters=counters[k],
                pos_min=pos_min if has else None,
                pos_max=pos_max if has else None,
                end_max=end_max if has else None,
                first=(int(ref_id[first_i]), int(pos[first_i])) if has else None,
                last=(int(ref_id[last_i]), int(pos[last_i])) if has else None,
                ref_ids=tuple(refs_by_seg[k].tolist()),
                first_voffset=voffsets[k],
            )
        )
    return out
