"""Read a BAM stream as batches of records, whole or between two virtual positions.

:class:`BamReader` takes any binary stream (a local file, a ranged remote stream, a
``BytesIO``), reads the header, then yields :class:`~bams3.bam.records.RecordBatch`
objects of about ``target_bytes`` of inflated data each. Each batch is one run of BGZF
blocks inflated into one buffer (:class:`~bams3.bam.bgzf.BlockReader`) preceded by the
record carried over from the previous batch (:mod:`~bams3.bam._stream`), walked in C
in one call that also gives every record its virtual offset. Memory stays at one slab
plus a batch or two whatever the file size.

Chunk and shard jobs use :meth:`BamReader.from_virtual_range`: the stream starts at the
block holding the start position, and reading stops as soon as the records reach the
end position, without asking the stream for blocks it does not need.
"""
from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from ..errors import BamFormatError
from . import _layout as L
from . import _stream, _walk
from .bgzf import BlockReader, VirtualPosition
from .header import BamHeader
from .records import RECORD_DTYPE, RecordBatch, grow_rows

__all__ = ["BamReader", "read_header", "DEFAULT_BATCH_BYTES"]

#: inflated bytes per batch: large enough that per-batch numpy overhead is noise
#: (~25,000 short-read records), small enough to stay cache- and memory-friendly
DEFAULT_BATCH_BYTES = 2 * 1024 * 1024
#: rows allocated per batch byte before the walker asks for more (records are rarely < 128 B)
_BYTES_PER_ROW_GUESS = 128


def read_header(fileobj: BinaryIO, *, name: str) -> BamHeader:
    """Read only the header from a stream at the start of a BAM file.

    Reads as few blocks as the header needs (a first read of 64 KiB covers most), so it
    is cheap on a remote stream.
    """
    with BlockReader(fileobj, name=name, require_eof=False) as blocks:
        header, _, _ = _stream.read_header(blocks, name=name)
    return header


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
        self._blocks = BlockReader(fileobj, name=name, threads=threads, gap=_stream.CARRY_GAP)
        try:
            self.header, carry, table = _stream.read_header(self._blocks, name=name)
        except BaseException:
            self._blocks.close()
            raise
        self._buffers = _stream.RecordBuffers(self._blocks, carry, table, name=name, ranged=False)
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
            gap=_stream.CARRY_GAP,
        )
        carry: memoryview | bytes = b""
        table = _stream.empty_table()
        if end is not None and end <= start:
            self._done = True
        else:
            try:
                run = self._blocks.read(1)
            except BaseException:
                self._blocks.close()
                raise
            if run is None:
                self._done = True
            else:
                first_size = (run.starts[1] if len(run.starts) > 1 else run.stop) - run.starts[0]
                if start.uncompressed > first_size:
                    self._blocks.close()
                    raise BamFormatError(
                        f"{name}: virtual position {start} points past the end of its block ({first_size} bytes)"
                    )
                at = run.start + start.uncompressed
                carry = memoryview(run.data)[at : run.stop]  # walked where it is, never copied
                table = (array("q", (s - at for s in run.starts)), run.coffsets)
        self._buffers = _stream.RecordBuffers(self._blocks, carry, table, name=name, ranged=end is not None)
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
        buffers = self._buffers
        self._blocks.start_read_ahead(target_bytes)
        while not self._done:
            got = buffers.next(target_bytes)
            if got is None:
                break
            view, table = got
            buffer = np.frombuffer(view, dtype=np.uint8)
            rows, next_pos = _walk_buffer(buffer, table, self.header.n_references, self.name)
            buffers.consumed(view, table, next_pos)
            stop = False
            if end is not None:
                cut = int(np.searchsorted(rows["voffset"], np.uint64(end), side="left"))
                if cut < len(rows):
                    rows, stop = rows[:cut], True
                elif next_pos < len(buffer):
                    stop = _stream.voffset_at(next_pos, table) >= end
            buffer.flags.writeable = False
            if len(rows):
                yield RecordBatch(buffer, rows)
            if stop:
                break
        self._done = True


def _walk_buffer(buffer: np.ndarray, table: _stream.Table, n_references: int, name: str) -> tuple[np.ndarray, int]:
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
        except (_walk.WalkError, _walk.RefIdError) as exc:
            raise _stream.record_error(exc, table, name=name, n_references=n_references) from None
        filled += n
        if filled < len(rows):
            return rows[:filled], pos
        rows = grow_rows(rows, filled)
