"""Generate realistic, coordinate-sorted, indexed test BAMs (pysam/samtools write them).

Every test folder uses these files, so they hold what real short-read BAMs hold and what
breaks naive readers:

- paired 150 bp reads from a random reference genome, with Illumina-like qualities
  (high, decaying along the read, a few bad tails), a few mismatches, soft clips,
  insertions and deletions, with NM/MD/AS/XS/RG/MC tags consistent with the alignment;
- with ``edge_cases``: improper pairs, mates on another reference (with MAPQ above and
  below 5), one-mate-unmapped pairs (the unmapped mate placed at its mate's position,
  as aligners do), unmapped pairs without a position (at the end of the file),
  secondary alignments (``*`` sequence and qualities), supplementary alignments (hard
  clips, SA tag), duplicates, QC failures, ``*`` qualities, MAPQ 0 and 255, aux tags of
  every type (A, c/C, s/S, i/I, f, Z, H, B arrays of several subtypes, a multi-KB string
  tag), and one read whose CIGAR has more than 65535 operations (stored with a CG tag);
- ``long_reads``: single-end long reads placed across bin boundaries (multiples of 64 kbp
  by default: the 16 kbp, 128 kbp and 1 Mbp-style edges of BAI and BAMS3 bins);
- ``no_reads_on``: references that get no reads at all.

Content is generated with numpy in chunks (no per-read work beyond formatting a SAM
line), written as SAM text and converted by samtools (``pysam.sort`` / ``pysam.view``),
then indexed by samtools: the files are samtools' own output, so they are an honest
oracle for bams3's readers. A million read pairs take about half a minute.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_REFERENCES",
    "EDGE_CASE_REFERENCES",
    "PRESETS",
    "write_bam",
    "write_index",
    "write_preset",
    "sam_header",
]

DEFAULT_REFERENCES: tuple[tuple[str, int], ...] = (("chr1", 200_000), ("chr2", 150_000), ("chrM", 16_569))
#: the references of the ``edge_cases`` preset: one of them (chrEmpty) gets no reads
EDGE_CASE_REFERENCES: tuple[tuple[str, int], ...] = (
    ("chr1", 300_000),
    ("chr2", 150_000),
    ("chrEmpty", 40_000),
    ("chrM", 16_569),
)

#: named parameter sets for :func:`write_preset`
PRESETS: dict[str, dict] = {
    # a few reads: quick to read by eye, every common flag
    "tiny": dict(n_pairs=25, edge_cases=False, seed=1),
    # every edge case, several BGZF blocks, an empty reference, long reads across bins
    "edge_cases": dict(
        n_pairs=4_000,
        edge_cases=True,
        long_reads=24,
        references=EDGE_CASE_REFERENCES,
        no_reads_on=("chrEmpty",),
        seed=2,
    ),
    # enough reads for many batches, chunks and shards (~20 MB)
    "medium": dict(n_pairs=100_000, edge_cases=True, long_reads=40, seed=3),
}

_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_BASE_INDEX = np.zeros(256, dtype=np.uint8)
_BASE_INDEX[_BASES] = np.arange(4)
_CHUNK_PAIRS = 20_000
_READ_GROUPS = ("rg1", "rg2")
_LARGE_TAG_BYTES = 5_000
_LONG_CIGAR_PAIRS = 35_000  # "1M1I" repeated: 70,000 CIGAR operations, above the 65535 limit


def write_preset(name: str, directory: str | os.PathLike, *, csi: bool = False) -> Path:
    """Write preset ``name`` (a key of :data:`PRESETS`) as ``<directory>/<name>.bam``, indexed."""
    params = dict(PRESETS[name])
    return write_bam(Path(directory) / f"{name}.bam", csi=csi, **params)


def write_bam(
    path: str | os.PathLike,
    *,
    n_pairs: int = 1_000,
    seed: int = 0,
    references: Sequence[tuple[str, int]] = DEFAULT_REFERENCES,
    index: bool = True,
    csi: bool = False,
    sort: bool = True,
    edge_cases: bool = True,
    long_reads: int = 0,
    long_read_boundaries: Sequence[int] | None = None,
    no_reads_on: Sequence[str] = (),
    read_length: int = 150,
    level: int = 6,
    threads: int = 2,
) -> Path:
    """Write a BAM of ``n_pairs`` read pairs (plus extra alignments) and return its path.

    Parameters
    ----------
    path
        Output BAM; the index goes next to it (``.bai``, or ``.csi`` with ``csi``).
    n_pairs
        Read pairs (two records each); secondary/supplementary alignments and long reads
        come on top.
    seed
        Same seed, same bytes.
    references
        ``(name, length)`` in header order.
    index
        Write a BAI (or CSI) with ``samtools index`` (needs ``sort``).
    sort
        Coordinate-sort (``samtools sort``); otherwise reads stay in pair order.
    edge_cases
        Add the unusual records listed in the module docstring; without it every pair
        is mapped and properly paired (still with clips, indels, duplicates).
    long_reads
        Number of single-end long reads (3-15 kbp) straddling bin boundaries.
    long_read_boundaries
        Reference positions the long reads straddle; default every multiple of 65536.
    no_reads_on
        Reference names that get no reads.
    level, threads
        Compression level and samtools threads for the output.
    """
    path = Path(path)
    if index and not sort:
        raise ValueError("an index needs a coordinate-sorted BAM (sort=True)")
    rng = np.random.default_rng(seed)
    refs = [(str(n), int(length)) for n, length in references]
    genome = _Genome(refs, no_reads_on, rng, min_length=read_length * 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".bamgen-") as tmp:
        sam = Path(tmp) / "reads.sam"
        with open(sam, "w", encoding="ascii") as out:
            out.write(sam_header(refs, sorted_=sort, seed=seed))
            for lines in _pair_lines(genome, n_pairs, rng, read_length=read_length, edge_cases=edge_cases):
                out.write(lines)
            if long_reads:
                out.write(_long_read_lines(genome, long_reads, rng, long_read_boundaries))
            if edge_cases and genome.longest_length() >= 3 * _LONG_CIGAR_PAIRS:
                out.write(_long_cigar_line(genome, rng))
        _samtools_write(sam, path, sort=sort, level=level, threads=threads, tmp=Path(tmp))
    if index:
        write_index(path, csi=csi)
    return path


def write_index(path: str | os.PathLike, *, csi: bool = False, min_shift: int = 14) -> Path:
    """Index a coordinate-sorted BAM with samtools; return the index path (``.bai`` / ``.csi``)."""
    import pysam

    path = Path(path)
    if csi:
        pysam.index("-c", "-m", str(min_shift), str(path))
        return path.with_name(path.name + ".csi")
    pysam.index(str(path))
    return path.with_name(path.name + ".bai")


def sam_header(references: Sequence[tuple[str, int]], *, sorted_: bool = True, seed: int = 0) -> str:
    """The SAM header text the generator writes (HD, SQ, two RGs, PG, CO)."""
    lines = [f"@HD\tVN:1.6\tSO:{'coordinate' if sorted_ else 'unsorted'}"]
    lines += [f"@SQ\tSN:{name}\tLN:{length}" for name, length in references]
    for i, rg in enumerate(_READ_GROUPS, start=1):
        lines.append(f"@RG\tID:{rg}\tSM:sample1\tLB:lib{i}\tPL:ILLUMINA\tPU:HXXXXDSXY.{i}")
    lines.append("@PG\tID:bamgen\tPN:bams3-test-bamgen\tVN:1")
    lines.append(f"@CO\tgenerated by tests/helpers/bamgen.py, seed {seed}")
    return "\n".join(lines) + "\n"


# --- the genome -----------------------------------------------------------------------


class _Genome:
    """Random reference sequences for the references that get reads."""

    def __init__(self, refs: list[tuple[str, int]], no_reads_on: Sequence[str], rng: np.random.Generator, *, min_length: int):
        self.refs = refs
        self.eligible = np.array(
            [i for i, (name, length) in enumerate(refs) if name not in set(no_reads_on) and length >= min_length],
            dtype=np.int64,
        )
        if len(self.eligible) == 0:
            raise ValueError("no reference is long enough to place reads on")
        self.lengths = np.array([length for _, length in refs], dtype=np.int64)
        self.seqs = {int(i): _BASES[rng.integers(0, 4, refs[i][1], dtype=np.uint8)] for i in self.eligible}

    def pick(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Reference ids for ``n`` fragments, proportional to length."""
        weights = self.lengths[self.eligible].astype(float)
        return self.eligible[rng.choice(len(self.eligible), size=n, p=weights / weights.sum())]

    def longest_length(self) -> int:
        return int(self.lengths[self.eligible].max())

    def name(self, ref_id: int) -> str:
        return self.refs[ref_id][0]


# --- read pairs ----------------------------------------------------------------------------

# per-read CIGAR shapes: plain, soft clip at start, at end, insertion, deletion, clip + deletion
_SHAPES = np.array([0, 1, 2, 3, 4, 5])
_SHAPE_P = np.array([0.80, 0.05, 0.05, 0.04, 0.05, 0.01])

# pair categories (edge_cases): proper, improper same reference, other reference,
# one mate unmapped, both unmapped
_PROPER, _IMPROPER, _OTHER_REF, _HALF_MAPPED, _UNMAPPED = range(5)
_CATEGORY_P = np.array([0.88, 0.02, 0.025, 0.045, 0.03])


class _Reads:
    """Column arrays for a chunk of reads (two per pair, then extra alignments)."""

    __slots__ = (
        "name", "flag", "ref", "pos", "mapq", "shape", "clip0", "clip1", "ins_at", "ins_len",
        "del_at", "del_len", "hard0", "mate_ref", "mate_pos", "tlen", "rg", "qual_star", "seq_star",
        "bad_tail", "extra_tags",
    )


def _pair_lines(genome: _Genome, n_pairs: int, rng: np.random.Generator, *, read_length: int, edge_cases: bool) -> Iterator[str]:
    """SAM lines for all pairs, a chunk of pairs at a time (bounded memory for 1e6 pairs)."""
    for first in range(0, n_pairs, _CHUNK_PAIRS):
        n = min(_CHUNK_PAIRS, n_pairs - first)
        reads = _make_pairs(genome, first, n, rng, read_length=read_length, edge_cases=edge_cases)
        yield _format(genome, reads, rng, read_length=read_length)


def _make_pairs(genome: _Genome, first: int, n: int, rng: np.random.Generator, *, read_length: int, edge_cases: bool) -> _Reads:
    """Columns for ``n`` pairs (pair ids from ``first``): placement, CIGAR shape, flags, mates."""
    L = read_length
    category = rng.choice(5, size=n, p=_CATEGORY_P) if edge_cases else np.zeros(n, dtype=np.int64)
    if len(genome.eligible) < 2:
        category[category == _OTHER_REF] = _PROPER
    ref = genome.pick(n, rng)
    ref_len = genome.lengths[ref]
    frag = np.clip(rng.normal(380, 70, n).astype(np.int64), L + 20, 900)
    frag = np.minimum(frag, ref_len - 1)
    left = (rng.random(n) * (ref_len - frag)).astype(np.int64)

    # read 1 and read 2: shapes, lengths on the reference
    shape = rng.choice(_SHAPES, size=(n, 2), p=_SHAPE_P)
    clip0 = np.where(np.isin(shape, (1, 5)), rng.integers(3, 31, (n, 2)), 0)
    clip1 = np.where(shape == 2, rng.integers(3, 31, (n, 2)), 0)
    ins_len = np.where(shape == 3, rng.integers(1, 6, (n, 2)), 0)
    del_len = np.where(np.isin(shape, (4, 5)), rng.integers(1, 9, (n, 2)), 0)
    aligned = L - clip0 - clip1
    ins_at = np.where(shape == 3, rng.integers(20, L - 30, (n, 2)), aligned + 1)
    del_at = np.where(np.isin(shape, (4, 5)), rng.integers(20, np.maximum(aligned - 20, 21)), aligned + 1)
    span = aligned - ins_len + del_len

    # read 1 forward on the left, or reverse on the right, at random (FR pairs)
    r1_left = rng.random(n) < 0.5
    pos_left = left
    pos_right = left + frag - np.where(r1_left, span[:, 1], span[:, 0])
    pos = np.stack([np.where(r1_left, pos_left, pos_right), np.where(r1_left, pos_right, pos_left)], axis=1)
    pos = np.clip(pos, 0, (ref_len - span.max(axis=1))[:, None])
    reverse = np.stack([~r1_left, r1_left], axis=1)
    refs = np.stack([ref, ref], axis=1)

    # improper pairs: the mate lands 5-60 kbp away on the same reference (or anywhere it fits)
    improper = category == _IMPROPER
    far = (pos[:, 0] + rng.integers(5_000, 60_000, n)) % np.maximum(ref_len - span[:, 1], 1)
    pos[improper, 1] = far[improper]
    # mates on another reference
    other = category == _OTHER_REF
    if other.any():
        other_ref = genome.pick(n, rng)
        same = other_ref == ref
        other_ref[same] = genome.eligible[(np.searchsorted(genome.eligible, ref[same]) + 1) % len(genome.eligible)]
        refs[other, 1] = other_ref[other]
        other_len = genome.lengths[other_ref]
        pos[other, 1] = (rng.random(n) * (other_len - span[:, 1]))[other].astype(np.int64)

    unmapped = np.zeros((n, 2), dtype=bool)
    half = category == _HALF_MAPPED
    which = rng.integers(0, 2, n)
    unmapped[half, 0] = which[half] == 0
    unmapped[half, 1] = which[half] == 1
    none = category == _UNMAPPED
    unmapped[none] = True

    # the unmapped mate of a half-mapped pair sits at its mate's position
    for r in (0, 1):
        m = 1 - r
        sel = half & unmapped[:, r]
        pos[sel, r] = pos[sel, m]
        refs[sel, r] = refs[sel, m]
    refs[none] = -1
    pos[none] = -1

    flag = np.full((n, 2), 0x1, dtype=np.int64)
    flag[:, 0] |= 0x40
    flag[:, 1] |= 0x80
    proper = (category == _PROPER)[:, None] & ~unmapped
    flag |= np.where(proper, 0x2, 0)
    flag |= np.where(unmapped, 0x4, 0)
    flag |= np.where(unmapped[:, ::-1], 0x8, 0)
    flag |= np.where(reverse & ~unmapped, 0x10, 0)
    flag |= np.where(reverse[:, ::-1] & ~unmapped[:, ::-1], 0x20, 0)
    dup = (rng.random(n) < 0.04) & ~none
    flag |= np.where(dup, 0x400, 0)[:, None]
    qcfail = rng.random(n) < (0.012 if edge_cases else 0.0)
    flag |= np.where(qcfail, 0x200, 0)[:, None]

    mapq = np.where(rng.random((n, 2)) < 0.85, 60, rng.integers(0, 60, (n, 2)))
    if edge_cases:
        mapq = np.where(rng.random((n, 2)) < 0.01, 255, mapq)
        mapq = np.where(rng.random((n, 2)) < 0.03, 0, mapq)
    mapq = np.where(unmapped, 0, mapq)

    mate_ref = refs[:, ::-1].copy()
    mate_pos = pos[:, ::-1].copy()
    same_ref = (refs[:, 0] == refs[:, 1]) & ~unmapped.any(axis=1)
    ends = pos + span
    tlen_abs = ends.max(axis=1) - pos.min(axis=1)
    leftmost0 = (pos[:, 0] < pos[:, 1]) | ((pos[:, 0] == pos[:, 1]) & ~reverse[:, 0])
    tlen = np.zeros((n, 2), dtype=np.int64)
    tlen[same_ref, 0] = np.where(leftmost0, tlen_abs, -tlen_abs)[same_ref]
    tlen[same_ref, 1] = -tlen[same_ref, 0]

    reads = _Reads()
    pair_index = np.arange(first, first + n)
    reads.name = np.stack([pair_index, pair_index], axis=1)
    reads.flag, reads.ref, reads.pos, reads.mapq = flag, refs, pos, mapq
    reads.shape = np.where(unmapped, -1, shape)
    reads.clip0, reads.clip1 = clip0, clip1
    reads.ins_at, reads.ins_len, reads.del_at, reads.del_len = ins_at, ins_len, del_at, del_len
    reads.hard0 = np.zeros((n, 2), dtype=np.int64)
    reads.mate_ref, reads.mate_pos, reads.tlen = mate_ref, mate_pos, tlen
    reads.rg = np.stack([rng.integers(0, 2, n)] * 2, axis=1)
    reads.qual_star = (rng.random((n, 2)) < 0.005) if edge_cases else np.zeros((n, 2), dtype=bool)
    reads.seq_star = np.zeros((n, 2), dtype=bool)
    if edge_cases:
        reads.seq_star[:, 0] = rng.random(n) < 0.001
    reads.bad_tail = rng.random((n, 2)) < 0.05  # reads with a bad tail
    reads.extra_tags = rng.integers(0, 40, (n, 2)) if edge_cases else np.full((n, 2), -1)
    reads = _flatten(reads)
    if edge_cases:
        reads = _with_extra_alignments(genome, reads, rng, read_length=L)
    return reads


def _flatten(reads: _Reads) -> _Reads:
    out = _Reads()
    for field in _Reads.__slots__:
        setattr(out, field, getattr(reads, field).reshape(-1))
    return out


def _with_extra_alignments(genome: _Genome, reads: _Reads, rng: np.random.Generator, *, read_length: int) -> _Reads:
    """Append secondary (1%) and supplementary (0.5%) alignments of mapped reads."""
    mapped = np.flatnonzero((reads.flag & 0x4) == 0)
    n_sec = max(1, len(mapped) // 100)
    n_sup = max(1, len(mapped) // 200)
    sec = rng.choice(mapped, size=min(n_sec, len(mapped)), replace=False)
    sup = rng.choice(mapped, size=min(n_sup, len(mapped)), replace=False)
    extra = _Reads()
    idx = np.concatenate([sec, sup])
    k = len(idx)
    is_sup = np.arange(k) >= len(sec)
    for field in _Reads.__slots__:
        setattr(extra, field, getattr(reads, field)[idx].copy())
    new_ref = genome.pick(k, rng)
    extra.ref = new_ref
    extra.pos = (rng.random(k) * (genome.lengths[new_ref] - 2 * read_length)).astype(np.int64)
    extra.flag = (extra.flag & ~0x402) | np.where(is_sup, 0x800, 0x100)
    extra.mapq = np.where(is_sup, rng.integers(0, 61, k), 0)
    extra.shape = np.zeros(k, dtype=np.int64)
    extra.clip0 = np.zeros(k, dtype=np.int64)
    extra.clip1 = np.zeros(k, dtype=np.int64)
    extra.ins_len = np.zeros(k, dtype=np.int64)
    extra.del_len = np.zeros(k, dtype=np.int64)
    extra.ins_at = np.full(k, read_length + 1)
    extra.del_at = np.full(k, read_length + 1)
    extra.hard0 = np.where(is_sup, rng.integers(30, 100, k), 0)
    extra.seq_star = ~is_sup
    extra.qual_star = ~is_sup
    extra.tlen = np.zeros(k, dtype=np.int64)
    extra.extra_tags = np.full(k, -2)  # marks "extra alignment": SA tag for supplementary
    merged = _Reads()
    for field in _Reads.__slots__:
        setattr(merged, field, np.concatenate([getattr(reads, field), getattr(extra, field)]))
    return merged


def _illumina_qualities(n: int, length: int, rng: np.random.Generator, bad_tail: np.ndarray) -> np.ndarray:
    """Phred qualities (n, length): ~Q37 decaying toward the 3' end, noisy, some bad tails.

    Rows come from a pool of profiles drawn from that model (drawing fresh noise for
    every base of a million reads costs more than everything else together).
    """
    pool = _quality_pool(length)
    rows = pool[rng.integers(0, len(pool), n)]
    tail_start = rng.integers(length // 2, length, n)
    rows[bad_tail & (tail_start > 0)] = np.where(
        np.arange(length)[None, :] >= tail_start[bad_tail & (tail_start > 0), None], 2, rows[bad_tail & (tail_start > 0)]
    )
    return rows


_QUALITY_POOLS: dict[int, np.ndarray] = {}


def _quality_pool(length: int, size: int = 4096) -> np.ndarray:
    """Quality profiles: a per-read level on a curve that falls toward the 3' end, most
    bases at that level, some off by a few points, a few deep dips (as Illumina
    instruments report them: runs of equal values, not white noise)."""
    pool = _QUALITY_POOLS.get(length)
    if pool is None:
        rng = np.random.default_rng(length)  # the same pool whatever the caller's seed
        cycle = np.arange(length)
        curve = 38.0 - 7.0 * (cycle / length) ** 2
        level = rng.normal(0, 2.0, (size, 1))
        q = np.rint(curve + level)
        q += np.where(rng.random((size, length)) < 0.15, rng.integers(-4, 3, (size, length)), 0)
        q -= np.where(rng.random((size, length)) < 0.01, rng.integers(10, 25, (size, length)), 0)
        pool = _QUALITY_POOLS[length] = np.clip(q, 2, 41).astype(np.uint8)
    return pool


def _format(genome: _Genome, reads: _Reads, rng: np.random.Generator, *, read_length: int) -> str:
    """SAM text for a chunk of reads: sequences follow the CIGAR over the reference.

    Columns are built as lists and each line is one f-string: the per-read cost is a
    few microseconds, so a million pairs format in seconds.
    """
    n = len(reads.flag)
    L = read_length
    j = np.arange(L, dtype=np.int32)
    clip0, clip1 = reads.clip0.astype(np.int32)[:, None], reads.clip1.astype(np.int32)[:, None]
    ins_at, ins_len = reads.ins_at.astype(np.int32)[:, None], reads.ins_len.astype(np.int32)[:, None]
    del_at, del_len = reads.del_at.astype(np.int32)[:, None], reads.del_len.astype(np.int32)[:, None]
    q = j[None, :] - clip0  # position within the aligned part
    clipped = (q < 0) | (j[None, :] >= L - clip1)
    inserted = (q >= ins_at) & (q < ins_at + ins_len)
    ref_off = q - np.where(q >= ins_at + ins_len, ins_len, 0) + np.where(q >= del_at, del_len, 0)
    random_base = clipped | inserted
    mismatch = (rng.random((n, L), dtype=np.float32) < 0.002) & ~random_base
    seq = _BASES[rng.integers(0, 4, (n, L), dtype=np.uint8)]
    for ref_id in np.unique(reads.ref):
        if ref_id < 0:
            continue
        rows = np.flatnonzero(reads.ref == ref_id)
        ref_seq = genome.seqs[int(ref_id)]
        at = np.clip(reads.pos[rows, None].astype(np.int32) + ref_off[rows], 0, len(ref_seq) - 1)
        from_ref = ref_seq[at]
        chunk = np.where(random_base[rows], seq[rows], from_ref)
        # a mismatch is any other base than the reference's
        shifted = _BASES[(_BASE_INDEX[from_ref] + rng.integers(1, 4, from_ref.shape, dtype=np.uint8)) % 4]
        seq[rows] = np.where(mismatch[rows], shifted, chunk)
    qual = _illumina_qualities(n, L, rng, reads.bad_tail) + 33
    seq_text = seq.tobytes().decode("ascii")
    qual_text = qual.tobytes().decode("ascii")
    n_mismatch = mismatch.sum(axis=1)

    # Illumina-style names (instrument:run:flowcell:lane:tile:x:y), one per pair
    ids = reads.name
    names = [
        f"A00123:8:HXXXXDSXY:{lane}:{tile}:{x}:{y}"
        for lane, tile, x, y in zip(
            (1 + ids % 4).tolist(), (1101 + (ids // 4) % 60).tolist(), ((ids * 7919) % 32000).tolist(), ((ids * 104729) % 36000).tolist()
        )
    ]
    mapped = ((reads.flag & 0x4) == 0).tolist()
    ref_names = ["*" if r < 0 else genome.name(r) for r in reads.ref.tolist()]
    rnext = ["*" if m < 0 else ("=" if m == r else genome.name(m)) for m, r in zip(reads.mate_ref.tolist(), reads.ref.tolist())]
    cigars = _cigars(reads, L)
    stops = ((np.arange(n) + 1) * L - reads.hard0).tolist()  # a hard-clipped read keeps its first L - clip bases
    seq_star, qual_star = reads.seq_star.tolist(), (reads.qual_star | reads.seq_star).tolist()
    seqs = ["*" if star else seq_text[i * L : stop] for i, (star, stop) in enumerate(zip(seq_star, stops))]
    quals = ["*" if star else qual_text[i * L : stop] for i, (star, stop) in enumerate(zip(qual_star, stops))]
    core = [
        f"{name}\t{flag}\t{ref}\t{pos}\t{mapq}\t{cigar if m else '*'}\t{rn}\t{pn}\t{tlen}\t"
        for name, flag, ref, pos, mapq, cigar, m, rn, pn, tlen in zip(
            names, reads.flag.tolist(), ref_names, (reads.pos + 1).tolist(), reads.mapq.tolist(), cigars, mapped, rnext,
            (reads.mate_pos + 1).tolist(), reads.tlen.tolist(),
        )
    ]
    alignment_score = (L - 6 * n_mismatch - 8 * (reads.ins_len + reads.del_len) - reads.clip0 - reads.clip1).tolist()
    edit_distance = (n_mismatch + reads.ins_len + reads.del_len).tolist()
    suboptimal = rng.integers(0, L // 2, n).tolist()
    md = _md_tags(genome, reads, mismatch, L)
    mate_cigar = _mate_cigars(reads, cigars)
    extra = [
        _extra_tags(kind, i, genome, ref, pos, cigar, mapq)
        for i, (kind, ref, pos, cigar, mapq) in enumerate(
            zip(reads.extra_tags.tolist(), reads.ref.tolist(), reads.pos.tolist(), cigars, reads.mapq.tolist())
        )
    ]
    tags = [
        (f"\tNM:i:{nm}\tAS:i:{score}" + (f"\tXS:i:{xs}" if xs % 3 else "") + (f"\t{mdv}" if mdv else "") if m else "")
        + (f"\tMC:Z:{mc}" if mc else "")
        + f"\tRG:Z:{_READ_GROUPS[rg]}"
        + "".join("\t" + t for t in ex)
        for m, nm, score, xs, mdv, mc, rg, ex in zip(
            mapped, edit_distance, alignment_score, suboptimal, md, mate_cigar, reads.rg.tolist(), extra
        )
    ]
    return "".join(f"{c}{s}\t{qs}{t}\n" for c, s, qs, t in zip(core, seqs, quals, tags))


def _cigars(reads: _Reads, L: int) -> list[str]:
    out = []
    for shape, c0, c1, ia, il, da, dl, h in zip(
        reads.shape.tolist(), reads.clip0.tolist(), reads.clip1.tolist(), reads.ins_at.tolist(),
        reads.ins_len.tolist(), reads.del_at.tolist(), reads.del_len.tolist(), reads.hard0.tolist(),
    ):
        if shape < 0:
            out.append("*")
        elif h:
            out.append(f"{h}H{L - h}M")
        elif shape == 0:
            out.append(f"{L}M")
        elif shape == 1:
            out.append(f"{c0}S{L - c0}M")
        elif shape == 2:
            out.append(f"{L - c1}M{c1}S")
        elif shape == 3:
            out.append(f"{ia}M{il}I{L - ia - il}M")
        elif shape == 4:
            out.append(f"{da}M{dl}D{L - da}M")
        else:
            out.append(f"{c0}S{da}M{dl}D{L - c0 - da}M")
    return out


def _mate_cigars(reads: _Reads, cigars: list[str]) -> list[str]:
    """MC tags: the mate's CIGAR for primary reads of pairs whose mate is mapped."""
    n_pairs_rows = np.flatnonzero(reads.extra_tags != -2)  # the pair rows come first, two by two
    out = [""] * len(cigars)
    flags = reads.flag.tolist()
    for i in n_pairs_rows.tolist():
        mate = i ^ 1
        if not flags[i] & 0x8 and cigars[mate] != "*":
            out[i] = cigars[mate]
    return out


def _extra_tags(kind: int, i: int, genome: _Genome, ref: int, pos: int, cigar: str, mapq: int) -> list[str]:
    """A spread of aux types on some reads; SA on supplementary alignments."""
    if kind == -2:
        return [f"SA:Z:{genome.name(ref) if ref >= 0 else '*'},{pos + 1},+,{cigar},{mapq},0;"] if "H" in cigar else []
    if kind < 0 or kind > 9:
        return []
    if kind == 0:
        return ["XT:A:U", f"ZC:i:{i % 200}", "ZN:i:-5"]
    if kind == 1:
        return [f"ZS:i:-{300 + i % 1000}", f"ZU:i:{40_000 + i % 20_000}", f"ZI:i:{100_000 + i}", f"ZJ:i:-{100_000 + i}"]
    if kind == 2:
        return [f"ZF:f:{(i % 100) / 8:.3f}", "ZH:H:1AE301"]
    if kind == 3:
        return ["ZB:B:s," + ",".join(str(v) for v in range(-3, 4 + i % 5)), f"ZA:B:C,{i % 256},7,0"]
    if kind == 4:
        return ["ZD:B:f,0.5,1.25,-2", "ZE:B:i,-70000,0,70000", "ZG:B:I,4000000000,1", "ZK:B:c,-1,1", "ZM:B:S,65535,0"]
    if kind == 5 and i % 20 == 0:
        return ["ZL:Z:" + ("ACGTNacgt-" * (_LARGE_TAG_BYTES // 10 + 1))[: _LARGE_TAG_BYTES]]
    if kind == 6:
        return ["CO:Z:a comment with spaces and punctuation: ;,=!"]
    return []


def _md_tags(genome: _Genome, reads: _Reads, mismatch: np.ndarray, L: int) -> list[str]:
    """MD:Z values ("" for none) for mapped reads with a full sequence.

    Only reads with a mismatch or a deletion need more than the aligned length, and the
    work per read is per event, not per base.
    """
    n = len(reads.flag)
    aligned = L - reads.clip0 - reads.clip1
    span = (aligned - reads.ins_len + reads.del_len).tolist()
    wanted = ((reads.flag & 0x4) == 0) & ~reads.seq_star & (reads.hard0 == 0) & (reads.ref >= 0)
    out = [f"MD:Z:{v}" if w else "" for v, w in zip(span, wanted.tolist())]
    rows, cols = np.nonzero(mismatch)
    bounds = np.searchsorted(rows, np.arange(n + 1)).tolist()
    cols_l = cols.tolist()
    busy = np.flatnonzero(wanted & ((np.diff(bounds) > 0) | (reads.del_len > 0))).tolist()
    ref_l, pos_l, c0_l, al_l = reads.ref.tolist(), reads.pos.tolist(), reads.clip0.tolist(), aligned.tolist()
    ia_l, il_l, da_l, dl_l = reads.ins_at.tolist(), reads.ins_len.tolist(), reads.del_at.tolist(), reads.del_len.tolist()
    for i in busy:
        ref = genome.seqs[ref_l[i]]
        pos, c0, ia, il, da, dl = pos_l[i], c0_l[i], ia_l[i], il_l[i], da_l[i], dl_l[i]
        events = []
        for col in cols_l[bounds[i] : bounds[i + 1]]:
            q = col - c0
            if 0 <= q < al_l[i]:
                events.append((q - (il if il and q >= ia + il else 0) + (dl if dl and q >= da else 0), 0))
        if dl:
            events.append((da, dl))
        events.sort()
        md, last = [], 0
        for r, d in events:
            at = min(pos + r, len(ref) - 1)
            if d:
                md.append(f"{r - last}^" + ref[at : at + d].tobytes().decode())
                last = r + d
            else:
                md.append(f"{r - last}" + chr(ref[at]))
                last = r + 1
        md.append(str(span[i] - last))
        out[i] = "MD:Z:" + "".join(md)
    return out


# --- long reads ----------------------------------------------------------------------------


def _long_read_lines(genome: _Genome, n: int, rng: np.random.Generator, boundaries: Sequence[int] | None) -> str:
    """Single-end long reads, each straddling a boundary of one of the references."""
    spots: list[tuple[int, int]] = []
    for ref_id in genome.eligible.tolist():
        length = int(genome.lengths[ref_id])
        edges = boundaries if boundaries is not None else range(65_536, length, 65_536)
        spots += [(ref_id, int(b)) for b in edges if 0 < b < length - 16_000]
    if not spots:
        return ""
    lines = []
    for k in range(n):
        ref_id, edge = spots[k % len(spots)]
        length = int(rng.integers(3_000, 15_000))
        a = int(rng.integers(500, length - 1_000))
        d = int(rng.integers(1, 30))
        ins = int(rng.integers(1, 20))
        b = length - a - ins
        span = a + d + b
        start = edge - int(rng.integers(1, span - 1))
        start = max(start, 0)
        ref = genome.seqs[ref_id]
        bases = np.concatenate([ref[start : start + a], _BASES[rng.integers(0, 4, ins)], ref[start + a + d : start + a + d + b]])
        qual = np.clip(rng.normal(18, 6, length), 3, 40).astype(np.uint8) + 33
        flag = 16 if k % 2 else 0
        lines.append(
            "\t".join([
                f"long{k:04d}", str(flag), genome.name(ref_id), str(start + 1), "60", f"{a}M{d}D{ins}I{b}M",
                "*", "0", "0", bases.tobytes().decode(), qual.tobytes().decode(), f"RG:Z:{_READ_GROUPS[0]}",
            ])
        )
    return "\n".join(lines) + "\n"


def _long_cigar_line(genome: _Genome, rng: np.random.Generator) -> str:
    """One read with 70,000 CIGAR operations: samtools stores it with a CG:B:I tag."""
    ref_id = int(genome.eligible[np.argmax(genome.lengths[genome.eligible])])
    start = 10_000
    ref = genome.seqs[ref_id]
    length = 2 * _LONG_CIGAR_PAIRS
    bases = np.empty(length, dtype=np.uint8)
    bases[0::2] = ref[start : start + _LONG_CIGAR_PAIRS]
    bases[1::2] = _BASES[rng.integers(0, 4, _LONG_CIGAR_PAIRS)]
    qual = np.full(length, ord("5"), dtype=np.uint8)
    return "\t".join([
        "longcigar", "0", genome.name(ref_id), str(start + 1), "37", "1M1I" * _LONG_CIGAR_PAIRS,
        "*", "0", "0", bases.tobytes().decode(), qual.tobytes().decode(), f"RG:Z:{_READ_GROUPS[1]}",
    ]) + "\n"


# --- writing -------------------------------------------------------------------------------


def _samtools_write(sam: Path, out: Path, *, sort: bool, level: int, threads: int, tmp: Path) -> None:
    """SAM -> BAM with samtools (sorted or as is), atomically."""
    import pysam

    partial = out.with_name(out.name + ".partial")
    fmt = f"BAM,level={level}"
    extra_threads = str(max(0, threads - 1))
    if sort:
        pysam.sort("--no-PG", "-O", fmt, "-@", extra_threads, "-m", "512M", "-T", str(tmp / "sort"),
                   "-o", str(partial), str(sam), catch_stdout=False)
    else:
        pysam.view("--no-PG", "-O", fmt, "-@", extra_threads, "-o", str(partial), str(sam), catch_stdout=False)
    os.replace(partial, out)
