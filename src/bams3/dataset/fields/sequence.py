"""Sequence stream. Revision 2 of the codec (the default) codes each base against the running consensus
of the block's earlier reads at its reference position (C: ``_v2_codec.seq_encode``, docs/FORMAT.md
section 4.3.1): on the realistic BAM 16.9 MB for 445 M bases, where revision 1 (below) needs 31.6 MB
and CRAM 3.1 without a reference 23.1 MB.

Revision 1: one byte per base (the BAM 4-bit code), so that overlapping reads repeat byte-aligned.

BAM packs two bases per byte. Two reads that overlap share their bases, but in packed form only when
they start an even number of bases apart; unpacked to one code per byte every overlap is a match an
LZ coder finds. Measured on the realistic BAM (285,524 reads, 1 MiB blocks, zstd level 5): packed
3.53 MB, unpacked 3.04 MB. The pad nibble of odd-length reads (0 as htslib writes it, but kept
whatever it is) goes to its own column.
"""
from __future__ import annotations

import numpy as np

from .columns import offsets_of

__all__ = ["unpack", "pack"]


def _pad_positions(l_seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of every record's pad nibble in the unpacked nibbles, and which records have one."""
    packed = (l_seq + 1) // 2
    odd = (l_seq & 1) == 1
    return (2 * (offsets_of(packed) + packed) - 1)[odd], odd


def unpack(seq: bytes, l_seq: np.ndarray) -> tuple[bytes, bytes]:
    """(one code per base, the pad nibble of each odd-length record) from packed BAM sequences."""
    l_seq = np.asarray(l_seq, dtype=np.int64)
    packed = np.frombuffer(seq, dtype=np.uint8)
    nibbles = np.empty(2 * len(packed), dtype=np.uint8)
    nibbles[0::2] = packed >> 4
    nibbles[1::2] = packed & 0x0F
    pads, _ = _pad_positions(l_seq)
    if len(pads) == 0:
        return nibbles.tobytes(), b""
    keep = np.ones(len(nibbles), dtype=bool)
    keep[pads] = False
    return nibbles[keep].tobytes(), nibbles[pads].tobytes()


def pack(codes: bytes, pads: bytes, l_seq: np.ndarray) -> bytes:
    """The packed BAM sequences: the inverse of :func:`unpack`.

    Raises
    ------
    ValueError
        The codes or pads do not fit the lengths.
    """
    l_seq = np.asarray(l_seq, dtype=np.int64)
    bases = np.frombuffer(codes, dtype=np.uint8)
    if len(bases) != int(l_seq.sum()) or np.any(bases > 0x0F):
        raise ValueError("sequence codes do not match the read lengths")
    positions, odd = _pad_positions(l_seq)
    pad = np.frombuffer(pads, dtype=np.uint8)
    if len(pad) != len(positions) or np.any(pad > 0x0F):
        raise ValueError("sequence pad nibbles do not match the read lengths")
    if len(positions):
        nibbles = np.empty(len(bases) + len(positions), dtype=np.uint8)
        keep = np.ones(len(nibbles), dtype=bool)
        keep[positions] = False
        nibbles[keep] = bases
        nibbles[positions] = pad
    else:
        nibbles = bases
    return ((nibbles[0::2] << 4) | nibbles[1::2]).astype(np.uint8).tobytes()


#: columns of a revision 2 ``seq`` stream (docs/FORMAT.md section 4.3.1)
CONSENSUS_COLUMNS = 4


def encode_consensus(codes: bytes, l_seq: np.ndarray, pos: np.ndarray, flag: np.ndarray, n_cigar: np.ndarray,
                     cigar: np.ndarray) -> list[bytes]:
    """The four columns of a revision 2 ``seq`` stream: packed literals, literal exceptions, match
    gaps and mismatched bases (the consensus model of ``_v2_codec.c``, docs/FORMAT.md section 4.3.1)."""
    from .. import _v2_codec

    return list(_v2_codec.seq_encode(codes, *_model_args(l_seq, pos, flag, n_cigar, cigar)))


def decode_consensus(columns: list[bytes], l_seq: np.ndarray, pos: np.ndarray, flag: np.ndarray,
                     n_cigar: np.ndarray, cigar: np.ndarray) -> bytes:
    """One code per base from the columns :func:`encode_consensus` made.

    Raises
    ------
    ValueError
        The columns do not decode, or do not fit the records.
    """
    from .. import _v2_codec

    return _v2_codec.seq_decode(*columns, *_model_args(l_seq, pos, flag, n_cigar, cigar))


def _model_args(l_seq, pos, flag, n_cigar, cigar) -> tuple[np.ndarray, ...]:
    return (np.ascontiguousarray(l_seq, dtype=np.int64), np.ascontiguousarray(pos, dtype=np.int64),
            np.ascontiguousarray(flag, dtype=np.uint16), np.ascontiguousarray(n_cigar, dtype=np.int64),
            np.ascontiguousarray(cigar, dtype="<u4"))
