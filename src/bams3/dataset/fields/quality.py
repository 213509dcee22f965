"""Quality stream: an adaptive context model over each block's quality alphabet, range-coded in C.

Stream layout (docs/FORMAT.md section 4.3.2), little-endian::

    u8 model (1 or 2) | u16 A | A bytes: the alphabet (ascending) | u32 CRC-32 of the decoded qualities | coded bytes

Model 1 derives every table from A alone (so nothing but the alphabet is stored): a symbol's context
combines the previous symbol (up to 64 levels), the larger of the two before it (4 levels), the
position in the read in sequencing order (16 buckets of 16 cycles), the running sum of quality
changes (4 levels) and the READ2 bit. Reverse-strand reads are coded from their last quality to their
first (sequencing order). Measured on the realistic BAM (285,524 reads of chr1:10-15 Mbp, blocks of
about 10,000 reads): 8.47 MB for 42.5 M qualities, against 12.03 MB for zstd-5 and 9.32 MB for the
whole quality share of CRAM 3.1 (no reference); the tables are documented so that another
implementation can rebuild them.
"""
from __future__ import annotations

import struct
import zlib
from functools import lru_cache

import numpy as np

from .. import _v2_codec
from .container import CorruptStream

__all__ = ["encode_qualities", "decode_qualities", "MODEL"]

#: the model this bams3 writes; it reads 1 and 2, which code the same probabilities and differ only in
#: the order of each context's cumulative counts (their streams differ, their sizes do not); model 2's
#: coder runs 1.75x faster (see _v2_codec.c)
MODEL = 2
MODELS = (1, 2)
_HEAD = struct.Struct("<BH")
_FLAG_REVERSE = 0x10
_FLAG_READ2 = 0x80
#: selector bits the C coder reads: 1 = READ2 (a context bit), 4 = walk the read backwards
_SEL_READ2 = 1
_SEL_REVERSE = 4
_Q1_LEVELS = 64
_Q2_LEVELS = 4
_POS_BUCKETS = 16
_POS_WIDTH = 16
_DELTA_EDGES = (1, 4, 16)  # running sums below 1, 4, 16, and the rest: 4 levels


@lru_cache(maxsize=64)
def _model(symbols: bytes) -> np.ndarray:
    """The uint32 model description the C coder takes (see _v2_codec.c), for this alphabet."""
    a = len(symbols)
    lut = np.full(256, 0xFFFFFFFF, dtype=np.uint32)
    lut[np.frombuffer(symbols, dtype=np.uint8)] = np.arange(a, dtype=np.uint32)
    marks = np.arange(a + 1, dtype=np.int64)  # symbol indexes, and a (no previous symbol)
    q1 = marks if a + 1 <= _Q1_LEVELS else marks * _Q1_LEVELS // (a + 1)
    n_q1 = int(q1.max()) + 1
    q2 = marks * _Q2_LEVELS // (a + 1)
    position = np.minimum(np.arange(256) // _POS_WIDTH, _POS_BUCKETS - 1)
    delta = np.searchsorted(np.asarray(_DELTA_EDGES), np.arange(256), side="right")
    t_q1 = q1
    t_q2 = q2 * n_q1
    t_pos = position * (n_q1 * _Q2_LEVELS)
    t_delta = delta * (n_q1 * _Q2_LEVELS * _POS_BUCKETS)
    t_sel = np.array([0, 1, 0, 1]) * (n_q1 * _Q2_LEVELS * _POS_BUCKETS * (len(_DELTA_EDGES) + 1))
    n_contexts = n_q1 * _Q2_LEVELS * _POS_BUCKETS * (len(_DELTA_EDGES) + 1) * 2
    symbol_values = np.frombuffer(symbols, dtype=np.uint8).astype(np.uint32)
    return np.concatenate([[n_contexts, a], lut, symbol_values, t_q1, t_q2, t_pos, t_delta, t_sel]).astype(np.uint32)


def _selectors(flag: np.ndarray) -> np.ndarray:
    flag = np.asarray(flag)
    return (np.where(flag & _FLAG_READ2, _SEL_READ2, 0) | np.where(flag & _FLAG_REVERSE, _SEL_REVERSE, 0)).astype(np.uint8)


def encode_qualities(qual: bytes, l_seq: np.ndarray, flag: np.ndarray) -> bytes:
    """The quality stream of a block (qualities concatenated, one ``l_seq`` and flag per record)."""
    counts = np.frombuffer(_v2_codec.histogram(qual), dtype="<u8")
    symbols = np.flatnonzero(counts).astype(np.uint8).tobytes() or b"\0"
    lengths = np.asarray(l_seq, dtype=np.int64)
    coded = _v2_codec.qual_encode(qual, lengths, _selectors(flag), _model(symbols), MODEL)
    return _HEAD.pack(MODEL, len(symbols)) + symbols + struct.pack("<I", zlib.crc32(qual)) + coded


def decode_qualities(stream: bytes, l_seq: np.ndarray, flag: np.ndarray) -> bytes:
    """The qualities of a block from its stream (the records' ``l_seq`` and flags decoded first).

    Raises
    ------
    CorruptStream
        An unknown model, a damaged stream or a CRC-32 mismatch.
    """
    if len(stream) < _HEAD.size:
        raise CorruptStream("quality stream too short")
    model, a = _HEAD.unpack_from(stream)
    if model not in MODELS:
        raise CorruptStream(f"quality model {model} is not supported by this bams3")
    start = _HEAD.size + a + 4
    if a < 1 or a > 256 or len(stream) < start:
        raise CorruptStream("quality stream header is damaged")
    symbols = bytes(stream[_HEAD.size: _HEAD.size + a])
    if any(x >= y for x, y in zip(symbols, symbols[1:])):
        raise CorruptStream("quality alphabet is not ascending")
    (crc,) = struct.unpack_from("<I", stream, _HEAD.size + a)
    try:
        qual = _v2_codec.qual_decode(stream[start:], np.asarray(l_seq, dtype=np.int64), _selectors(flag),
                                     _model(symbols), model)
    except ValueError as exc:
        raise CorruptStream(str(exc)) from None
    if zlib.crc32(qual) != crc:
        raise CorruptStream("quality stream fails its CRC-32")
    return qual
