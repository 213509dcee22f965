"""From runs of inflated BGZF blocks to buffers of whole BAM records, without numpy.

Shared by :class:`~bams3.bam.reader.BamReader` (which walks each buffer into numpy
rows) and :func:`~bams3.bam.flagstat.flagstat_stream` (which only counts flags, and so
never imports numpy: importing it took 0.08 s of ``bams3 flagstat``'s 1.3 s on a
260 MB BAM). The header is parsed from the first blocks; after it, each buffer is the
incomplete record carried over from the previous buffer followed by the next run of
blocks. The carried bytes go into the free bytes the block reader leaves in front of
every run, so a run is never copied unless a record is longer than that gap.

A *block table* gives, for each block of a buffer, where its data starts in the buffer
and its compressed offset: the virtual offset of the record at buffer position ``p`` is
``coffset << 16 | (p - start)`` of the last block starting at or before ``p``.
"""
from __future__ import annotations

from array import array
from bisect import bisect_right

from ..errors import BamFormatError
from . import _layout as L
from . import _walk
from .bgzf import BlockReader, InflatedRun, VirtualPosition
from .header import BamHeader, HeaderParser

__all__ = ["Table", "CARRY_GAP", "read_header", "RecordBuffers", "record_error", "voffset_at"]

#: (starts, coffsets), both int64 arrays
Table = tuple["array[int]", "array[int]"]

#: free bytes in front of every run for the record carried over from the previous buffer:
#: short-read records are < 1 KB; a longer carry costs one copy of the run
CARRY_GAP = 64 * 1024


def empty_table() -> Table:
    return array("q"), array("q")


def read_header(blocks: BlockReader, *, name: str) -> tuple[BamHeader, bytes, Table]:
    """Parse the header from the first blocks; return it, the bytes after it, and their block table."""
    parser = HeaderParser(name=name)
    data = bytearray()
    starts, coffsets = array("q"), array("q")
    # one block first (the header usually fits), then double: few reads for a big header
    while (run := blocks.read(max(1, len(data)))) is not None:
        starts.extend(start - run.start + len(data) for start in run.starts)
        coffsets += run.coffsets
        data += memoryview(run.data)[run.start : run.stop]
        header = parser.feed(data)
        if header is not None:
            size = parser.size or 0
            return header, bytes(data[size:]), cut_table((starts, coffsets), size)
    if not data:
        raise BamFormatError(f"{name}: no BAM data: the BGZF stream is empty")
    raise BamFormatError(f"{name}: truncated BAM header (the data ends after {len(data)} bytes)")


def cut_table(table: Table, cut: int) -> Table:
    """The entries of a block table that cover ``data[cut:]``, re-based so ``cut`` is position 0.

    The entry of the block the cut falls in gets a position <= 0: the virtual offset of
    the byte at new position ``p`` is still ``coffset << 16 | (p - position)``.
    """
    starts, coffsets = table
    first = max(0, bisect_right(starts, cut) - 1)
    return array("q", (start - cut for start in starts[first:])), coffsets[first:]


def voffset_at(pos: int, table: Table) -> int:
    """Virtual offset of buffer position ``pos`` given the buffer's block table."""
    starts, coffsets = table
    i = max(0, bisect_right(starts, pos) - 1)
    return coffsets[i] << L.VIRTUAL_SHIFT | (pos - starts[i])


def record_error(exc: Exception, table: Table, *, name: str, n_references: int) -> BamFormatError:
    """The error to raise for the walker's ``WalkError`` or ``RefIdError``, located by virtual offset."""
    if isinstance(exc, _walk.RefIdError):
        field, value, offset = exc.args
        where = VirtualPosition.from_int(voffset_at(offset, table))
        return BamFormatError(
            f"{name}: record at virtual offset {where} has {field} {value}, but the header lists {n_references} references"
        )
    message, offset = exc.args
    where = VirtualPosition.from_int(voffset_at(offset, table))
    return BamFormatError(f"{name}: {message} (record at virtual offset {where})")


def bytes_needed(carry: bytes | memoryview) -> int:
    """How many bytes the record starting ``carry`` needs in all (as far as its prefix tells).

    A prefix that cannot be valid needs nothing more: the walker reports it.
    """
    if len(carry) < L.RECORD_LENGTH_PREFIX:
        return L.RECORD_LENGTH_PREFIX if len(carry) else 0
    block_size = int.from_bytes(carry[: L.RECORD_LENGTH_PREFIX], "little", signed=True)
    if not L.RECORD_FIXED_SIZE <= block_size <= L.MAX_RECORD_BYTES:
        return len(carry)
    return L.RECORD_LENGTH_PREFIX + block_size


class RecordBuffers:
    """Buffers of whole records from a block reader, each with its block table.

    Call :meth:`next` for a buffer, walk it, then :meth:`consumed` with where the walk
    stopped (the start of the incomplete record at its end): those bytes start the next
    buffer.

    Parameters
    ----------
    blocks
        The block reader, positioned after ``carry``'s blocks.
    carry, table
        Data that came before the first run (after the header, or from a range's start
        position) and its block table; walked on its own first.
    ranged
        Whether the reader stops at a range end (for the wording of a truncation error).
    recycle
        Whether a buffer is done with once :meth:`consumed` has been called, so that
        its run's memory can be reused (not when batches holding buffers are handed out).
    """

    def __init__(
        self, blocks: BlockReader, carry: bytes | memoryview, table: Table, *, name: str, ranged: bool, recycle: bool = False
    ) -> None:
        self.blocks = blocks
        self.name = name
        self._ranged = ranged
        self._recycle = recycle
        self._carry = carry
        self._table = table
        self._walked = False  # whether the carry is an incomplete tail (else: fresh data, walked first as it is)
        self._run: InflatedRun | None = None  # the run under the current buffer

    def next(self, target_bytes: int) -> tuple[memoryview, Table] | None:
        """The next buffer to walk and its block table; ``None`` when there is nothing more.

        Raises
        ------
        BamFormatError
            The data ends inside the carried record.
        BgzfError
            From the block reader.
        """
        carry, table = self._carry, self._table
        if not self._walked and len(carry):
            return memoryview(carry), table
        while True:
            needed = bytes_needed(carry) - len(carry) if len(carry) else 0
            run = self.blocks.read(max(target_bytes - len(carry), needed, 1))
            if run is None and needed > 0:
                # blocks past a range's end hold only records after it: read on only to
                # complete the record carried over (it started before the end)
                run = self.blocks.read_beyond_limit(needed)
            if run is None:
                if len(carry):
                    raise self._truncated()
                return None
            if run.size:  # else only empty blocks (the EOF marker)
                self._run = run
                return _join(carry, table, run)

    def consumed(self, buffer: memoryview, table: Table, next_pos: int) -> None:
        """The records of ``buffer`` up to ``next_pos`` have been walked; keep the rest."""
        # a copy, so that the buffer is freed once its batch is dropped (or reused)
        self._carry = bytes(buffer[next_pos:])
        self._table = cut_table(table, next_pos) if self._carry else empty_table()
        self._walked = True
        run, self._run = self._run, None
        if self._recycle and run is not None:
            self.blocks.recycle(run)

    def _truncated(self) -> BamFormatError:
        where = VirtualPosition.from_int(voffset_at(0, self._table))
        if not self._ranged:
            return BamFormatError(f"{self.name}: truncated BAM record at virtual offset {where}: the data ends inside it")
        return BamFormatError(
            f"{self.name}: the stream ends inside the BAM record at virtual offset {where}, before the range end"
        )


def _join(carry: bytes | memoryview, table: Table, run: InflatedRun) -> tuple[memoryview, Table]:
    """The carried bytes followed by the run's data, as one buffer, and its block table.

    The carry goes into the free bytes in front of the run (no copy of the run) when it
    fits there, which it does unless a record is longer than the gap.
    """
    n = len(carry)
    if n <= run.start:
        base = run.start - n
        buffer = memoryview(run.data)[base : run.stop]
        buffer[:n] = carry
    else:
        base = run.start - n
        data = _walk.new_buffer(n + run.size)
        data[:n] = carry
        data[n:] = memoryview(run.data)[run.start : run.stop]
        buffer = memoryview(data)
    starts = array("q", (start - base for start in run.starts))
    if not n:
        return buffer, (starts, run.coffsets)
    return buffer, (table[0] + starts, table[1] + run.coffsets)
