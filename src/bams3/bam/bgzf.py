"""BGZF: virtual positions, block frames, and a block iterator over any binary stream.

BGZF (SAMv1 §4.1) is a series of gzip members of at most 64 KiB each, every one with a
``BC`` extra subfield giving its size, so a reader can find block boundaries without
inflating anything and can start at any block. This module knows nothing of BAM: it
turns a stream into :class:`Block` objects (compressed offset, compressed size, inflated
bytes), checking every frame (gzip magic, BSIZE, CRC32, ISIZE) and the end-of-file
marker. :mod:`bams3.bam.reader` builds BAM records on top; :mod:`bams3.bam.bgzf_writer`
writes blocks.

Inflate uses libdeflate (the ``deflate`` package): it is as fast as htslib's own path
and releases the GIL, which is what lets ``threads > 1`` inflate blocks in parallel.
"""
from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import deflate

from ..errors import BgzfError
from . import _layout as L

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
    "RawBlock",
    "SLAB_BYTES",
]

#: the block iterator reads the stream in slabs this large once past the first few blocks
#: (the first reads are small so that reading only a header costs one small request)
SLAB_BYTES = 4 * 1024 * 1024
_FIRST_SLAB_BYTES = 64 * 1024
#: blocks per run (per thread-pool task), ~2 MiB of output: large enough that the
#: per-run overhead is noise, small enough that two threads share a slab evenly
_BLOCKS_PER_TASK = 32

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
    #: the inflated bytes (libdeflate hands back a bytearray; nothing here mutates it)
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


def _inflate(buffer: bytes | bytearray, start: int, end: int, header_size: int, coffset: int, name: str) -> bytearray:
    """The checked inflate of the frame ``buffer[start:end]`` (shared by every path)."""
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


#: one block as the fast internal path passes it: (coffset, csize, inflated data)
RawBlock = tuple[int, int, bytearray]
#: a frame located in a slab: (coffset, start, end, header_size)
_FrameSpan = tuple[int, int, int, int]


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

    The stream is read in slabs (growing from 64 KiB to ``slab_bytes``), frames are
    located in each slab without copying, and inflated in the calling thread, or with
    ``threads > 1`` in a small thread pool that runs a few tasks ahead of the consumer.
    Memory stays at about one slab plus the blocks in flight, whatever the file size.

    Errors are raised when the consumer reaches the bad block, not when read-ahead meets
    it: a caller that stops early (a virtual-offset range ending before a truncated tail)
    never sees errors from bytes it did not need.

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
        the consumer asks for that block).
    slab_bytes
        Largest single read from the stream.

    Raises
    ------
    BgzfError
        Bad framing, bad data, a truncated block, or a missing EOF marker.
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
    """:func:`iter_blocks` in runs of consecutive blocks, as plain ``(coffset, csize, data)`` tuples.

    The fast path under :class:`~bams3.bam.reader.BamReader`: a 30x genome has millions
    of blocks, and handing them over a run at a time, without an object per block,
    keeps the per-block Python cost to a few hundred nanoseconds. Same parameters,
    checks and error timing as :func:`iter_blocks`.
    """
    runs = _iter_frame_runs(fileobj, name=name, start_coffset=start_coffset, require_eof=require_eof, slab_bytes=slab_bytes)
    if threads <= 1:
        for slab, frames in runs:
            blocks, error = _inflate_run(slab, frames, name)
            if blocks:
                yield blocks
            if error is not None:
                raise error
        return
    yield from _iter_runs_threaded(runs, name=name, threads=threads)


def _inflate_run(slab: bytearray, frames: list[_FrameSpan], name: str) -> tuple[list[RawBlock], BgzfError | None]:
    """Inflate consecutive frames of one slab (also the thread-pool task: libdeflate drops the GIL).

    Returns the blocks inflated and, if a frame was bad, its error: the caller hands
    the good blocks over before raising it.
    """
    out: list[RawBlock] = []
    for coffset, start, end, header_size in frames:
        try:
            data = _inflate(slab, start, end, header_size, coffset, name)
        except BgzfError as exc:
            return out, exc
        out.append((coffset, end - start, data))
    return out, None


def _iter_runs_threaded(
    runs: Iterator[tuple[bytearray, list[_FrameSpan]]], *, name: str, threads: int
) -> Iterator[list[RawBlock]]:
    """Inflate runs in a pool, keeping a bounded number of tasks in flight, results in order."""
    max_in_flight = 2 * threads
    pending: deque[Future[tuple[list[RawBlock], BgzfError | None]] | BgzfError] = deque()
    exhausted = False
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bams3-inflate") as pool:
        try:
            while True:
                while not exhausted and len(pending) < max_in_flight:
                    try:
                        slab, frames = next(runs)
                    except StopIteration:
                        exhausted = True
                        break
                    except BgzfError as exc:  # deferred until the consumer reaches it
                        exhausted = True
                        pending.append(exc)
                        break
                    pending.append(pool.submit(_inflate_run, slab, frames, name))
                if not pending:
                    return
                item = pending.popleft()
                if isinstance(item, BgzfError):
                    raise item
                blocks, error = item.result()
                if blocks:
                    yield blocks
                if error is not None:
                    raise error
        finally:
            for item in pending:
                if isinstance(item, Future):
                    item.cancel()


def _iter_frame_runs(
    fileobj: BinaryIO, *, name: str, start_coffset: int, require_eof: bool, slab_bytes: int
) -> Iterator[tuple[bytearray, list[_FrameSpan]]]:
    """Locate the frames of the stream, slab by slab, in runs of at most _BLOCKS_PER_TASK.

    A framing error is raised after the run of good frames before it has been yielded.
    At the end of the stream, checks for truncation and for the EOF marker.
    """
    carry = b""  # bytes of an incomplete frame at the end of the previous slab
    coffset = start_coffset  # file offset of carry[0]
    want = min(_FIRST_SLAB_BYTES, slab_bytes)
    last_frame_is_eof = False
    saw_frame = False
    eof_marker = L.BGZF_EOF_MARKER
    eof_size = len(eof_marker)
    while True:
        slab = _read_slab(fileobj, carry, want)
        at_end = len(slab) - len(carry) < want  # _read_slab only comes back short at end of stream
        want = min(2 * want, slab_bytes)
        pos = 0
        size = len(slab)
        run: list[_FrameSpan] = []
        error: BgzfError | None = None
        try:
            while pos < size:
                if size - pos < L.BGZF_MIN_HEADER_SIZE:
                    if not at_end:
                        break
                    parse_header(slab, pos, name=name, coffset=coffset)  # names non-gzip bytes precisely
                    raise BgzfError(f"{name}: truncated BGZF block at offset {coffset}: file ends inside the block header")
                if slab[pos : pos + 4] == _COMMON_PREFIX and slab[pos + 10 : pos + 16] == _COMMON_EXTRA:
                    header_size = L.BGZF_MIN_HEADER_SIZE
                    block_size = slab[pos + 16] + (slab[pos + 17] << 8) + 1
                    if block_size < L.BGZF_MIN_HEADER_SIZE + L.BGZF_TRAILER_SIZE:
                        parse_header(slab, pos, name=name, coffset=coffset)  # raises the size error
                else:
                    header_size, block_size = parse_header(slab, pos, name=name, coffset=coffset)
                if size - pos < block_size:
                    if at_end:
                        raise BgzfError(
                            f"{name}: truncated BGZF block at offset {coffset}: file ends after {size - pos} of its {block_size} bytes"
                        )
                    break
                run.append((coffset, pos, pos + block_size, header_size))
                last_frame_is_eof = block_size == eof_size and slab[pos : pos + eof_size] == eof_marker
                pos += block_size
                coffset += block_size
                if len(run) == _BLOCKS_PER_TASK:
                    saw_frame = True
                    yield slab, run
                    run = []
        except BgzfError as exc:
            error = exc
        if run:
            saw_frame = True
            yield slab, run
        if error is not None:
            raise error
        if at_end and pos >= size:
            break
        carry = bytes(memoryview(slab)[pos:])
    if not saw_frame and start_coffset == 0:
        raise BgzfError(f"{name}: empty file, not BGZF")
    if require_eof and not last_frame_is_eof:
        raise BgzfError(f"{name}: missing BGZF EOF marker: the file is truncated (stream ends at offset {coffset})")


def _read_slab(fileobj: BinaryIO, carry: bytes, want: int) -> bytearray:
    """A new buffer holding ``carry`` followed by up to ``want`` bytes from the stream.

    A fresh buffer per slab (rather than one reused buffer) because frames handed to
    inflate threads still point into the previous one.
    """
    buf = bytearray(len(carry) + want)
    buf[: len(carry)] = carry
    view = memoryview(buf)
    filled = len(carry)
    readinto = getattr(fileobj, "readinto", None)
    while filled < len(buf):
        if readinto is not None:
            n = readinto(view[filled:])
        else:
            chunk = fileobj.read(len(buf) - filled)
            n = len(chunk)
            view[filled : filled + n] = chunk
        if not n:
            break
        filled += n
    view.release()
    if filled < len(buf):
        del buf[filled:]
    return buf


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
