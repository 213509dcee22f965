"""Record-level helpers the dataset needs on top of :mod:`bams3.bam`: decoding a frame, flag masks.

A decoded frame is a :class:`~bams3.bam.records.RecordBatch` over the frame's bytes, so the
reader hands out the same type the BAM reader does (the cohort code consumes both alike).
"""
from __future__ import annotations

from ..bam import _layout as L
from ..bam import records as bam_records
from ..bam.records import RecordBatch
from ..errors import BamFormatError, IntegrityError

__all__ = ["decode_records", "FLAG_PAIRED", "FLAG_PROPER_PAIR", "FLAG_UNMAPPED", "FLAG_SECONDARY",
           "FLAG_QCFAIL", "FLAG_DUP", "FLAG_SUPPLEMENTARY"]

# SAMv1 §1.4.2, named once in bams3.bam
FLAG_PAIRED = L.FLAG_PAIRED
FLAG_PROPER_PAIR = L.FLAG_PROPER_PAIR
FLAG_UNMAPPED = L.FLAG_UNMAPPED
FLAG_SECONDARY = L.FLAG_SECONDARY
FLAG_QCFAIL = L.FLAG_QC_FAIL
FLAG_DUP = L.FLAG_DUPLICATE
FLAG_SUPPLEMENTARY = L.FLAG_SUPPLEMENTARY


def decode_records(buffer: bytes, *, name: str) -> RecordBatch:
    """Walk a buffer that holds whole BAM records and nothing else (one decoded frame).

    Raises
    ------
    IntegrityError
        The buffer does not hold whole, valid records: a frame that passed its zstd checksum
        yet is not BAM was written wrong or tampered with, which makes the chunk corrupt.
    """
    try:
        return bam_records.decode_records(buffer, name=name)
    except BamFormatError as exc:
        raise IntegrityError(f"{exc} in a decoded chunk frame") from None
