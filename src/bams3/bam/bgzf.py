"""BGZF: virtual positions, block frames, and block readers over any binary stream.

BGZF (SAMv1 §4.1) is a series of gzip members of at most 64 KiB each, every one with a
``BC`` extra subfield giving its size, so a reader can find block boundaries without
inflating anything and can start at any block. This module knows nothing of BAM: it
turns a stream into inflated blocks (compressed offset, compressed size, inflated
bytes), checking every frame (gzip magic, BSIZE, CRC32, ISIZE) and the end-of-file
marker. :mod:`bams3.bam.reader` builds BAM records on top; :mod:`bams3.bam.bgzf_writer`
writes blocks.

The fast path, :class:`BlockReader`, hands over *runs*: many consecutive blocks inflated
into one buffer. It needs no numpy (``bams3 flagstat`` never imports it: 0.08 s
of start-up). The C helper (``_walk.c``) scans a slab of compressed bytes for frames
in one call and, when built with libdeflate, inflates and checks a whole run straight
into the run's buffer in one more call, without the GIL (which is what lets
``threads > 1`` inflate runs in parallel). Without libdeflate in the build, blocks are
inflated one by one with the ``deflate`` package (libdeflate too, as a Python binding:
same checks and results, a Python call and a copy per block). The one-frame functions
(:func:`read_frame`, :func:`inflate_block`) are for a handful of blocks.
"""
from __future__ import annotations

import struct
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from ..errors import BgzfError
from . import _layout as L
from . import _walk

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = [
    "VirtualPosition",
    "Block",
    "Frame",
    "parse_header",
    "parse_trailer",
    "read_frame",
    "inflate_block",
    "iter_blocks",
    "iter_block_runs",
    "BlockReader",
    "InflatedRun",
    "RawBlock",
    "SLAB_BYTES",
]

#: the block iterator reads the stream in slabs this large once past the first few blocks
#: (the first reads are small so that reading only a header costs one small request)
SLAB_BYTES = 4 * 1024 * 1024
_FIRST_SLAB_BYTES = 64 * 1024
#: frames scanned per C call (a 4 MiB slab of ~20 KB blocks holds ~200)
_SCAN_ROWS = 1024
#: inflated bytes that read-ahead may hold in runs not yet handed over (threads > 1)
_READ_AHEAD_BYTES = 32 * 1024 * 1024
#: run size for the block-by-block iterators
_ITER_RUN_BYTES = 2 * 1024 * 1024
#: buffer sizes are rounded up to this
_BUFFER_GRAIN = 256 * 1024

_TRAILER = struct.Struct("<II")
_BSIZE = struct.Struct("<H")
#: the 16 header bytes every BGZF block written by htslib/bgzip/us starts with, up to BSIZE:
#: magic, CM=8, FLG=FEXTRA, MTIME, XFL, OS (not compared), XLEN=6, then "BC", SLEN=2
_COMMON_PREFIX = bytes((L.GZIP_ID1, L.GZIP_ID2, L.GZIP_CM_DEFLATE, L.GZIP_FLG_FEXTRA))
_COMMON_EXTRA = b"\x06\x00BC\x02\x00"


@dataclass(frozen=True, order=True, slots=True)
class VirtualPosition:
    """A position in a BGZF file: the compressed offset of a block, and an offset in its data.

    Packed as one 64-bit integer ``compressed << 16 | uncompressed`` (SAMv1 §4.1.1), which
    is what indexes store. Ordering is the order of positions in the stream.

    Examples
    --------
    A record 86 bytes into the inflated data of the block that starts at byte 4660:

    >>> vp = VirtualPosition(4660, 86)
    >>> int(vp), hex(int(vp))
    (305397846, '0x12340056')
    >>> VirtualPosition.from_int(0x12340056)
    VirtualPosition(compressed=4660, uncompressed=86)
    >>> VirtualPosition(4660, 86) < VirtualPosition(4661, 0)
    True
    """

    compressed: int
    uncompressed: int

    def __post_init__(self) -> None:
        if not 0 <= self.compressed <= L.VIRTUAL_MAX_COFFSET:
            raise ValueError(f"compressed offset {self.compressed} outside 0..2^48-1")
        if not 0 <= self.uncompressed <= L.VIRTUAL_UOFFSET_MASK:
            raise ValueError(f"uncompressed offset {self.uncompressed} outside 0..65535")

    @classmethod
    def from_int(cls, value: int) -> VirtualPosition:
        """Unpack an index's 64-bit virtual offset."""
        value = int(value)
        if not 0 <= value < 1 << 64:
            raise ValueError(f"virtual offset {value} is not an unsigned 64-bit integer")
        return cls(value >> L.VIRTUAL_SHIFT, value & L.VIRTUAL_UOFFSET_MASK)

    def __int__(self) -> int:
        return self.compressed << L.VIRTUAL_SHIFT | self.uncompressed

    def __str__(self) -> str:
        return f"{self.compressed}:{self.uncompressed}"


#: the smallest and largest positions, as in noodles
VirtualPosition.MIN = VirtualPosition(0, 0)  # type: ignore[attr-defined]
VirtualPosition.MAX = VirtualPosition(L.VIRTUAL_MAX_COFFSET, L.VIRTUAL_UOFFSET_MASK)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Block:
    """One inflated BGZF block: where it starts in the file, its size there, and its data."""

    coffset: int
    csize: int
    #: the inflated bytes
    data: bytes | bytearray

    @property
    def isize(self) -> int:
        """Inflated size (ISIZE)."""
        return len(self.data)

    def virtual_position(self, uoffset: int = 0) -> VirtualPosition:
        """The virtual position ``uoffset`` bytes into this block's data."""
        return VirtualPosition(self.coffset, uoffset)


@dataclass(frozen=True, slots=True)
class Frame:
    """The raw bytes of one block, not yet inflated: ``buffer[start:end]`` at file offset ``coffset``.

    ``buffer`` is the slab the frame was read into; frames of one slab share it, so
    slicing costs nothing and the slab lives as long as any of its frames.
    """

    coffset: int
    buffer: bytes | bytearray
    start: int
    end: int
    header_size: int

    @property
    def csize(self) -> int:
        return self.end - self.start

    def raw(self) -> bytes:
        """The frame's bytes (header, deflate data, trailer)."""
        return bytes(self.buffer[self.start : self.end])


def parse_header(buffer: bytes | bytearray | memoryview, start: int, *, name: str, coffset: int) -> tuple[int, int]:
    """Check a block header at ``buffer[start:]`` and return ``(header_size, block_size)``.

    ``block_size`` is BSIZE + 1, the whole frame. The buffer must hold at least the fixed
    header; the extra field is read only as far as the buffer goes (a short buffer raises
    ``BgzfError`` naming a truncated block).

    Raises
    ------
    BgzfError
        Not gzip, gzip without the ``BC`` subfield (plain gzip, not BGZF), or a BSIZE
        too small to hold the header and trailer.
    """
    if (
        len(buffer) - start >= L.BGZF_MIN_HEADER_SIZE
        and buffer[start : start + 4] == _COMMON_PREFIX
        and buffer[start + 10 : start + 16] == _COMMON_EXTRA
    ):
        # the form every BGZF writer uses: XLEN 6, one subfield, BC
        header_size = L.BGZF_MIN_HEADER_SIZE
        (bsize,) = _BSIZE.unpack_from(buffer, start + 16)
    else:
        header_size, bsize = _parse_general_header(buffer, start, name=name, coffset=coffset)
    block_size = bsize + 1
    if block_size < header_size + L.BGZF_TRAILER_SIZE:
        raise BgzfError(f"{name}: BGZF block at offset {coffset} declares size {block_size}, too small for its header")
    return header_size, block_size


def _parse_general_header(buffer: bytes | bytearray | memoryview, start: int, *, name: str, coffset: int) -> tuple[int, int]:
    """The slow path of :func:`parse_header`: any XLEN, the BC subfield anywhere in the extra field."""
    fixed = bytes(buffer[start : start + L.GZIP_FIXED_HEADER_SIZE])
    magic = bytes((L.GZIP_ID1, L.GZIP_ID2))
    if len(fixed) < 2 and magic.startswith(fixed):
        raise BgzfError(f"{name}: truncated BGZF block header at offset {coffset}")
    if fixed[:2] != magic:
        where = "not a BGZF file (no gzip magic at offset 0)" if coffset == 0 else f"bad gzip magic in BGZF block at offset {coffset}"
        raise BgzfError(f"{name}: {where}")
    if len(fixed) < L.GZIP_FIXED_HEADER_SIZE:
        raise BgzfError(f"{name}: truncated BGZF block header at offset {coffset}")
    if fixed[2] != L.GZIP_CM_DEFLATE:
        raise BgzfError(f"{name}: gzip member at offset {coffset} uses compression method {fixed[2]}, not deflate")
    if not fixed[3] & L.GZIP_FLG_FEXTRA:
        raise BgzfError(f"{name}: gzip member at offset {coffset} has no extra field: a plain gzip file, not BGZF")
    (xlen,) = _BSIZE.unpack_from(fixed, L.GZIP_XLEN_OFFSET)
    extra = bytes(buffer[start + L.GZIP_FIXED_HEADER_SIZE : start + L.GZIP_FIXED_HEADER_SIZE + xlen])
    if len(extra) < xlen:
        raise BgzfError(f"{name}: truncated BGZF block header at offset {coffset}")
    pos = 0
    while pos + 4 <= xlen:
        subfield_id = extra[pos : pos + 2]
        (slen,) = _BSIZE.unpack_from(extra, pos + 2)
        if subfield_id == L.BGZF_SUBFIELD_ID and slen == L.BGZF_SUBFIELD_LEN and pos + 6 <= xlen:
            (bsize,) = _BSIZE.unpack_from(extra, pos + 4)
            return L.GZIP_FIXED_HEADER_SIZE + xlen, bsize
        pos += 4 + slen
    raise BgzfError(f"{name}: gzip member at offset {coffset} has no BGZF 'BC' subfield: a plain gzip file, not BGZF")


def parse_trailer(frame: Frame) -> tuple[int, int]:
    """``(crc32, isize)`` from the last 8 bytes of a frame."""
    return _TRAILER.unpack_from(frame.buffer, frame.end - L.BGZF_TRAILER_SIZE)


def read_frame(fileobj: BinaryIO, *, name: str, coffset: int) -> Frame | None:
    """Read exactly one frame from ``fileobj``, or ``None`` at a clean end of stream.

    For reading a handful of blocks (a header, an EOF probe); :func:`iter_blocks` reads
    whole slabs and is the fast path.
    """
    head = _read_exactly(fileobj, L.BGZF_MIN_HEADER_SIZE)
    if not head:
        return None
    if len(head) < L.BGZF_MIN_HEADER_SIZE:
        parse_header(head, 0, name=name, coffset=coffset)  # a clear error if it is not gzip at all
        raise BgzfError(f"{name}: truncated BGZF block at offset {coffset}")
    if not (head[:4] == _COMMON_PREFIX and head[10:16] == _COMMON_EXTRA):
        # rare layout: read the extra field too before parsing
        (xlen,) = _BSIZE.unpack_from(head, L.GZIP_XLEN_OFFSET) if head[:2] == bytes((L.GZIP_ID1, L.GZIP_ID2)) else (0,)
        head += _read_exactly(fileobj, max(0, L.GZIP_FIXED_HEADER_SIZE + xlen - len(head)))
    header_size, block_size = parse_header(head, 0, name=name, coffset=coffset)
    rest = _read_exactly(fileobj, block_size - len(head))
    if len(head) + len(rest) < block_size:
        raise BgzfError(f"{name}: truncated BGZF block at offset {coffset}: file ends inside the block")
    return Frame(coffset, head + rest, 0, block_size, header_size)


def inflate_block(frame: Frame, *, name: str) -> Block:
    """Inflate one frame, checking ISIZE and the CRC32 of the result.

    Raises
    ------
    BgzfError
        ISIZE above 64 KiB (checked before allocating), deflate data that does not
        inflate, an inflated size other than ISIZE, or a CRC mismatch.
    """
    data = _inflate(frame.buffer, frame.start, frame.end, frame.header_size, frame.coffset, name)
    return Block(frame.coffset, frame.end - frame.start, data)


def _inflate(buffer: bytes | bytearray | memoryview, start: int, end: int, header_size: int, coffset: int, name: str) -> bytearray:
    """The checked inflate of the frame ``buffer[start:end]`` (shared by every path)."""
    import deflate  # only the fallback and the one-frame path need it (costs import time)

    crc, isize = _TRAILER.unpack_from(buffer, end - L.BGZF_TRAILER_SIZE)
    if isize > L.BGZF_MAX_ISIZE:
        raise BgzfError(f"{name}: BGZF block at offset {coffset} declares ISIZE {isize}, above the 65536 limit")
    try:
        # data that would inflate past ISIZE fails here too (the output buffer is full)
        data = deflate.deflate_decompress(memoryview(buffer)[start + header_size : end - L.BGZF_TRAILER_SIZE], isize)
    except deflate.DeflateError:
        raise BgzfError(f"{name}: corrupt deflate data in BGZF block at offset {coffset}") from None
    if len(data) != isize:
        raise BgzfError(f"{name}: ISIZE mismatch in BGZF block at offset {coffset}: inflated {len(data)} bytes, trailer says {isize}")
    if deflate.crc32(data) != crc:
        raise BgzfError(f"{name}: CRC mismatch in BGZF block at offset {coffset}")
    return data


#: one block as :func:`iter_block_runs` passes it: (coffset, csize, inflated data)
RawBlock = tuple[int, int, bytes]


@dataclass(frozen=True, slots=True, eq=False)
class InflatedRun:
    """Consecutive blocks inflated into one buffer: their data is ``data[start:stop]``.

    ``data[:start]`` is left free on purpose: a BAM reader puts the incomplete record that
    ended the previous run there, in front of this run's data, instead of copying the run.

    Attributes
    ----------
    coffsets, csizes, starts
        Per block, in order: its compressed offset in the file, its compressed size, and
        where its inflated data starts in ``data`` (the virtual position of byte ``p`` of
        ``data`` is ``coffsets[i] << 16 | (p - starts[i])`` for the last ``i`` with
        ``starts[i] <= p``).
    """

    data: bytearray
    start: int
    stop: int
    #: int64 arrays (``array('q')``: usable as buffers by the C helper and by numpy)
    coffsets: array[int]
    csizes: array[int]
    starts: array[int]

    @property
    def size(self) -> int:
        """Inflated bytes in the run."""
        return self.stop - self.start

    def blocks(self) -> list[RawBlock]:
        """The run as ``(coffset, csize, data)`` tuples (copies of each block's data)."""
        bounds = self.starts.tolist() + [self.stop]
        return [
            (coffset, csize, bytes(self.data[bounds[i] : bounds[i + 1]]))
            for i, (coffset, csize) in enumerate(zip(self.coffsets, self.csizes))
        ]


@dataclass(slots=True, eq=False)
class _Slab:
    """Compressed bytes read from the stream, and the complete frames found in them."""

    #: the bytes read, a view of ``storage`` (reused for a later slab once no plan needs it)
    buf: memoryview
    storage: bytearray
    #: file offset of ``buf[0]``
    coffset: int
    #: one tuple per frame: offset in ``buf``, block size, ISIZE, header size (_walk.scan_frames)
    frames: list[tuple[int, int, int, int]]
    #: frames already handed to a plan
    taken: int = 0
    #: raised once every frame before it has been handed over (bad framing, truncation, no EOF marker)
    error: BgzfError | None = None
    #: file offset of the bad (or missing) block: a reader limited to blocks before it never sees the error
    error_coffset: int = 0
    #: plans not yet inflated that read from this slab
    busy: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class _Plan:
    """Frames to inflate into one run: ``(slab, first, end)`` pieces, their inflated size, and
    the error that follows them in the stream, if any."""

    pieces: tuple[tuple[_Slab, int, int], ...]
    size: int
    error: BgzfError | None
    #: the buffer to inflate into (at least gap + size bytes; maybe one given back by the caller)
    out: bytearray
    #: the run's block table, built with the plan (in the reading thread, so that the
    #: inflate threads hold the GIL as little as possible)
    coffsets: array[int]
    csizes: array[int]
    starts: array[int]


class BlockReader:
    """Inflate a BGZF stream run by run: consecutive blocks into one contiguous buffer.

    This is the fast path under :class:`~bams3.bam.reader.BamReader`. The stream is read in
    slabs (growing from 64 KiB to ``slab_bytes``); the C helper locates and checks the
    frames of a slab in one call, and with libdeflate (``_walk.HAVE_LIBDEFLATE``) inflates
    a whole run of them straight into the run's buffer, checking ISIZE and CRC32, in one
    more call with the GIL released: no Python step and no copy per block. Without
    libdeflate each block is inflated by the ``deflate`` package and copied once.

    With ``threads > 1``, once :meth:`start_read_ahead` is called, runs of about
    ``target_bytes`` are planned ahead and inflated in a thread pool while the caller
    works on earlier ones; memory stays at a few runs and slabs whatever the file size.
    Before that (reading a header, say) runs are inflated on demand, as with one thread.

    Errors are raised when the caller reaches the bad block, not when read-ahead meets it:
    a caller that stops early (a virtual-offset range ending before a truncated tail)
    never sees errors from bytes it did not need. A run is handed over with the good
    blocks before a bad one; the next :meth:`read` raises.

    Parameters
    ----------
    fileobj
        Binary stream positioned at the start of a block (``read(n)``; ``readinto`` is
        used when present).
    name
        File or URL (redacted) named in error messages.
    start_coffset
        File offset of the stream's first byte, so that blocks carry true offsets when
        the stream is a ranged read starting mid-file.
    threads
        Inflate threads; 1 inflates in the calling thread.
    require_eof
        Whether the stream must end with the BGZF EOF marker. Whole files: yes (a file
        without it is truncated; samtools only warns, we refuse). Ranged reads that end
        mid-file: no (the stream may then also end inside a block; that raises only if
        the caller asks for that block).
    limit
        Compressed offset from which blocks are not read by :meth:`read` (only by
        :meth:`read_beyond_limit`): a ranged read's blocks past its end position.
    gap
        Free bytes left at the front of every run's buffer.
    slab_bytes
        Largest single read from the stream.
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        *,
        name: str,
        start_coffset: int = 0,
        threads: int = 1,
        require_eof: bool = True,
        limit: int | None = None,
        gap: int = 0,
        slab_bytes: int = SLAB_BYTES,
    ) -> None:
        self.name = name
        self._target_bytes = 0  # > 0 once read-ahead has started
        self._fileobj = fileobj
        self._start_coffset = start_coffset
        self._require_eof = require_eof
        self._limit = limit
        self._gap = gap
        self._slab_bytes = slab_bytes
        self._want = min(_FIRST_SLAB_BYTES, slab_bytes)
        self._carry = b""  # bytes of an incomplete frame at the end of the previous slab
        self._carry_coffset = start_coffset
        self._slab: _Slab | None = None
        self._stream_done = False
        self._saw_frame = False
        self._last_is_eof = False
        self._error: BgzfError | None = None  # reached by the caller: raised by every later read
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[_Plan, Future[tuple[InflatedRun | None, BgzfError | None]]]] = deque()
        self._planned_all = False  # read-ahead met the limit or the end of the stream
        # buffers to reuse: a fresh one costs a page fault per 4 KiB (~50,000 for a 260 MB BAM)
        self._free_slabs: list[bytearray] = []
        self._free_runs: list[bytearray] = []

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recycle(self, run: InflatedRun) -> None:
        """Give back a run whose data nobody will read again: its buffer is reused for a later run."""
        _give(self._free_runs, run.data, keep=2 * self._threads + 2)

    def start_read_ahead(self, target_bytes: int) -> None:
        """From now on (with threads > 1) inflate runs of about ``target_bytes`` ahead of the reads."""
        self._target_bytes = max(1, target_bytes)

    def close(self) -> None:
        """Stop reading: cancel read-ahead and shut the inflate threads down (the stream is the caller's)."""
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def read(self, min_bytes: int = 1) -> InflatedRun | None:
        """The next run of blocks before the limit: at least ``min_bytes`` of data when the
        stream has them, else what is left; ``None`` at the limit or the end of the stream.

        Raises
        ------
        BgzfError
            The next block is bad, truncated, or the stream lacks its EOF marker.
        """
        run = self._next_run(min_bytes, self._limit)
        if run is None or run.size >= min_bytes or self._error is not None:
            return run
        parts, total = [run], run.size  # read-ahead runs are target-sized: join a few
        while total < min_bytes and self._error is None:
            more = self._next_run(min_bytes - total, self._limit)
            if more is None:
                break
            parts.append(more)
            total += more.size
        return _join_runs(parts, self._gap)

    def read_beyond_limit(self, min_bytes: int) -> InflatedRun | None:
        """Like :meth:`read`, past the limit (when :meth:`read` has returned ``None``): for a
        record that starts before a range's end and continues after it."""
        if self._pending:
            raise RuntimeError("read_beyond_limit: runs before the limit are still unread")
        return self._next_run(min_bytes, None)

    # --- one run -----------------------------------------------------------------------

    def _next_run(self, min_bytes: int, limit: int | None) -> InflatedRun | None:
        if self._error is not None:
            raise self._error
        if self._threads > 1 and self._target_bytes and limit == self._limit:
            self._fill_queue()
            if not self._pending:
                return None
            plan, future = self._pending.popleft()
            run, error = future.result()
            self._done_with(plan)
            self._fill_queue()
        else:
            plan = self._plan(max(min_bytes, 1), limit)
            if plan is None:
                return None
            run, error = _inflate_plan(plan, self._gap, self.name)
            self._done_with(plan)
        if error is not None:
            self._error = error
            if run is None:
                raise error
        return run

    def _fill_queue(self) -> None:
        """Keep a few runs inflating in the pool (bounded in number and in bytes)."""
        if self._planned_all:
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor  # only with threads > 1 (import time)

            self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="bams3-inflate")
        in_flight = max(1, min(2 * self._threads, _READ_AHEAD_BYTES // self._target_bytes))
        while len(self._pending) < in_flight:
            plan = self._plan(self._target_bytes, self._limit)
            if plan is None:
                self._planned_all = True
                return
            self._pending.append((plan, self._pool.submit(_inflate_plan, plan, self._gap, self.name)))
            if plan.error is not None:
                self._planned_all = True
                return

    def _plan(self, min_bytes: int, limit: int | None) -> _Plan | None:
        """The next frames, at least ``min_bytes`` of data unless the limit, the end of the
        stream or an error comes first; ``None`` if there are none."""
        pieces: list[tuple[_Slab, int, int]] = []
        size = 0
        error = None
        while size < min_bytes:
            slab = self._slab
            if slab is None or slab.taken == len(slab.frames):
                if slab is not None and slab.error is not None:
                    if limit is not None and slab.error_coffset >= limit:
                        break  # the bad bytes lie past the limit: not this reader's business (yet)
                    error, slab.error = slab.error, None
                    break
                slab = self._slab = self._next_slab()
                if slab is None:
                    break
                continue
            first = k = slab.taken
            frames = slab.frames
            # frames at or past ``limit`` (a position in this slab) are left for read_beyond_limit
            end = len(frames) if limit is None else max(0, limit - slab.coffset)
            while k < len(frames) and size < min_bytes and (limit is None or frames[k][0] < end):
                size += frames[k][2]
                k += 1
            if k == first:
                break  # the next frame is past the limit
            pieces.append((slab, first, k))
            slab.taken = k
            slab.busy += 1
        if not pieces and error is None:
            return None
        coffsets, csizes, starts = array("q"), array("q"), array("q")
        pos = self._gap
        for slab, first, end in pieces:
            for start, block_size, isize, _ in slab.frames[first:end]:
                coffsets.append(slab.coffset + start)
                csizes.append(block_size)
                starts.append(pos)
                pos += isize
        return _Plan(tuple(pieces), size, error, _take(self._free_runs, self._gap + size), coffsets, csizes, starts)

    def _done_with(self, plan: _Plan) -> None:
        """A plan has been inflated: slabs it was the last to read from are free for reuse."""
        for slab, _, _ in plan.pieces:
            slab.busy -= 1
            self._release(slab)

    def _release(self, slab: _Slab) -> None:
        if slab.busy == 0 and slab is not self._slab and slab.storage:
            _give(self._free_slabs, slab.storage, keep=2)
            slab.storage = bytearray()  # the slab can no longer hand it out twice

    def _next_slab(self) -> _Slab | None:
        """Read and scan the next slab; ``None`` once the stream is done."""
        if self._stream_done:
            return None
        carry, coffset = self._carry, self._carry_coffset
        if self._slab is not None:
            old, self._slab = self._slab, None
            self._release(old)
        storage = _take(self._free_slabs, len(carry) + self._want)
        slab = _read_slab(self._fileobj, carry, memoryview(storage)[: len(carry) + self._want])
        at_end = len(slab) - len(carry) < self._want  # _read_slab only comes back short at end of stream
        self._want = min(2 * self._want, self._slab_bytes)
        frames, pos, status = _scan_slab(slab)
        error: BgzfError | None = None
        if status == _walk.FRAME_BAD_HEADER:
            error = _header_error(slab, pos, coffset + pos, self.name)
        elif status == _walk.FRAME_BAD_ISIZE:
            isize = int.from_bytes(slab[pos + _frame_size(slab, pos) - 4 : pos + _frame_size(slab, pos)], "little")
            error = BgzfError(
                f"{self.name}: BGZF block at offset {coffset + pos} declares ISIZE {isize}, above the 65536 limit"
            )
        elif at_end and pos < len(slab):
            error = _truncation_error(slab, pos, coffset + pos, self.name)
        if frames:
            self._saw_frame = True
            last_start, last_size = frames[-1][0], frames[-1][1]
            self._last_is_eof = slab[last_start : last_start + last_size] == L.BGZF_EOF_MARKER
        if error is not None or at_end:
            self._stream_done = True
            self._carry = b""
            if error is None and not self._saw_frame and self._start_coffset == 0:
                error = BgzfError(f"{self.name}: empty file, not BGZF")
            elif error is None and self._require_eof and not self._last_is_eof:
                error = BgzfError(
                    f"{self.name}: missing BGZF EOF marker: the file is truncated (stream ends at offset {coffset + pos})"
                )
        else:
            self._carry = bytes(memoryview(slab)[pos:])
            self._carry_coffset = coffset + pos
        return _Slab(slab, storage, coffset, frames, error=error, error_coffset=coffset + pos)


def _scan_slab(slab: memoryview) -> tuple[list[tuple[int, int, int, int]], int, int]:
    """All complete frames of a slab: (frames, where scanning stopped, status)."""
    frames: list[tuple[int, int, int, int]] = []
    pos, status = 0, 0
    table = array("q", bytes(8 * _walk.FRAME_COLUMNS * _SCAN_ROWS))
    while True:
        n, pos, status = _walk.scan_frames(slab, pos, len(slab), table)
        values = iter(table[: n * _walk.FRAME_COLUMNS].tolist())
        frames += zip(values, values, values, values)
        if n < _SCAN_ROWS or status:
            break
    return frames, pos, status


def _frame_size(buffer: memoryview, pos: int) -> int:
    return parse_header(buffer, pos, name="", coffset=0)[1]


def _header_error(slab: memoryview, pos: int, coffset: int, name: str) -> BgzfError:
    """The error :func:`parse_header` gives for the bad header the scanner stopped at."""
    try:
        parse_header(slab, pos, name=name, coffset=coffset)
    except BgzfError as exc:
        return exc
    return BgzfError(f"{name}: malformed BGZF block header at offset {coffset}")  # the two checks disagree


def _truncation_error(slab: memoryview, pos: int, coffset: int, name: str) -> BgzfError:
    """The stream ends at ``slab[pos:]``, inside a block."""
    try:
        _, block_size = parse_header(slab, pos, name=name, coffset=coffset)  # names non-gzip bytes precisely
    except BgzfError as exc:
        return exc
    return BgzfError(
        f"{name}: truncated BGZF block at offset {coffset}: file ends after {len(slab) - pos} of its {block_size} bytes"
    )


def _inflate_plan(plan: _Plan, gap: int, name: str) -> tuple[InflatedRun | None, BgzfError | None]:
    """Inflate a plan's frames into one new buffer (also the thread-pool task: no GIL held
    while inflating). Returns the run of good blocks (``None`` if none) and the error that
    stopped it, if any."""
    pos, done = gap, 0
    error = plan.error
    for slab, first, end in plan.pieces:
        good, pos, bad = _INFLATE_FRAMES(slab, slab.frames[first:end], plan.out, pos, name)
        done += good
        if bad is not None:
            error = bad
            break
    if not done:
        return None, error
    if done == len(plan.coffsets):
        return InflatedRun(plan.out, gap, pos, plan.coffsets, plan.csizes, plan.starts), error
    return InflatedRun(plan.out, gap, pos, plan.coffsets[:done], plan.csizes[:done], plan.starts[:done]), error


def _inflate_frames_c(
    slab: _Slab, frames: list[tuple[int, int, int, int]], data: bytearray, pos: int, name: str
) -> tuple[int, int, BgzfError | None]:
    """Inflate consecutive frames with libdeflate in one C call: (good blocks, data end, error)."""
    start, stop = frames[0][0], frames[-1][0] + frames[-1][1]
    good, _, pos, status, detail = _walk.inflate_frames(slab.buf, start, stop, data, pos)
    if not status:
        return good, pos, None
    coffset = slab.coffset + frames[good][0]
    isize = frames[good][2]
    if status == _walk.INFLATE_CORRUPT:
        message = f"corrupt deflate data in BGZF block at offset {coffset}"
    elif status == _walk.INFLATE_SIZE:
        message = f"ISIZE mismatch in BGZF block at offset {coffset}: inflated {detail} bytes, trailer says {isize}"
    elif status == _walk.INFLATE_CRC:
        message = f"CRC mismatch in BGZF block at offset {coffset}"
    elif status == _walk.INFLATE_BAD_ISIZE:
        message = f"BGZF block at offset {coffset} declares ISIZE {isize}, above the 65536 limit"
    else:  # the slab was scanned before: a header cannot turn bad unless memory changed under us
        message = f"malformed BGZF block header at offset {coffset}"
    return good, pos, BgzfError(f"{name}: {message}")


def _inflate_frames_py(
    slab: _Slab, frames: list[tuple[int, int, int, int]], data: bytearray, pos: int, name: str
) -> tuple[int, int, BgzfError | None]:
    """The fallback without libdeflate: each block through the ``deflate`` package, then copied."""
    for good, (start, size, _, header_size) in enumerate(frames):
        try:
            block = _inflate(slab.buf, start, start + size, header_size, slab.coffset + start, name)
        except BgzfError as exc:
            return good, pos, exc
        data[pos : pos + len(block)] = block
        pos += len(block)
    return len(frames), pos, None


#: how runs are inflated: with libdeflate straight into the run's buffer when the C helper
#: has it, else block by block (tests switch this to exercise the fallback)
_INFLATE_FRAMES = _inflate_frames_c if _walk.HAVE_LIBDEFLATE else _inflate_frames_py


def _join_runs(parts: list[InflatedRun], gap: int) -> InflatedRun:
    """Consecutive runs as one (their data copied into a new buffer)."""
    data = _walk.new_buffer(gap + sum(p.size for p in parts))
    coffsets, csizes, starts = array("q"), array("q"), array("q")
    pos = gap
    for p in parts:
        data[pos : pos + p.size] = memoryview(p.data)[p.start : p.stop]
        coffsets += p.coffsets
        csizes += p.csizes
        starts.extend(start - p.start + pos for start in p.starts)
        pos += p.size
    return InflatedRun(data, gap, pos, coffsets, csizes, starts)


def iter_blocks(
    fileobj: BinaryIO,
    *,
    name: str,
    start_coffset: int = 0,
    threads: int = 1,
    require_eof: bool = True,
    slab_bytes: int = SLAB_BYTES,
) -> Iterator[Block]:
    """Yield the blocks of a BGZF stream, inflated and checked, in file order.

    One :class:`Block` (with a copy of its data) per block: for reading indexes, headers
    and small ranges. :class:`BlockReader` is the fast path for whole files.

    Parameters
    ----------
    fileobj, name, start_coffset, threads, require_eof, slab_bytes
        As for :class:`BlockReader`.

    Raises
    ------
    BgzfError
        Bad framing, bad data, a truncated block, or a missing EOF marker, when the
        iteration reaches it.
    """
    for run in iter_block_runs(
        fileobj, name=name, start_coffset=start_coffset, threads=threads, require_eof=require_eof, slab_bytes=slab_bytes
    ):
        for coffset, csize, data in run:
            yield Block(coffset, csize, data)


def iter_block_runs(
    fileobj: BinaryIO,
    *,
    name: str,
    start_coffset: int = 0,
    threads: int = 1,
    require_eof: bool = True,
    slab_bytes: int = SLAB_BYTES,
) -> Iterator[list[RawBlock]]:
    """:func:`iter_blocks` in runs of consecutive blocks, as plain ``(coffset, csize, data)`` tuples."""
    reader = BlockReader(
        fileobj,
        name=name,
        start_coffset=start_coffset,
        threads=threads,
        require_eof=require_eof,
        slab_bytes=slab_bytes,
    )
    with reader:
        reader.start_read_ahead(_ITER_RUN_BYTES)
        while (run := reader.read(_ITER_RUN_BYTES)) is not None:
            yield run.blocks()


def _take(free: list[bytearray], size: int) -> bytearray:
    """A buffer of at least ``size`` bytes: a free one if one is big enough, else a new one.

    New buffers are not zero-filled (``_walk.new_buffer``: only bytes written are read)
    and are rounded up to 256 KiB, so that runs and slabs, whose sizes vary by up to a
    block, fit in each other's buffers.
    """
    for i, buffer in enumerate(free):
        if len(buffer) >= size:
            return free.pop(i)
    return _walk.new_buffer(-(-size // _BUFFER_GRAIN) * _BUFFER_GRAIN)


def _give(free: list[bytearray], buffer: bytearray, *, keep: int) -> None:
    """Keep ``buffer`` for reuse, holding at most ``keep`` (the largest)."""
    free.append(buffer)
    if len(free) > keep:
        free.remove(min(free, key=len))


def _read_slab(fileobj: BinaryIO, carry: bytes, view: memoryview) -> memoryview:
    """``carry`` followed by as many bytes from the stream as fill ``view`` (fewer at its end).

    ``view`` is not zero-filled first (it is a new or a reused buffer): only the bytes
    read are ever looked at.
    """
    view[: len(carry)] = carry
    filled = len(carry)
    readinto = getattr(fileobj, "readinto", None)
    while filled < len(view):
        if readinto is not None:
            n = readinto(view[filled:])
        else:
            chunk = fileobj.read(len(view) - filled)
            n = len(chunk)
            view[filled : filled + n] = chunk
        if not n:
            break
        filled += n
    return view[:filled]


def _read_exactly(fileobj: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes: fewer only at end of stream."""
    parts = []
    remaining = n
    while remaining > 0:
        chunk = fileobj.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)
