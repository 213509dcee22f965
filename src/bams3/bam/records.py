"""A batch of BAM records: the inflated bytes plus one numpy row of fixed fields per record.

The C walker (``_walk.c``) fills :data:`RECORD_DTYPE` rows in one pass over a buffer;
statistics then run on whole columns (``batch.records["flag"]``) and never touch a
Python object per read. Variable-length fields (name, CIGAR, sequence, qualities, aux)
stay in the buffer and are sliced out only when asked for: :meth:`RecordBatch.spans`
gives their offsets for every record at once, the single-record accessors are for tests,
debugging and small outputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import BamFormatError
from . import _layout as L
from . import _walk
from .bgzf import VirtualPosition

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["RECORD_DTYPE", "RecordBatch", "FieldSpans", "decode_records", "grow_rows"]


def _record_dtype() -> np.dtype:
    names, formats, offsets = zip(*_walk.FIELDS)
    return np.dtype({"names": list(names), "formats": list(formats), "offsets": list(offsets), "itemsize": _walk.ITEMSIZE})


#: one row per record, the layout defined by the C walker:
#: ``offset`` and ``size`` (the record's bytes in the batch buffer, block_size prefix
#: included), ``end`` (0-based exclusive alignment end, htslib ``bam_endpos`` semantics),
#: ``voffset`` (virtual offset of the record's first byte), and the BAM fixed fields
#: ``ref_id``, ``pos`` (0-based), ``l_seq``, ``next_ref_id``, ``next_pos``, ``tlen``,
#: ``flag``, ``bin``, ``n_cigar``, ``mapq``, ``l_read_name``.
RECORD_DTYPE = _record_dtype()

_SEQ_ALPHABET = np.frombuffer(b"=ACMGRSVTWYHKDBN", dtype=np.uint8)


@dataclass(frozen=True, eq=False)
class FieldSpans:
    """Start offsets in the batch buffer of each variable-length field, for every record.

    Each field runs to the start of the next one: name ``[name, cigar)`` (NUL included),
    CIGAR ``[cigar, seq)``, packed sequence ``[seq, qual)``, qualities ``[qual, aux)``,
    aux ``[aux, end)``.
    """

    name: NDArray[np.int64]
    cigar: NDArray[np.int64]
    seq: NDArray[np.int64]
    qual: NDArray[np.int64]
    aux: NDArray[np.int64]
    end: NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class RecordBatch:
    """Consecutive BAM records: a buffer of inflated BAM data and their fixed fields.

    Attributes
    ----------
    buffer
        Inflated BAM bytes (the reader hands out a read-only ``uint8`` numpy array; any
        bytes-like object works); record ``i`` is ``buffer[offset[i] : offset[i] + size[i]]``,
        its ``block_size`` prefix included (the exact bytes of the BAM stream).
    records
        One :data:`RECORD_DTYPE` row per record, in file order.
    """

    buffer: bytes | bytearray | NDArray[np.uint8]
    records: NDArray

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: slice | NDArray) -> RecordBatch:
        """A batch of a subset of the records (a slice, boolean mask or index array), same buffer."""
        if isinstance(index, int | np.integer):
            raise TypeError("index a RecordBatch with a slice, mask or index array; use .records[i] for one row")
        return RecordBatch(self.buffer, self.records[index])

    @property
    def voffsets(self) -> NDArray[np.uint64]:
        return self.records["voffset"]

    def virtual_position(self, i: int) -> VirtualPosition:
        """Virtual position of record ``i`` (what an index or ``bgzf_tell`` gives)."""
        return VirtualPosition.from_int(int(self.records["voffset"][i]))

    def raw(self, i: int) -> bytes:
        """Record ``i``'s bytes, exactly as in the uncompressed BAM stream."""
        row = self.records[i]
        start = int(row["offset"])
        return bytes(self.buffer[start : start + int(row["size"])])

    def raw_bytes(self) -> bytes:
        """All records' bytes, concatenated in order (one slice when they are consecutive)."""
        if len(self.records) == 0:
            return b""
        offsets = self.records["offset"]
        sizes = self.records["size"].astype(np.int64)
        first, last = int(offsets[0]), int(offsets[-1] + sizes[-1])
        if last - first == int(sizes.sum()) and bool(np.all(offsets[1:] == offsets[:-1] + sizes[:-1])):
            return bytes(self.buffer[first:last])
        view = memoryview(self.buffer)
        return b"".join(view[o : o + s] for o, s in zip(offsets.tolist(), sizes.tolist()))

    def spans(self) -> FieldSpans:
        """Where each variable-length field of every record starts (vectorised)."""
        r = self.records
        name = r["offset"] + L.OFFSET_READ_NAME
        cigar = name + r["l_read_name"]
        seq = cigar + 4 * r["n_cigar"].astype(np.int64)
        l_seq = r["l_seq"].astype(np.int64)
        qual = seq + (l_seq + 1) // 2
        aux = qual + l_seq
        return FieldSpans(name=name, cigar=cigar, seq=seq, qual=qual, aux=aux, end=r["offset"] + r["size"])

    def read_names(self) -> NDArray[np.bytes_]:
        """All read names as a fixed-width bytes array (vectorised gather, no per-read Python)."""
        r = self.records
        if len(r) == 0:
            return np.empty(0, dtype="S1")
        lengths = r["l_read_name"].astype(np.int64) - 1  # without the NUL
        width = max(int(lengths.max()), 1)
        data = np.frombuffer(self.buffer, dtype=np.uint8)
        columns = np.arange(width)
        index = (r["offset"] + L.OFFSET_READ_NAME)[:, None] + columns
        mask = columns < lengths[:, None]
        chars = np.where(mask, data[np.where(mask, index, 0)], 0).astype(np.uint8)
        return chars.view(f"S{width}").ravel()

    def cigar(self, i: int) -> NDArray[np.uint32]:
        """Record ``i``'s CIGAR as stored (``op_len << 4 | op``); a long CIGAR's placeholder as is."""
        spans = self._one_span(i)
        return np.frombuffer(self.buffer, dtype="<u4", count=(spans[2] - spans[1]) // 4, offset=spans[1]).astype(np.uint32)

    def cigar_string(self, i: int) -> str:
        """Record ``i``'s CIGAR in SAM text form (``*`` when empty)."""
        ops = self.cigar(i)
        if len(ops) == 0:
            return "*"
        return "".join(f"{op >> 4}{L.CIGAR_OPS[op & 0xF] if (op & 0xF) < len(L.CIGAR_OPS) else '?'}" for op in ops.tolist())

    def sequence(self, i: int) -> str:
        """Record ``i``'s bases (``""`` when the sequence is ``*``)."""
        _, _, seq, qual, _, _ = self._one_span(i)
        l_seq = int(self.records["l_seq"][i])
        packed = np.frombuffer(self.buffer, dtype=np.uint8, count=qual - seq, offset=seq)
        codes = np.empty(2 * len(packed), dtype=np.uint8)
        codes[0::2] = packed >> 4
        codes[1::2] = packed & 0xF
        return _SEQ_ALPHABET[codes[:l_seq]].tobytes().decode("ascii")

    def qualities(self, i: int) -> NDArray[np.uint8]:
        """Record ``i``'s base qualities (Phred, not +33); all 0xFF when the qualities are ``*``."""
        _, _, _, qual, aux, _ = self._one_span(i)
        return np.frombuffer(self.buffer, dtype=np.uint8, count=aux - qual, offset=qual).copy()

    def aux_bytes(self, i: int) -> bytes:
        """Record ``i``'s aux data, undecoded."""
        _, _, _, _, aux, end = self._one_span(i)
        return bytes(self.buffer[aux:end])

    def _one_span(self, i: int) -> tuple[int, int, int, int, int, int]:
        row = self.records[i]
        name = int(row["offset"]) + L.OFFSET_READ_NAME
        cigar = name + int(row["l_read_name"])
        seq = cigar + 4 * int(row["n_cigar"])
        qual = seq + (int(row["l_seq"]) + 1) // 2
        aux = qual + int(row["l_seq"])
        return name, cigar, seq, qual, aux, int(row["offset"]) + int(row["size"])


def decode_records(buffer: bytes | bytearray | NDArray[np.uint8], *, name: str) -> RecordBatch:
    """Walk a buffer that holds whole BAM records and nothing else (no BGZF, no header).

    For record bytes that come from elsewhere than a BAM stream (a BAMS3 chunk, a test);
    ``voffset`` is left 0 since such bytes have no BGZF position.

    Raises
    ------
    BamFormatError
        A record that cannot be valid, or a buffer that ends inside a record; the
        message gives the byte offset in the buffer.
    """
    out = np.zeros(len(buffer) // 128 + 16, dtype=RECORD_DTYPE)
    filled, pos = 0, 0
    while True:
        try:
            n, pos = _walk.walk(buffer, pos, len(buffer), out[filled:], L.MAX_RECORD_BYTES)
        except _walk.WalkError as exc:
            message, offset = exc.args
            raise BamFormatError(f"{name}: {message} (record at byte {offset})") from None
        filled += n
        if filled < len(out):
            break
        out = grow_rows(out, filled)
    if pos != len(buffer):
        raise BamFormatError(f"{name}: the data ends inside a BAM record (at byte {pos} of {len(buffer)})")
    return RecordBatch(buffer, out[:filled])


def grow_rows(rows: NDArray, filled: int) -> NDArray:
    """A row array twice as long holding the first ``filled`` rows of ``rows``.

    Use this (not ``np.concatenate``, whose result dtype can drop the struct padding
    the C walker relies on) when the walker has filled its output.
    """
    grown = np.empty(2 * max(len(rows), 1), dtype=RECORD_DTYPE)
    grown[:filled] = rows[:filled]
    return grown
