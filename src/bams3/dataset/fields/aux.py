"""Aux stream: tags grouped by tag and type, so that each tag's values sit together in one column.

A record's aux data is a run of fields ``tag[2] type[1] value`` (SAMv1 section 4.2.4). A block's
fields are parsed and regrouped in C (``_v2_codec.aux_encode``, ``aux_decode``):

- *keys*: a field's key is its tag plus its type, with the integer types ``cCsSiI`` sharing one key
  (aligners pick the smallest type per value, so ``NM`` is ``C`` in one record and ``S`` in the next);
- *layouts*: the sequence of keys of a record; the block lists its distinct layouts and each record
  stores the index of its own;
- *columns*, one per key, values in record order: integers as int64 (byte-shuffled, so the mostly
  zero high bytes compress away) plus their type letters, ``A``/``f`` values as their bytes, ``Z``/``H``
  strings with their NUL, ``B`` arrays as stored (subtype, count, elements).

A record whose aux data does not parse (a truncated field, an unknown type) keeps its bytes verbatim
in a column of its own, so nothing is lost whatever the input. docs/FORMAT.md section 4.3.3 is the
layout; the C code replaced a numpy version that took ~8x longer each way (0.5 s per 100 MB of
records to encode, as much to decode).
"""
from __future__ import annotations

import numpy as np

from .. import _v2_codec
from .container import CorruptStream

__all__ = ["encode_aux", "decode_aux"]


def encode_aux(aux: bytes, lengths: np.ndarray) -> bytes:
    """The aux stream's content (before zstd) for records with aux data ``aux`` of ``lengths``.

    Layouts are numbered in order of first appearance, keys ascending, each key's values in
    (record, field) order.
    """
    return _v2_codec.aux_encode(aux, np.ascontiguousarray(lengths, dtype=np.int64))


def decode_aux(payload: bytes, n: int) -> tuple[bytes, np.ndarray]:
    """(aux bytes of every record, concatenated; their lengths): the inverse of :func:`encode_aux`.

    Raises
    ------
    CorruptStream
        The payload does not describe ``n`` records' aux data.
    """
    try:
        data, lengths = _v2_codec.aux_decode(payload, n)
    except ValueError as exc:
        raise CorruptStream(str(exc)) from None
    return data, np.frombuffer(lengths, dtype=np.int64)
