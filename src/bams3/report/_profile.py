"""Along-the-genome profiles from per-chunk statistics.

A chunk is ``chunk_size`` consecutive reads; where reads are dense its genomic span is
short, where they are sparse it is long. Spreading each chunk's counts evenly over its span
and adding them up in fixed genomic windows therefore gives the read density (and the
MAPQ sums) along every reference, at a resolution that adapts to the data: windows can be
smaller than a chunk without showing gaps, because a chunk spanning several windows gives
each its share. The sums are exact integrals of those piecewise-constant densities
(computed with sorted interval end points and cumulative sums, no Python step per chunk),
so the windows of a reference add up to the reads of the chunks placed on it.

A chunk whose first and last reads lie on different references (the one chunk at each
reference boundary of a sorted BAM) is split between the two in proportion to the spans
it covers on each. Chunks without any placed read (unmapped reads at the end of a BAM) are
counted as unplaced.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ChunkColumns", "GenomeProfile", "genome_profile", "choose_window", "CHUNK_COLUMNS"]

#: the columns of chunk_stats.parquet a profile needs
CHUNK_COLUMNS = ("total_reads", "mapq_sum", "mapq_count", "pos_min", "pos_max", "first_ref", "first_pos",
                 "last_ref", "last_pos")

#: how the window count follows the chunk count: about one window per chunk, within these bounds
MIN_WINDOWS = 100
MAX_WINDOWS = 2000

#: quantities summed per window, in this order
_SUMS = ("reads", "mapq_sum", "mapq_count")


@dataclass(frozen=True)
class ChunkColumns:
    """The per-chunk columns a profile reads (one entry per chunk, in file order).

    Positions are 0-based; ``first_ref``/``last_ref`` are reference names or ``None``
    when the chunk has no read with a position.
    """

    total_reads: np.ndarray
    mapq_sum: np.ndarray
    mapq_count: np.ndarray
    pos_min: np.ndarray
    pos_max: np.ndarray
    first_ref: np.ndarray
    first_pos: np.ndarray
    last_ref: np.ndarray
    last_pos: np.ndarray

    @classmethod
    def from_mapping(cls, columns: Mapping[str, Sequence[object]]) -> ChunkColumns:
        """From ``{column: values}`` (a Parquet table's ``to_pydict()``, or lists in tests)."""
        numeric = {name: np.asarray([-1 if v is None else v for v in columns[name]], dtype=np.float64)
                   for name in CHUNK_COLUMNS if name not in ("first_ref", "last_ref")}
        names = {name: np.asarray(list(columns[name]), dtype=object) for name in ("first_ref", "last_ref")}
        return cls(**numeric, **names)

    @classmethod
    def read_parquet(cls, path: str) -> ChunkColumns:
        """Read only the needed columns of a chunk_stats.parquet (a few MB for a 30x genome)."""
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=list(CHUNK_COLUMNS))
        numeric = {name: table.column(name).fill_null(-1).to_numpy().astype(np.float64)
                   for name in CHUNK_COLUMNS if name not in ("first_ref", "last_ref")}
        names = {name: np.asarray(table.column(name).to_pylist(), dtype=object) for name in ("first_ref", "last_ref")}
        return cls(**numeric, **names)

    def __len__(self) -> int:
        return len(self.total_reads)


@dataclass(frozen=True)
class GenomeProfile:
    """Sums per genomic window, for every reference in header order.

    Attributes
    ----------
    references
        ``(name, length)`` of every reference.
    window
        Window size in bases (the last window of a reference is shorter).
    ref_index, start, end
        Per window: its reference (index into ``references``) and 0-based half-open span.
    reads, mapq_sum, mapq_count
        Per window: reads, and the MAPQ sum and count of mapped reads with a MAPQ.
    unplaced_reads
        Reads of chunks without any placed read.
    """

    references: tuple[tuple[str, int], ...]
    window: int
    ref_index: np.ndarray
    start: np.ndarray
    end: np.ndarray
    reads: np.ndarray
    mapq_sum: np.ndarray
    mapq_count: np.ndarray
    unplaced_reads: int

    @property
    def offsets(self) -> np.ndarray:
        """Where each reference starts on the concatenated genome axis."""
        lengths = np.array([length for _, length in self.references], dtype=np.int64)
        return np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else np.zeros(0, np.int64)

    @property
    def genome_length(self) -> int:
        return int(sum(length for _, length in self.references))

    def genome_start(self) -> np.ndarray:
        """Window starts on the concatenated axis."""
        return self.offsets[self.ref_index] + self.start

    def reads_per_kbp(self) -> np.ndarray:
        return self.reads / ((self.end - self.start) / 1000.0)

    def mean_mapq(self, *, min_reads: float = 1.0) -> np.ndarray:
        """Mean MAPQ per window; NaN where fewer than ``min_reads`` reads carry a MAPQ."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.mapq_count >= min_reads, self.mapq_sum / self.mapq_count, np.nan)


def choose_window(genome_length: int, n_chunks: int) -> int:
    """A round window size (1, 2 or 5 times a power of ten) giving about one window per chunk.

    >>> choose_window(3_100_000_000, 600_000)    # a 30x human genome: ~2,000 windows
    2000000
    >>> choose_window(1_616_569, 124)            # the demo's sampleA: 81 windows of 20 kbp
    20000
    """
    target = min(MAX_WINDOWS, max(MIN_WINDOWS, n_chunks))
    raw = max(1.0, genome_length / target)
    exponent = math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        size = step * 10**exponent
        if size >= raw:
            return int(size)
    raise AssertionError("unreachable")


def _window_sums(starts: np.ndarray, ends: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Integrate piecewise-constant densities (``weights`` spread over ``[starts, ends)``) between ``edges``.

    ``weights`` has one row per quantity; the result has one row per quantity and one column per window.
    """
    if len(starts) == 0:
        return np.zeros((weights.shape[0], len(edges) - 1))
    density = weights / (ends - starts)
    positions = np.concatenate((starts, ends))
    deltas = np.concatenate((density, -density), axis=1)
    order = np.argsort(positions, kind="stable")
    positions, deltas = positions[order], deltas[:, order]
    rate = np.cumsum(deltas, axis=1)  # density to the right of each event position
    integral = np.concatenate((np.zeros((weights.shape[0], 1)), np.cumsum(rate[:, :-1] * np.diff(positions), axis=1)),
                              axis=1)
    at_edges = np.vstack([np.interp(edges, positions, row, left=0.0, right=row[-1]) for row in integral])
    return np.diff(at_edges, axis=1)


def _codes(names: np.ndarray, references: Sequence[tuple[str, int]]) -> np.ndarray:
    """Reference names as indexes into ``references`` (-1: no reference, or one the header lacks)."""
    index = {name: i for i, (name, _) in enumerate(references)}
    return np.fromiter((index.get(name, -1) for name in names), dtype=np.int64, count=len(names))


def genome_profile(chunks: ChunkColumns, references: Sequence[tuple[str, int]], *,
                   window: int | None = None) -> GenomeProfile:
    """Add the chunks up in genomic windows (see the module docstring).

    Parameters
    ----------
    chunks
        Per-chunk columns (chunk_stats.parquet).
    references
        ``(name, length)`` of the BAM's references in header order (plan.json).
    window
        Window size in bases; default :func:`choose_window`.
    """
    references = tuple((str(name), int(length)) for name, length in references)
    lengths = np.array([length for _, length in references], dtype=np.float64)
    window = window or choose_window(int(lengths.sum()) or 1, len(chunks))
    values = np.vstack([chunks.total_reads, chunks.mapq_sum, chunks.mapq_count])
    first, last = _codes(chunks.first_ref, references), _codes(chunks.last_ref, references)

    placed = first >= 0
    unplaced_reads = int(chunks.total_reads[~placed].sum())
    same = placed & (first == last)
    split = placed & ~same & (last >= 0)

    # one interval per (chunk, reference) piece: reference, start, end, share of the chunk's counts
    pieces_ref = [first[same]]
    pieces_start = [chunks.pos_min[same]]
    pieces_end = [chunks.pos_max[same] + 1]
    pieces_values = [values[:, same]]
    if split.any():
        first_len = lengths[first[split]]
        head = np.maximum(first_len - chunks.first_pos[split], 1.0)
        tail = chunks.last_pos[split] + 1
        share = head / (head + tail)
        pieces_ref += [first[split], last[split]]
        pieces_start += [chunks.first_pos[split], np.zeros(int(split.sum()))]
        pieces_end += [first_len, tail]
        pieces_values += [values[:, split] * share, values[:, split] * (1 - share)]
    ref_of = np.concatenate(pieces_ref)
    starts, ends = np.concatenate(pieces_start), np.concatenate(pieces_end)
    weights = np.concatenate(pieces_values, axis=1)
    # a piece's reads sit on at least one base inside its reference
    ref_length = lengths[ref_of] if len(ref_of) else np.zeros(0)
    starts = np.clip(starts, 0, np.maximum(ref_length - 1, 0))
    ends = np.minimum(np.maximum(ends, starts + 1), np.maximum(ref_length, starts + 1))
    order = np.argsort(ref_of, kind="stable")
    ref_of, starts, ends, weights = ref_of[order], starts[order], ends[order], weights[:, order]
    bounds = np.searchsorted(ref_of, np.arange(len(references) + 1))

    out_ref, out_start, out_end, out_sums = [], [], [], []
    for index, (_, length) in enumerate(references):
        if length <= 0:
            continue
        edges = np.minimum(np.arange(0, length + window, window, dtype=np.float64), length)
        edges = edges[np.concatenate(([True], np.diff(edges) > 0))]
        mine = slice(bounds[index], bounds[index + 1])
        out_sums.append(_window_sums(starts[mine], ends[mine], weights[:, mine], edges))
        out_ref.append(np.full(len(edges) - 1, index))
        out_start.append(edges[:-1].astype(np.int64))
        out_end.append(edges[1:].astype(np.int64))
    sums = np.concatenate(out_sums, axis=1) if out_sums else np.zeros((len(_SUMS), 0))
    return GenomeProfile(
        references=references, window=window,
        ref_index=np.concatenate(out_ref) if out_ref else np.zeros(0, np.int64),
        start=np.concatenate(out_start) if out_start else np.zeros(0, np.int64),
        end=np.concatenate(out_end) if out_end else np.zeros(0, np.int64),
        reads=sums[0], mapq_sum=sums[1], mapq_count=sums[2], unplaced_reads=unplaced_reads,
    )
