"""BAI and CSI indexes: bins of chunks, the linear index, per-reference counts, region queries.

A BAI (SAMv1 §5.2) is a CSI (CSIv1) with fixed geometry (16 kbp windows, 6 levels of
bins) plus a linear index; a CSI carries its own geometry and a per-bin "loffset"
instead of the linear index, and is BGZF-compressed on disk. Both parse into the same
:class:`BamIndex`: numpy arrays per reference (bins sorted, chunks in CSR form), so a
human 30x index (hundreds of thousands of bins) parses in a fraction of a second and
costs a few MB.

:meth:`BamIndex.query_chunks` gives the virtual-offset ranges that hold every record
overlapping a region, the way htslib computes them (bins overlapping the region, chunks
ending before the smallest offset a record there could have dropped, the rest sorted
and merged); the caller reads those ranges and filters records by position.
"""
from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from ..errors import BgzfError, IndexFormatError
from . import _layout as L
from .bgzf import VirtualPosition, iter_blocks

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .header import BamHeader

__all__ = [
    "Chunk",
    "merge_chunks",
    "ReferenceMetadata",
    "ReferenceIndex",
    "BamIndex",
    "parse_index",
    "read_index",
    "reg2bins",
]

_I32 = struct.Struct("<i")
_U32_I32 = struct.Struct("<Ii")
_U32_U64_I32 = struct.Struct("<IQi")
_U64 = struct.Struct("<Q")
_CSI_HEAD = struct.Struct("<iii")
#: an index file larger than this is not an index (ours: a human 30x BAI is ~9 MB)
_MAX_INDEX_BYTES = 2 * 1024 * 1024 * 1024


@dataclass(frozen=True, order=True, slots=True)
class Chunk:
    """A ``[start, end)`` range of virtual positions (noodles-csi's ``Chunk``).

    Examples
    --------
    >>> c = Chunk(VirtualPosition(0, 100), VirtualPosition(5000, 20))
    >>> c.start < c.end
    True
    >>> str(c)
    '0:100-5000:20'
    """

    start: VirtualPosition
    end: VirtualPosition

    @classmethod
    def from_ints(cls, start: int, end: int) -> Chunk:
        """From the two packed 64-bit virtual offsets an index stores."""
        return cls(VirtualPosition.from_int(start), VirtualPosition.from_int(end))

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


def merge_chunks(chunks: Iterable[Chunk], *, min_offset: VirtualPosition = VirtualPosition(0, 0)) -> list[Chunk]:
    """Sort chunks, drop those ending at or before ``min_offset``, merge the rest.

    Chunks merge when they overlap or touch, and also when the next one starts in the
    BGZF block where the previous one ends (reading that block once serves both; the
    records in between are filtered out by position like any other).

    Examples
    --------
    >>> vp = VirtualPosition
    >>> merge_chunks([Chunk(vp(900, 0), vp(990, 5)), Chunk(vp(0, 0), vp(100, 0)), Chunk(vp(100, 0), vp(200, 7)),
    ...               Chunk(vp(200, 40), vp(300, 0))])
    [Chunk(start=VirtualPosition(compressed=0, uncompressed=0), end=VirtualPosition(compressed=300, uncompressed=0)), Chunk(start=VirtualPosition(compressed=900, uncompressed=0), end=VirtualPosition(compressed=990, uncompressed=5))]
    >>> merge_chunks([Chunk(vp(0, 0), vp(100, 0))], min_offset=vp(100, 0))
    []
    """
    kept = sorted(c for c in chunks if c.end > min_offset)
    merged: list[Chunk] = []
    for chunk in kept:
        if merged:
            last = merged[-1]
            if chunk.start <= last.end or chunk.start.compressed == last.end.compressed:
                if chunk.end > last.end:
                    merged[-1] = Chunk(last.start, chunk.end)
                continue
        merged.append(chunk)
    return merged


def reg2bins(beg: int, end: int, *, min_shift: int = L.BAI_MIN_SHIFT, depth: int = L.BAI_DEPTH) -> NDArray[np.int64]:
    """Bins that may hold records overlapping ``[beg, end)`` (0-based), all levels (CSIv1 §1.3).

    Examples
    --------
    >>> reg2bins(0, 1).tolist()
    [0, 1, 9, 73, 585, 4681]
    >>> reg2bins(16384, 16385).tolist()
    [0, 1, 9, 73, 585, 4682]
    """
    if end <= beg:
        return np.empty(0, dtype=np.int64)
    last = end - 1
    parts = []
    first_bin = 0
    for level in range(depth + 1):
        shift = min_shift + 3 * (depth - level)
        parts.append(np.arange(first_bin + (beg >> shift), first_bin + (last >> shift) + 1, dtype=np.int64))
        first_bin += 1 << (3 * level)
    return np.concatenate(parts)


@dataclass(frozen=True, slots=True)
class ReferenceMetadata:
    """The pseudo-bin of one reference: where its records are and how many are (un)mapped.

    ``n_unmapped`` counts the placed unmapped reads (unmapped, with a position: usually a
    mate of a mapped read); reads without any position are in ``BamIndex.n_no_coor``.
    """

    start: VirtualPosition
    end: VirtualPosition
    n_mapped: int
    n_unmapped: int


@dataclass(frozen=True, eq=False)
class ReferenceIndex:
    """The index of one reference.

    Attributes
    ----------
    bins
        Bin numbers present, sorted (the pseudo-bin excluded).
    chunk_index
        Chunks of ``bins[i]`` are ``chunks[chunk_index[i] : chunk_index[i + 1]]``.
    chunks
        ``(n, 2)`` packed virtual offsets, start and end of each chunk.
    loffsets
        CSI: per bin, the smallest virtual offset of a record overlapping the bin's
        first window. BAI: empty (it has the linear index instead).
    linear
        BAI: per 16 kbp window, the smallest virtual offset of a record overlapping it.
    metadata
        The pseudo-bin, when the indexer wrote one (samtools always does).
    """

    bins: NDArray[np.uint32]
    chunk_index: NDArray[np.int64]
    chunks: NDArray[np.uint64]
    loffsets: NDArray[np.uint64]
    linear: NDArray[np.uint64]
    metadata: ReferenceMetadata | None

    def find_bin(self, bin_number: int) -> int | None:
        """Position of ``bin_number`` in :attr:`bins`, or None."""
        i = int(np.searchsorted(self.bins, bin_number))
        return i if i < len(self.bins) and int(self.bins[i]) == bin_number else None


@dataclass(frozen=True, eq=False)
class BamIndex:
    """A parsed BAI or CSI index.

    Attributes
    ----------
    kind
        ``"bai"`` or ``"csi"``.
    min_shift, depth
        Geometry: windows of ``2**min_shift`` bases, ``depth + 1`` levels of bins.
    aux
        CSI auxiliary data (empty for BAI and for BAM CSIs).
    references
        One :class:`ReferenceIndex` per reference of the BAM header, in order.
    n_no_coor
        Records without a position (unmapped, at the end of the BAM), if recorded.
    """

    kind: str
    min_shift: int
    depth: int
    aux: bytes
    references: tuple[ReferenceIndex, ...]
    n_no_coor: int | None

    @property
    def pseudo_bin(self) -> int:
        return _pseudo_bin(self.depth)

    def mapped_unmapped(self, ref_id: int) -> tuple[int, int]:
        """``(mapped, placed unmapped)`` record counts of a reference (0, 0 without metadata)."""
        meta = self.references[ref_id].metadata
        return (meta.n_mapped, meta.n_unmapped) if meta is not None else (0, 0)

    def check_header(self, header: BamHeader, *, name: str) -> None:
        """Raise IndexFormatError if the index cannot belong to a BAM with this header."""
        if len(self.references) != header.n_references:
            raise IndexFormatError(
                f"{name}: the index lists {len(self.references)} references but the BAM header has "
                f"{header.n_references}: it belongs to another BAM"
            )

    def query_chunks(self, ref_id: int, beg: int, end: int) -> list[Chunk]:
        """Merged chunks holding every record that overlaps ``[beg, end)`` (0-based) on ``ref_id``.

        A superset: records in the chunks that do not overlap the region must be
        filtered out by the caller (by ``pos`` and alignment end).
        """
        if not 0 <= ref_id < len(self.references):
            raise IndexError(f"reference id {ref_id} is not in the index ({len(self.references)} references)")
        ref = self.references[ref_id]
        beg = max(beg, 0)
        if end <= beg or len(ref.bins) == 0:
            return []
        wanted = reg2bins(beg, end, min_shift=self.min_shift, depth=self.depth)
        at = np.searchsorted(ref.bins, wanted)
        at = at[at < len(ref.bins)]
        present = at[np.isin(ref.bins[at], wanted)]
        if len(present) == 0:
            return []
        starts, stops = ref.chunk_index[present], ref.chunk_index[present + 1]
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts.tolist(), stops.tolist())])
        pairs = ref.chunks[rows]
        min_offset = self._min_offset(ref, beg)
        keep = pairs[:, 1] > np.uint64(min_offset)
        return merge_chunks(Chunk.from_ints(int(s), int(e)) for s, e in pairs[keep].tolist())

    def _min_offset(self, ref: ReferenceIndex, beg: int) -> int:
        """The smallest virtual offset a record overlapping position ``beg`` can have."""
        window = beg >> self.min_shift
        if self.kind == "bai":
            linear = ref.linear
            if window >= len(linear):
                return 0
            min_off = int(linear[window])
            unmapped_possible = ref.metadata is None or ref.metadata.n_unmapped > 0
            if unmapped_possible:
                # placed unmapped reads are not in the linear index (htslib does the same)
                earlier = linear[:window]
                smaller = np.flatnonzero(earlier < np.uint64(min_off))
                if len(smaller):
                    min_off = int(earlier[smaller[-1]])
            return min_off
        # CSI: the loffset of the bin of beg's window, or of the nearest earlier sibling or ancestor
        bin_number = _first_bin(self.depth) + window
        while bin_number:
            i = ref.find_bin(bin_number)
            if i is not None:
                return int(ref.loffsets[i])
            first_sibling = (((bin_number - 1) >> 3) << 3) + 1
            bin_number = bin_number - 1 if bin_number > first_sibling else (bin_number - 1) >> 3
        i = ref.find_bin(0)
        return int(ref.loffsets[i]) if i is not None else 0


def _first_bin(level: int) -> int:
    return ((1 << (3 * level)) - 1) // 7


def _pseudo_bin(depth: int) -> int:
    return _first_bin(depth + 1) + 1


def read_index(fileobj: BinaryIO, *, name: str) -> BamIndex:
    """Read a whole ``.bai`` or ``.csi`` from a stream and parse it."""
    data = fileobj.read(_MAX_INDEX_BYTES + 1)
    if len(data) > _MAX_INDEX_BYTES:
        raise IndexFormatError(f"{name}: larger than {_MAX_INDEX_BYTES} bytes: not an index")
    return parse_index(data, name=name)


def parse_index(data: bytes | bytearray, *, name: str) -> BamIndex:
    """Parse BAI or CSI bytes (a BGZF-compressed CSI or BAI is inflated first).

    Raises
    ------
    IndexFormatError
        Unknown magic, impossible counts, or data that ends early.
    """
    if data[:2] == bytes((L.GZIP_ID1, L.GZIP_ID2)):
        try:
            data = b"".join(block.data for block in iter_blocks(io.BytesIO(data), name=name))
        except BgzfError as exc:
            raise IndexFormatError(str(exc)) from None
    magic = bytes(data[:4])
    if magic == L.BAI_MAGIC:
        return _Parser(data, name, kind="bai").parse()
    if magic == L.CSI_MAGIC:
        return _Parser(data, name, kind="csi").parse()
    raise IndexFormatError(f"{name}: not a BAI or CSI index (magic {magic!r})")


class _Parser:
    """A single pass over the index bytes; every count is checked against what is left."""

    def __init__(self, data: bytes | bytearray, name: str, *, kind: str) -> None:
        self.data = bytes(data)
        self.name = name
        self.kind = kind
        self.pos = 4

    def _fail(self, what: str) -> IndexFormatError:
        return IndexFormatError(f"{self.name}: {what} (at byte {self.pos} of {len(self.data)})")

    def _need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise self._fail(f"truncated or corrupt index: {what} runs past the end")

    def _count(self, what: str, item_size: int) -> int:
        self._need(4, what)
        (n,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        if n < 0:
            raise self._fail(f"negative {what} {n}")
        self._need(n * item_size, f"{n} {what}")
        return n

    def parse(self) -> BamIndex:
        if self.kind == "bai":
            min_shift, depth, aux = L.BAI_MIN_SHIFT, L.BAI_DEPTH, b""
        else:
            self._need(_CSI_HEAD.size, "the CSI header")
            min_shift, depth, l_aux = _CSI_HEAD.unpack_from(self.data, self.pos)
            self.pos += _CSI_HEAD.size
            if not (0 < min_shift < 32 and 0 <= depth <= 10 and min_shift + 3 * depth <= 62):
                raise self._fail(f"impossible CSI geometry min_shift={min_shift} depth={depth}")
            if l_aux < 0:
                raise self._fail(f"negative CSI aux length {l_aux}")
            self._need(l_aux, "the CSI aux data")
            aux = self.data[self.pos : self.pos + l_aux]
            self.pos += l_aux
        n_ref = self._count("references", 4)
        pseudo = _pseudo_bin(depth)
        references = tuple(self._reference(pseudo) for _ in range(n_ref))
        n_no_coor = None
        if self.pos + 8 <= len(self.data):
            (n_no_coor,) = _U64.unpack_from(self.data, self.pos)
            self.pos += 8
        return BamIndex(self.kind, min_shift, depth, aux, references, n_no_coor)

    def _reference(self, pseudo: int) -> ReferenceIndex:
        data = self.data
        csi = self.kind == "csi"
        bin_head = _U32_U64_I32 if csi else _U32_I32
        n_bin = self._count("bins", bin_head.size)
        bin_numbers: list[int] = []
        loffsets: list[int] = []
        chunk_starts: list[int] = []  # byte offset of each bin's first chunk
        chunk_counts: list[int] = []
        metadata = None
        pos = self.pos
        size = len(data)
        for _ in range(n_bin):
            if pos + bin_head.size > size:
                self.pos = pos
                raise self._fail("truncated or corrupt index: a bin runs past the end")
            if csi:
                bin_number, loffset, n_chunk = bin_head.unpack_from(data, pos)
            else:
                (bin_number, n_chunk), loffset = bin_head.unpack_from(data, pos), 0
            pos += bin_head.size
            if n_chunk < 0 or pos + 16 * n_chunk > size:
                self.pos = pos
                raise self._fail(f"truncated or corrupt index: bin {bin_number} declares {n_chunk} chunks")
            if bin_number == pseudo:
                if n_chunk != L.PSEUDO_BIN_CHUNKS:
                    self.pos = pos
                    raise self._fail(f"the metadata pseudo-bin has {n_chunk} chunks, not 2")
                beg, end, n_mapped, n_unmapped = struct.unpack_from("<4Q", data, pos)
                metadata = ReferenceMetadata(
                    VirtualPosition.from_int(beg), VirtualPosition.from_int(end), n_mapped, n_unmapped
                )
            elif bin_number > pseudo:
                self.pos = pos
                raise self._fail(f"bin number {bin_number} is above the largest possible ({pseudo - 1})")
            else:
                bin_numbers.append(bin_number)
                loffsets.append(loffset)
                chunk_starts.append(pos)
                chunk_counts.append(n_chunk)
            pos += 16 * n_chunk
        self.pos = pos
        linear = np.empty(0, dtype=np.uint64)
        if not csi:
            n_intv = self._count("linear index entries", 8)
            linear = np.frombuffer(data, dtype="<u8", count=n_intv, offset=self.pos).astype(np.uint64)
            self.pos += 8 * n_intv
        bins = np.array(bin_numbers, dtype=np.uint32)
        counts = np.array(chunk_counts, dtype=np.int64)
        chunk_index = np.zeros(len(bins) + 1, dtype=np.int64)
        np.cumsum(counts, out=chunk_index[1:])
        chunks = _gather_chunks(data, np.array(chunk_starts, dtype=np.int64), counts)
        order = np.argsort(bins, kind="stable")
        if len(order) and np.any(np.diff(bins[order].astype(np.int64)) == 0):
            raise self._fail("a bin appears twice in one reference")
        if not np.array_equal(order, np.arange(len(bins))):
            # sort bins (and their chunk lists) by bin number
            new_counts = counts[order]
            new_index = np.zeros(len(bins) + 1, dtype=np.int64)
            np.cumsum(new_counts, out=new_index[1:])
            rows = np.concatenate([np.arange(chunk_index[i], chunk_index[i + 1]) for i in order.tolist()]) if len(order) else np.empty(0, np.int64)
            chunks, chunk_index, bins = chunks[rows], new_index, bins[order]
            loffsets = [loffsets[i] for i in order.tolist()]
        return ReferenceIndex(
            bins=bins,
            chunk_index=chunk_index,
            chunks=chunks,
            loffsets=np.array(loffsets, dtype=np.uint64) if csi else np.empty(0, dtype=np.uint64),
            linear=linear,
            metadata=metadata,
        )


def _gather_chunks(data: bytes, starts: NDArray[np.int64], counts: NDArray[np.int64]) -> NDArray[np.uint64]:
    """All chunks of all bins as an ``(n, 2)`` array, gathered without a Python loop per chunk."""
    total = int(counts.sum())
    if total == 0:
        return np.empty((0, 2), dtype=np.uint64)
    first = np.repeat(starts, counts)
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    byte_at = first + 16 * within
    raw = np.frombuffer(data, dtype=np.uint8)
    gathered = raw[byte_at[:, None] + np.arange(16)]
    return gathered.view("<u8").astype(np.uint64).reshape(total, 2)
