"""Read a BAM stream as batches of records, whole or between two virtual positions.

:class:`BamReader` takes any binary stream (a local file, a ranged remote stream, a
``BytesIO``), reads the header, then yields :class:`~bams3.bam.records.RecordBatch`
objects of about ``target_bytes`` of inflated data each. Each batch is one run of BGZF
blocks inflated into one buffer (:class:`~bams3.bam.bgzf.BlockReader`), walked in C in
one call. A record cut by the batch boundary is carried into the next batch: it is
copied into the free bytes the block reader leaves in front of every run, so the run
itself is never copied, and memory stays at one slab plus a batch or two whatever the
file size.

Chunk and shard jobs use :meth:`BamReader.from_virtual_range`: the stream starts at the
block holding the start position, and reading stops as soon as the records reach the
end position, without asking the stream for blocks it does not need.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from ..errors import BamFormatError
from . import _layout as L
from . import _walk
from .bgzf import BlockReader, InflatedRun, VirtualPosition
from .header import BamHeader, HeaderParser
from .records import RECORD_DTYPE, RecordBatch, grow_rows

__all__ = ["BamReader", "read_header", "DEFAULT_BATCH_BYTES"]

#: inflated bytes per batch: large enough that per-batch numpy overhead is noise
#: (~25,000 short-read records), small enough to stay cache- and memory-friendly
DEFAULT_BATCH_BYTES = 2 * 1024 * 1024
#: rows allocated per batch byte before the walker asks for more (records are rarely < 128 B)
_BYTES_PER_ROW_GUESS = 128
#: free bytes in front of every run for the record carried over from the previous batch:
#: short-read records are < 1 KB; a longer carry costs one copy of the run
_CARRY_GAP = 64 * 1024

#: a block table: where each block's data starts in a buffer, and the block's compressed offset
_Table = tuple[np.ndarray, np.ndarray]
_EMPTY_TABLE: _Table = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


def read_header(fileobj: BinaryIO, *, name: str) -> BamHeader:
    """Read only the header from a stream at the start of a BAM file.

    Reads as few blocks as the header needs (a first read of 64 KiB covers most), so it
    is cheap on a remote stream.
    """
    with BlockReader(fileobj, name=name, require_eof=False) as blocks:
        header, _, _ = _read_header(blocks, name=name)
    return header


def _read_header(blocks: BlockReader, *, name: str) -> tuple[BamHeader, bytes, _Table]:
    """Parse the header from the first blocks; return it, the bytes after it, and their block table."""
    parser = HeaderParser(name=name)
    data = bytearray()
    starts: list[np.ndarray] = []
    coffsets: list[np.ndarray] = []
    # one block first (the header usually fits), then double: few reads for a big header
    while (run := blocks.read(max(1, len(data)))) is not None:
        starts.append(run.starts - run.start + len(data))
        coffsets.append(run.coffsets)
        data += memoryview(run.data[run.start : run.stop])
        header = parser.feed(data)
        if header is not None:
            size = parser.size or 0
            table = _cut_table((np.concatenate(starts), np.concatenate(coffsets)), size)
            return header, bytes(data[size:]), table
    if not data:
        raise BamFormatError(f"{name}: no BAM data: the BGZF stream is empty")
    raise BamFormatError(f"{name}: truncated BAM header (the data ends after {len(data)} bytes)")


def _cut_table(table: _Table, cut: int) -> _Table:
    """The entries of a block table that cover ``data[cut:]``, re-based so ``cut`` is position 0.

    The entry of the block the cut falls in gets a position <= 0: the virtual offset of
    the byte at new position ``p`` is still ``coffset << 16 | (p - position)``.
    """
    starts, coffsets = table
    first = max(0, int(np.searchsorted(starts, cut, side="right")) - 1)
    return starts[first:] - cut, coffsets[first:]


class BamReader:
    """Batches of records from a BAM stream.

    Parameters
    ----------
    fileobj
        Binary stream at the start of the BAM file (the reader does not close it).
    name
        File or URL (signature redacted) to name in error messages.
    threads
        Threads inflating BGZF blocks (1: inflate in the calling thread; more: runs of
        blocks are inflated ahead while the caller works on the current batch).

    Examples
    --------
    >>> with open("sample.bam", "rb") as f:                      # doctest: +SKIP
    ...     reader = BamReader(f, name="sample.bam")
    ...     mapped = sum(int((b.records["flag"] & 4 == 0).sum()) for b in reader.batches())
    """

    def __init__(self, fileobj: BinaryIO, *, name: str, threads: int = 1) -> None:
        self.name = name
        self._blocks = BlockReader(fileobj, name=name, threads=threads, gap=_CARRY_GAP)
        try:
            self.header, carry, self._carry_table = _read_header(self._blocks, name=name)
        except BaseException:
            self._blocks.close()
            raise
        self._carry: bytes | np.ndarray = carry
        self._end: int | None = None
        self._done = False

    @classmethod
    def from_virtual_range(
        cls,
        fileobj: BinaryIO,
        start: VirtualPosition,
        end: VirtualPosition | None,
        *,
        header: BamHeader,
        name: str,
        threads: int = 1,
    ) -> BamReader:
        """Read the records whose virtual offsets lie in ``[start, end)``.

        Parameters
        ----------
        fileobj
            A stream whose first byte is the file's byte ``start.compressed``: the start
            of the block holding ``start`` (a ranged GET from there, or a seeked file).
            It must reach at least to the end of the block holding ``end`` (asking for
            ``end.compressed + 65536`` bytes, or to the end of the file, is always
            enough), and further when a record starting before ``end`` continues past
            it, which cannot happen when ``end`` comes from an index or a plan. Blocks
            after the one holding ``end`` are never read.
        start, end
            Record boundaries, as in a BAI chunk or a shard plan. ``end=None`` reads to
            the end of the file, which must then carry the EOF marker.
        header
            The file's header (read once with :func:`read_header`), for the reference
            count that record fields are checked against.
        """
        self = cls.__new__(cls)
        self.name = name
        self.header = header
        self._end = None if end is None else int(end)
        self._done = False
        # blocks starting at or after ``limit`` hold only records at or after ``end``
        limit = None if end is None else end.compressed + (1 if end.uncompressed else 0)
        self._blocks = BlockReader(
            fileobj,
            name=name,
            start_coffset=start.compressed,
            threads=threads,
            require_eof=end is None,
            limit=limit,
            gap=_CARRY_GAP,
        )
        self._carry, self._carry_table = b"", _EMPTY_TABLE
        if end is not None and end <= start:
            self._done = True
            return self
        try:
            run = self._blocks.read(1)
        except BaseException:
            self._blocks.close()
            raise
        if run is None:
            self._done = True
            return self
        first_size = (int(run.starts[1]) if len(run.starts) > 1 else run.stop) - int(run.starts[0])
        if start.uncompressed > first_size:
            self._blocks.close()
            raise BamFormatError(
                f"{name}: virtual position {start} points past the end of its block ({first_size} bytes)"
            )
        at = run.start + start.uncompressed
        self._carry = run.data[at : run.stop]  # a view: walked where it is, never copied
        self._carry_table = (run.starts - at, run.coffsets)
        return self

    def __enter__(self) -> BamReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading (shuts the inflate threads down); the stream itself is the caller's."""
        self._blocks.close()
        self._done = True

    def batches(self, *, target_bytes: int = DEFAULT_BATCH_BYTES) -> Iterator[RecordBatch]:
        """Yield the records as batches of about ``target_bytes`` of inflated data.

        Each record appears in exactly one batch, whole; the batches of one reader are
        meant to be consumed once, in order.

        Raises
        ------
        BgzfError
            Damaged BGZF framing or data, or a missing EOF marker.
        BamFormatError
            A record that cannot be valid, a reference id outside the header's list, or a
            stream that ends inside a record.
        """
        end = self._end
        blocks = self._blocks
        blocks.start_read_ahead(target_bytes)
        carry, table = self._carry, self._carry_table
        self._carry, self._carry_table = b"", _EMPTY_TABLE
        walked = False  # whether ``carry`` is the incomplete tail of a walked batch (else: fresh data)
        while not self._done:
            if walked or not len(carry):
                needed = _bytes_needed(carry) - len(carry) if len(carry) else 0
                run = blocks.read(max(target_bytes - len(carry), needed, 1))
                if run is None and needed > 0:
                    # later blocks hold only records at or after ``end``: read on only to
                    # complete the record carried over (it started before ``end``)
                    run = blocks.read_beyond_limit(needed)
                if run is None:
                    if len(carry):
                        raise self._truncated(table)
                    break
                if not run.size:
                    continue  # only empty blocks (the EOF marker)
                buffer, table = _join(carry, table, run)
            else:  # data that came with the header or the range start: walk it as it is
                buffer = carry if isinstance(carry, np.ndarray) else np.frombuffer(carry, dtype=np.uint8)
            walked = True
            rows, next_pos = _walk_buffer(buffer, table, self.header.n_references, self.name)
            stop = False
            if end is not None:
                cut = int(np.searchsorted(rows["voffset"], np.uint64(end), side="left"))
                if cut < len(rows):
                    rows, stop = rows[:cut], True
                elif next_pos < len(buffer):
                    stop = _voffset_at(next_pos, table) >= end
            buffer.flags.writeable = False
            if len(rows):
                yield RecordBatch(buffer, rows)
            if stop:
                break
            # a copy, so that the batch's buffer is freed once the consumer drops the batch
            carry = buffer[next_pos:].tobytes()
            table = _cut_table(table, next_pos) if carry else _EMPTY_TABLE
        self._done = True

    def _truncated(self, table: _Table) -> BamFormatError:
        where = VirtualPosition.from_int(_voffset_at(0, table))
        if self._end is None:
            return BamFormatError(f"{self.name}: truncated BAM record at virtual offset {where}: the data ends inside it")
        return BamFormatError(
            f"{self.name}: the stream ends inside the BAM record at virtual offset {where}, before the range end"
        )


def _join(carry: bytes | np.ndarray, table: _Table, run: InflatedRun) -> tuple[np.ndarray, _Table]:
    """The carried bytes followed by the run's data, as one buffer, and its block table.

    The carry goes into the free bytes in front of the run (no copy of the run) when it
    fits there, which it does unless a record is longer than the gap.
    """
    n = len(carry)
    if n <= run.start:
        base = run.start - n
        buffer = run.data[base : run.stop]
        if n:
            buffer[:n] = np.frombuffer(carry, dtype=np.uint8) if isinstance(carry, bytes) else carry
    else:
        base = run.start - n
        buffer = np.empty(n + run.size, dtype=np.uint8)
        buffer[:n] = np.frombuffer(carry, dtype=np.uint8) if isinstance(carry, bytes) else carry
        buffer[n:] = run.data[run.start : run.stop]
    starts = run.starts - base
    if not n:
        return buffer, (starts, run.coffsets)
    return buffer, (np.concatenate((table[0], starts)), np.concatenate((table[1], run.coffsets)))


def _walk_buffer(buffer: np.ndarray, table: _Table, n_references: int, name: str) -> tuple[np.ndarray, int]:
    """The rows of every complete record in ``buffer``, virtual offsets filled in and
    reference ids checked (in the same C pass), and where the incomplete tail starts."""
    rows = np.empty(len(buffer) // _BYTES_PER_ROW_GUESS + 64, dtype=RECORD_DTYPE)
    starts, coffsets = table
    filled, pos = 0, 0
    while True:
        try:
            n, pos = _walk.walk_blocks(
                buffer, pos, len(buffer), rows[filled:], L.MAX_RECORD_BYTES, starts, coffsets, n_references
            )
        except _walk.WalkError as exc:
            message, offset = exc.args
            where = VirtualPosition.from_int(_voffset_at(offset, table))
            raise BamFormatError(f"{name}: {message} (record at virtual offset {where})") from None
        except _walk.RefIdError as exc:
            field, value, offset = exc.args
            where = VirtualPosition.from_int(_voffset_at(offset, table))
            raise BamFormatError(
                f"{name}: record at virtual offset {where} has {field} {value}, but the header lists {n_references} references"
            ) from None
        filled += n
        if filled < len(rows):
            return rows[:filled], pos
        rows = grow_rows(rows, filled)


def _voffset_at(pos: int, table: _Table) -> int:
    """Virtual offset of buffer position ``pos`` given the batch's block table."""
    starts, coffsets = table
    i = max(0, int(np.searchsorted(starts, pos, side="right")) - 1)
    return int(coffsets[i]) << L.VIRTUAL_SHIFT | (pos - int(starts[i]))


def _bytes_needed(carry: bytes | np.ndarray) -> int:
    """How many bytes the record starting ``carry`` needs in all (as far as its prefix tells).

    A prefix that cannot be valid needs nothing more: the walker reports it.
    """
    if len(carry) < L.RECORD_LENGTH_PREFIX:
        return L.RECORD_LENGTH_PREFIX if len(carry) else 0
    block_size = int.from_bytes(bytes(carry[: L.RECORD_LENGTH_PREFIX]), "little", signed=True)
    if not L.RECORD_FIXED_SIZE <= block_size <= L.MAX_RECORD_BYTES:
        return len(carry)
    return L.RECORD_LENGTH_PREFIX + block_size
