"""Read a BAM stream as batches of records, whole or between two virtual positions.

:class:`BamReader` takes any binary stream (a local file, a ranged remote stream, a
``BytesIO``), reads the header, then yields :class:`~bams3.bam.records.RecordBatch`
objects of about ``target_bytes`` of inflated data each: BGZF blocks are inflated
(:func:`~bams3.bam.bgzf.iter_block_runs`), each copied once into the batch buffer and
walked in C as it arrives. A record cut by the batch boundary is carried into the next
batch, so memory stays at one slab plus one batch whatever the file size.

Chunk and shard jobs use :meth:`BamReader.from_virtual_range`: the stream starts at the
block holding the start position, and reading stops as soon as the records reach the
end position, without asking the stream for blocks it does not need.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO

import numpy as np

from ..errors import BamFormatError
from . import _layout as L
from . import _walk
from .bgzf import RawBlock, VirtualPosition, iter_block_runs
from .header import BamHeader, HeaderParser
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
    runs = iter_block_runs(fileobj, name=name, require_eof=False)
    try:
        header, _, _ = _read_header(chain.from_iterable(runs), name=name)
    finally:
        runs.close()
    return header


def _read_header(blocks: Iterator[RawBlock], *, name: str) -> tuple[BamHeader, bytes, list[tuple[int, int]]]:
    """Parse the header from the first blocks; return it, the bytes after it, and their block table."""
    parser = HeaderParser(name=name)
    data = bytearray()
    table: list[tuple[int, int]] = []  # (position in data, block coffset)
    for coffset, _, block_data in blocks:
        table.append((len(data), coffset))
        data += block_data
        header = parser.feed(data)
        if header is not None:
            size = parser.size or 0
            rest_table = _carry_table(table, size)
            return header, bytes(data[size:]), rest_table
    if not data:
        raise BamFormatError(f"{name}: no BAM data: the BGZF stream is empty")
    raise BamFormatError(f"{name}: truncated BAM header (the data ends after {len(data)} bytes)")


def _carry_table(table: list[tuple[int, int]], cut: int) -> list[tuple[int, int]]:
    """The block-table entries that cover ``data[cut:]``, re-based so ``cut`` is position 0.

    The entry of the block the cut falls in gets a position <= 0: the virtual offset of
    the byte at new position ``p`` is still ``coffset << 16 | (p - position)``.
    """
    starts = [start for start, _ in table]
    first = max(0, int(np.searchsorted(starts, cut, side="right")) - 1)
    return [(start - cut, coffset) for start, coffset in table[first:]]


class BamReader:
    """Batches of records from a BAM stream.

    Parameters
    ----------
    fileobj
        Binary stream at the start of the BAM file (the reader does not close it).
    name
        File or URL (signature redacted) to name in error messages.
    threads
        Threads inflating BGZF blocks (1: inflate in the calling thread).

    Examples
    --------
    >>> with open("sample.bam", "rb") as f:                      # doctest: +SKIP
    ...     reader = BamReader(f, name="sample.bam")
    ...     mapped = sum(int((b.records["flag"] & 4 == 0).sum()) for b in reader.batches())
    """

    def __init__(self, fileobj: BinaryIO, *, name: str, threads: int = 1) -> None:
        self.name = name
        self._runs = iter_block_runs(fileobj, name=name, threads=threads)
        self._blocks = chain.from_iterable(self._runs)
        try:
            self.header, self._carry, self._carry_blocks = _read_header(self._blocks, name=name)
        except BaseException:
            self._runs.close()
            raise
        self._end: int | None = None
        self._next_coffset: int | None = None
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
        self._next_coffset = None
        self._done = False
        self._runs = iter_block_runs(
            fileobj, name=name, start_coffset=start.compressed, threads=threads, require_eof=end is None
        )
        self._blocks = chain.from_iterable(self._runs)
        self._carry, self._carry_blocks = b"", []
        if end is not None and end <= start:
            self._done = True
            return self
        try:
            first = next(self._blocks, None)
        except BaseException:
            self._runs.close()
            raise
        if first is None:
            self._done = True
            return self
        coffset, csize, data = first
        if start.uncompressed > len(data):
            self._runs.close()
            raise BamFormatError(
                f"{name}: virtual position {start} points past the end of its block ({len(data)} bytes)"
            )
        self._carry = bytes(data[start.uncompressed :])
        self._carry_blocks = [(-start.uncompressed, coffset)]
        self._next_coffset = coffset + csize
        return self

    def __enter__(self) -> BamReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading (shuts the inflate threads down); the stream itself is the caller's."""
        self._runs.close()
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
        carry, table = self._carry, self._carry_blocks
        self._carry, self._carry_blocks = b"", []
        exhausted = self._done
        walked = False  # whether ``carry`` is the incomplete tail of a walked batch (else: fresh data)
        while True:
            wanted = max(target_bytes, _bytes_needed(carry) if walked else 0)
            batch = _BatchBuffer(carry, table, capacity=wanted, name=self.name)
            added = False
            while not exhausted:
                if end is not None and self._next_coffset is not None and _past(self._next_coffset, end):
                    # later blocks hold only records at or after ``end``: read on only to
                    # complete the record carried over (it started before ``end``)
                    if not walked or batch.used >= _bytes_needed(carry):
                        break
                elif batch.used >= wanted:
                    break
                block = next(self._blocks, None)
                if block is None:
                    exhausted = True
                    break
                coffset, csize, data = block
                self._next_coffset = coffset + csize
                if data:
                    batch.append(coffset, data)
                    added = True
            if not added and (walked or not len(carry)):
                if len(carry):
                    raise self._truncated(table)
                break
            buffer, rows, next_pos = batch.finish()
            starts = np.fromiter((s for s, _ in table), dtype=np.int64, count=len(table))
            coffsets = np.fromiter((c for _, c in table), dtype=np.uint64, count=len(table))
            which = np.searchsorted(starts, rows["offset"], side="right") - 1
            rows["voffset"] = (coffsets[which] << np.uint64(L.VIRTUAL_SHIFT)) | (rows["offset"] - starts[which]).astype(
                np.uint64
            )
            _check_reference_ids(rows, self.header.n_references, self.name)
            stop = False
            if end is not None:
                cut = int(np.searchsorted(rows["voffset"], np.uint64(end), side="left"))
                if cut < len(rows):
                    rows, stop = rows[:cut], True
                elif next_pos < len(buffer):
                    stop = _voffset_at(next_pos, starts, coffsets) >= end
            if len(rows):
                yield RecordBatch(buffer, rows)
            if stop:
                break
            # a copy, so that the previous buffer is freed once the consumer drops its batch
            carry = bytes(buffer[next_pos:])
            table = _carry_table(table, next_pos) if carry else []
            walked = True
        self._done = True

    def _truncated(self, table: list[tuple[int, int]]) -> BamFormatError:
        where = VirtualPosition.from_int(_voffset_at(0, *_table_arrays(table)))
        if self._end is None:
            return BamFormatError(f"{self.name}: truncated BAM record at virtual offset {where}: the data ends inside it")
        return BamFormatError(
            f"{self.name}: the stream ends inside the BAM record at virtual offset {where}, before the range end"
        )


class _BatchBuffer:
    """One batch being built: inflated blocks are appended and walked as they arrive.

    Copying a block that was just inflated and walking the records it completes in the
    same C call (:func:`_walk.append_walk`) reads every record header while it is still
    in cache; a join of the whole batch followed by a walk costs twice as much. The
    buffer is an uninitialised numpy array (a bytearray would be zero-filled first).
    """

    def __init__(self, carry: bytes | np.ndarray, table: list[tuple[int, int]], *, capacity: int, name: str) -> None:
        self.name = name
        self.table = table
        self.data = np.empty(max(capacity, len(carry)) + L.BGZF_MAX_ISIZE, dtype=np.uint8)
        self.used = len(carry)
        if self.used:
            self.data[: self.used] = np.frombuffer(carry, dtype=np.uint8) if isinstance(carry, bytes) else carry
        self.walk_pos = 0
        self.rows = np.empty(len(self.data) // _BYTES_PER_ROW_GUESS + 64, dtype=RECORD_DTYPE)
        self.n_rows = 0

    def append(self, coffset: int, block: bytes | bytearray) -> None:
        if self.used + len(block) > len(self.data):
            grown = np.empty(2 * (self.used + len(block)), dtype=np.uint8)
            grown[: self.used] = self.data[: self.used]
            self.data = grown
        self.table.append((self.used, coffset))
        try:
            n, self.walk_pos = _walk.append_walk(
                self.data, self.used, block, self.walk_pos, self.rows, self.n_rows, L.MAX_RECORD_BYTES
            )
        except _walk.WalkError as exc:
            raise self._error(exc) from None
        self.used += len(block)
        self.n_rows += n
        if self.n_rows == len(self.rows):
            self._walk_rest()

    def finish(self) -> tuple[np.ndarray, np.ndarray, int]:
        """The read-only buffer, the rows, and where the incomplete tail starts."""
        self._walk_rest()
        buffer = self.data[: self.used]
        buffer.flags.writeable = False
        return buffer, self.rows[: self.n_rows], self.walk_pos

    def _walk_rest(self) -> None:
        """Walk what append_walk left (rows full, or data that came with the carry)."""
        while True:
            if self.n_rows == len(self.rows):
                self.rows = grow_rows(self.rows, self.n_rows)
            try:
                n, self.walk_pos = _walk.walk(
                    self.data, self.walk_pos, self.used, self.rows[self.n_rows :], L.MAX_RECORD_BYTES
                )
            except _walk.WalkError as exc:
                raise self._error(exc) from None
            self.n_rows += n
            if self.n_rows < len(self.rows):
                return

    def _error(self, exc: Exception) -> BamFormatError:
        message, offset = exc.args
        where = VirtualPosition.from_int(_voffset_at(offset, *_table_arrays(self.table)))
        return BamFormatError(f"{self.name}: {message} (record at virtual offset {where})")


def _table_arrays(table: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([s for s, _ in table], dtype=np.int64), np.array([c for _, c in table], dtype=np.uint64)


def _past(coffset: int, end: int) -> bool:
    """Whether a block starting at ``coffset`` lies wholly at or after virtual offset ``end``."""
    end_c, end_u = end >> L.VIRTUAL_SHIFT, end & L.VIRTUAL_UOFFSET_MASK
    return coffset > end_c or (coffset == end_c and end_u == 0)


def _voffset_at(pos: int, starts: np.ndarray, coffsets: np.ndarray) -> int:
    """Virtual offset of buffer position ``pos`` given the batch's block table."""
    i = max(0, int(np.searchsorted(starts, pos, side="right")) - 1)
    return int(coffsets[i]) << L.VIRTUAL_SHIFT | (pos - int(starts[i]))


def _check_reference_ids(rows: np.ndarray, n_ref: int, name: str) -> None:
    """refID and next_refID must be -1 or index the header's reference list (as htslib checks)."""
    for field in ("ref_id", "next_ref_id"):
        ids = rows[field]
        bad = (ids < -1) | (ids >= n_ref)
        if bad.any():
            i = int(np.argmax(bad))
            where = VirtualPosition.from_int(int(rows["voffset"][i]))
            raise BamFormatError(
                f"{name}: record at virtual offset {where} has {field} {int(ids[i])}, "
                f"but the header lists {n_ref} references"
            )


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
