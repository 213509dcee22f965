"""Record-level helpers the dataset needs on top of :mod:`bams3.bam`: decoding a frame, flag masks.

A decoded frame is a :class:`~bams3.bam.records.RecordBatch` over the frame's bytes, so the
reader hands out the same type the BAM reader does (the cohort code consumes both alike).
"""
from __future__ import annotations

import numpy as np

from ..bam import _layout as L
from ..bam import _walk
from ..bam.records import RECORD_DTYPE, RecordBatch
from ..errors import IntegrityError

__all__ = ["decode_records", "FLAG_PAIRED", "FLAG_PROPER_PAIR", "FLAG_UNMAPPED", "FLAG_SECONDARY",
           "FLAG_QCFAIL", "FLAG_DUP", "FLAG_SUPPLEMENTARY"]

# SAMv1 §1.4.2
FLAG_PAIRED = 0x1
FLAG_PROPER_PAIR = 0x2
FLAG_UNMAPPED = 0x4
FLAG_SECONDARY = 0x100
FLAG_QCFAIL = 0x200
FLAG_DUP = 0x400
FLAG_SUPPLEMENTARY = 0x800

#: records are rarely under 128 bytes; the walker is asked for more rows if they are
_BYTES_PER_ROW_GUESS = 128


def decode_records(buffer: bytes, *, name: str) -> RecordBatch:
    """Walk a buffer that holds whole BAM records and nothing else (one decoded frame).

    ``voffset`` is left 0: a dataset has no BGZF virtual offsets.

    Raises
    ------
    IntegrityError
        The buffer does not hold whole, valid records (a frame that decodes but is not BAM).
    """
    # TODO(bam): use a public "walk a raw record buffer" entry point of bams3.bam once it has one.
    capacity = len(buffer) // _BYTES_PER_ROW_GUESS + 16
    out = np.zeros(capacity, dtype=RECORD_DTYPE)
    filled, pos = 0, 0
    while True:
        try:
            n, pos = _walk.walk(buffer, pos, len(buffer), out[filled:], L.MAX_RECORD_BYTES)
        except _walk.WalkError as exc:
            message, offset = exc.args
            raise IntegrityError(f"{name}: {message} at byte {offset} of a decoded frame") from None
        filled += n
        if filled < len(out) or pos >= len(buffer):
            break
        out = np.concatenate([out, np.zeros(len(out), dtype=RECORD_DTYPE)])
    if pos != len(buffer):
        raise IntegrityError(f"{name}: a decoded frame ends inside a BAM record")
    return RecordBatch(buffer, out[:filled])
