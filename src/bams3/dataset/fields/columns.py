"""A block of BAM records as columns, and back: the split that format v2 compresses field by field.

:func:`split` takes a :class:`~bams3.bam.records.RecordBatch` and returns :class:`Columns`: one numpy
array per fixed field and, for each variable-length field (name, CIGAR, sequence, qualities, aux), the
concatenated bytes of every record plus their lengths. :func:`assemble` is the exact inverse: it lays
the columns out again as BAM records (SAMv1 section 4.2), byte for byte, into one buffer that the C
walker then reads as usual. Both work on whole blocks: the variable-length spans move with one C
``memcpy`` loop each (:mod:`bams3.dataset._v2_codec`), everything else is numpy.

What is *not* a column because it follows from the others: ``block_size`` (the sum of the parts),
``l_read_name`` (name length + 1: names are NUL-terminated, checked when splitting) and ``n_cigar_op``
(from the CIGAR lengths). ``ref_id`` is a column although a chunk holds one reference: the block codec
checks it and stores nothing for it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...bam import _layout as L
from ...bam.records import RecordBatch
from ...errors import BamFormatError
from .. import _v2_codec

__all__ = ["Columns", "split", "assemble", "FIXED_DTYPE", "offsets_of"]

#: block_size and the 32 bytes of fixed fields, exactly as in a BAM record (SAMv1 section 4.2)
FIXED_DTYPE = np.dtype([
    ("block_size", "<i4"), ("ref_id", "<i4"), ("pos", "<i4"), ("l_read_name", "u1"), ("mapq", "u1"),
    ("bin", "<u2"), ("n_cigar", "<u2"), ("flag", "<u2"), ("l_seq", "<i4"), ("next_ref_id", "<i4"),
    ("next_pos", "<i4"), ("tlen", "<i4"),
])
assert FIXED_DTYPE.itemsize == L.OFFSET_READ_NAME


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """Start of each piece in the concatenation of pieces of ``lengths`` (int64)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths) > 1:
        np.cumsum(lengths[:-1], out=out[1:])
    return out


@dataclass(frozen=True, eq=False)
class Columns:
    """The records of one block, field by field (all arrays have one entry per record, in order).

    ``end`` is the alignment end (htslib ``bam_endpos``) the C walker computed; it is not needed to
    rebuild a record, but counting and region filters use it without decoding CIGARs.
    Variable-length fields are the concatenation of every record's bytes: ``names`` without the
    NUL, ``cigar`` as stored (``uint32`` little-endian operations), ``seq`` packed 4-bit as in BAM,
    ``qual`` and ``aux`` verbatim.
    """

    ref_id: np.ndarray
    pos: np.ndarray
    end: np.ndarray
    flag: np.ndarray
    mapq: np.ndarray
    bin: np.ndarray
    l_seq: np.ndarray
    next_ref_id: np.ndarray
    next_pos: np.ndarray
    tlen: np.ndarray
    name_len: np.ndarray
    names: bytes
    n_cigar: np.ndarray
    cigar: bytes
    seq: bytes
    qual: bytes
    aux_len: np.ndarray
    aux: bytes

    def __len__(self) -> int:
        return len(self.pos)

    @property
    def record_sizes(self) -> np.ndarray:
        """Bytes of each record, ``block_size`` prefix included (int64)."""
        l_seq = self.l_seq.astype(np.int64)
        return (L.OFFSET_READ_NAME + self.name_len.astype(np.int64) + 1 + 4 * self.n_cigar.astype(np.int64)
                + (l_seq + 1) // 2 + l_seq + self.aux_len.astype(np.int64))


def split(batch: RecordBatch, *, name: str) -> Columns:
    """The columns of ``batch``'s records.

    Raises
    ------
    BamFormatError
        A read name that does not end in NUL (htslib refuses such records too).
    """
    r = batch.records
    spans = batch.spans()
    buffer = batch.buffer
    name_len = r["l_read_name"].astype(np.int64) - 1
    if len(r) and (np.any(name_len < 0) or np.any(np.frombuffer(buffer, np.uint8)[spans.cigar - 1] != 0)):
        raise BamFormatError(f"{name}: a read name is not NUL-terminated")
    l_seq = r["l_seq"].astype(np.int64)
    return Columns(
        ref_id=r["ref_id"].astype(np.int32),
        pos=r["pos"].astype(np.int32),
        end=r["end"].astype(np.int64),
        flag=r["flag"].astype(np.uint16),
        mapq=r["mapq"].astype(np.uint8),
        bin=r["bin"].astype(np.uint16),
        l_seq=r["l_seq"].astype(np.int32),
        next_ref_id=r["next_ref_id"].astype(np.int32),
        next_pos=r["next_pos"].astype(np.int32),
        tlen=r["tlen"].astype(np.int32),
        name_len=name_len.astype(np.uint8),
        names=_v2_codec.gather(buffer, spans.name, name_len),
        n_cigar=r["n_cigar"].astype(np.uint16),
        cigar=_v2_codec.gather(buffer, spans.cigar, spans.seq - spans.cigar),
        seq=_v2_codec.gather(buffer, spans.seq, spans.qual - spans.seq),
        qual=_v2_codec.gather(buffer, spans.qual, l_seq),
        aux_len=(spans.end - spans.aux).astype(np.int64),
        aux=_v2_codec.gather(buffer, spans.aux, spans.end - spans.aux),
    )


def assemble(c: Columns) -> bytearray:
    """The BAM records of ``c``, concatenated: the exact bytes :func:`split` read them from."""
    n = len(c)
    sizes = c.record_sizes
    starts = offsets_of(sizes)
    out = bytearray(int(sizes.sum()))  # zeroed: every name's NUL terminator is already in place
    if n == 0:
        return out
    fixed = np.empty(n, dtype=FIXED_DTYPE)
    fixed["block_size"] = sizes - L.RECORD_LENGTH_PREFIX
    fixed["ref_id"] = c.ref_id
    fixed["pos"] = c.pos
    fixed["l_read_name"] = c.name_len.astype(np.int64) + 1
    fixed["mapq"] = c.mapq
    fixed["bin"] = c.bin
    fixed["n_cigar"] = c.n_cigar
    fixed["flag"] = c.flag
    fixed["l_seq"] = c.l_seq
    fixed["next_ref_id"] = c.next_ref_id
    fixed["next_pos"] = c.next_pos
    fixed["tlen"] = c.tlen
    _v2_codec.scatter(out, starts, fixed.tobytes(), np.full(n, FIXED_DTYPE.itemsize, dtype=np.int64))
    name_len = c.name_len.astype(np.int64)
    at = starts + FIXED_DTYPE.itemsize
    _v2_codec.scatter(out, at, c.names, name_len)
    at = at + name_len + 1
    cigar_len = 4 * c.n_cigar.astype(np.int64)
    _v2_codec.scatter(out, at, c.cigar, cigar_len)
    at = at + cigar_len
    l_seq = c.l_seq.astype(np.int64)
    _v2_codec.scatter(out, at, c.seq, (l_seq + 1) // 2)
    at = at + (l_seq + 1) // 2
    _v2_codec.scatter(out, at, c.qual, l_seq)
    _v2_codec.scatter(out, at + l_seq, c.aux, c.aux_len.astype(np.int64))
    return out
