"""Aux stream: tags grouped by tag and type, so that each tag's values sit together in one column.

A record's aux data is a run of fields ``tag[2] type[1] value`` (SAMv1 section 4.2.4). The block's
fields are parsed and regrouped in C (``_v2_codec.aux_encode``) and rebuilt with numpy when decoding:

- *keys*: a field's key is its tag plus its type, with the integer types ``cCsSiI`` sharing one key
  (aligners pick the smallest type per value, so ``NM`` is ``C`` in one record and ``S`` in the next);
- *layouts*: the sequence of keys of a record; the block lists its distinct layouts and each record
  stores the index of its own;
- *columns*, one per key, values in record order: integers as int64 (byte-shuffled, so the mostly
  zero high bytes compress away) plus their type letters, ``A``/``f`` values as their bytes, ``Z``/``H``
  strings with their NUL, ``B`` arrays as stored (subtype, count, elements).

A record whose aux data does not parse (a truncated field, an unknown type) keeps its bytes verbatim
in a column of its own, so nothing is lost whatever the input.
"""
from __future__ import annotations

import struct

import numpy as np

from .. import _v2_codec
from .columns import offsets_of
from .container import CorruptStream, unpack_columns, unshuffle

__all__ = ["encode_aux", "decode_aux"]

_INT_TYPES = b"cCsSiI"
_INT_DTYPES = {ord("c"): "<i1", ord("C"): "<u1", ord("s"): "<i2", ord("S"): "<u2", ord("i"): "<i4", ord("I"): "<u4"}
_FIXED_SIZES = {**{t: np.dtype(d).itemsize for t, d in _INT_DTYPES.items()}, ord("A"): 1, ord("f"): 4}
_B_SIZES = {ord("c"): 1, ord("C"): 1, ord("s"): 2, ord("S"): 2, ord("i"): 4, ord("I"): 4, ord("f"): 4}
#: the type letter a key stores for every integer type
_INT_CLASS = ord("i")
_VERBATIM = 0xFFFFFFFF


def _lookup(table: dict[int, int]) -> np.ndarray:
    out = np.zeros(256, dtype=np.int64)
    for key, value in table.items():
        out[key] = value
    return out


_FIXED = _lookup(_FIXED_SIZES)
_B_ELEMENT = _lookup(_B_SIZES)


def encode_aux(aux: bytes, lengths: np.ndarray) -> bytes:
    """The aux stream's content (before zstd) for records with aux data ``aux`` of ``lengths``.

    Coded in C (``_v2_codec.aux_encode``: parse every field, intern keys and layouts, fill the
    columns; ~0.6 s per GB of records where the numpy version took ~5): layouts are numbered in order
    of first appearance, keys ascending, each key's values in (record, field) order.
    """
    return _v2_codec.aux_encode(aux, np.ascontiguousarray(lengths, dtype=np.int64))


def _value_sizes(key_type: int, types: np.ndarray, values: bytes, count: int) -> np.ndarray:
    """Bytes of each value of one key's column (see :func:`encode_aux`)."""
    if key_type == _INT_CLASS:
        sizes = _FIXED[types]
        if not np.all(np.isin(types, np.frombuffer(_INT_TYPES, np.uint8))):
            raise CorruptStream("aux integer of an unknown type")
        return sizes
    data = np.frombuffer(values, dtype=np.uint8)
    if key_type in (ord("A"), ord("f")):
        sizes = np.full(count, _FIXED_SIZES[key_type], dtype=np.int64)
    elif key_type in (ord("Z"), ord("H")):
        stops = np.flatnonzero(data == 0)
        if len(stops) < count:
            raise CorruptStream("aux strings do not fit their column")
        stops = stops[:count]
        sizes = np.diff(stops, prepend=-1)
    elif key_type == ord("B"):
        sizes = np.zeros(count, dtype=np.int64)
        at = 0
        # arrays are few (CG, methylation, ...): walking their headers one by one is cheap
        for i in range(count):
            if at + 5 > len(data) or _B_ELEMENT[data[at]] == 0:
                raise CorruptStream("aux array header does not fit its column")
            sizes[i] = 5 + int.from_bytes(data[at + 1: at + 5], "little") * int(_B_ELEMENT[data[at]])
            at += int(sizes[i])
    else:
        raise CorruptStream(f"aux key of unknown type {key_type}")
    if int(sizes.sum()) != len(values):
        raise CorruptStream("aux values do not fit their column")
    return sizes


def decode_aux(payload: bytes, n: int) -> tuple[bytes, np.ndarray]:
    """(aux bytes of every record, concatenated; their lengths): the inverse of :func:`encode_aux`.

    Raises
    ------
    CorruptStream
        The payload does not describe ``n`` records' aux data.
    """
    head = unpack_columns(payload, struct.unpack_from("<I", payload)[0] if len(payload) >= 4 else 0)
    if len(head) < 6:
        raise CorruptStream("aux stream too short")
    if len(head[0]) != 8:
        raise CorruptStream("aux layout table has no shape")
    n_layouts, width = struct.unpack("<II", head[0])
    if len(head[1]) != 4 * n_layouts * width:
        raise CorruptStream("aux layouts do not fit")
    grid = np.frombuffer(head[1], dtype="<u4").reshape(n_layouts, width).astype(np.int64)
    layout_of = unshuffle(head[2], "<u4", count=n).astype(np.int64)
    verbatim = layout_of == _VERBATIM
    if np.any(layout_of[~verbatim] >= n_layouts):
        raise CorruptStream("aux layout index out of range")
    (n_keys,) = struct.unpack_from("<I", head[3])
    keys = struct.unpack_from(f"<{n_keys}I", head[3], 4)
    if len(head) != 4 + 2 * n_keys + 2:
        raise CorruptStream("aux stream holds another number of columns")
    fields = grid[np.where(verbatim, 0, layout_of)] if n and n_layouts else np.zeros((n, width), dtype=np.int64)
    fields[verbatim] = 0
    record, index = np.nonzero(fields)  # row-major: fields come in record order, then field order
    key = fields[record, index] - 1
    key_array = np.asarray(keys, dtype=np.int64)
    key_number = np.searchsorted(key_array, key)
    if len(key) and (np.any(key_number >= len(keys)) or np.any(key_array[np.minimum(key_number, len(keys) - 1)] != key)):
        raise CorruptStream("aux layout names a key without a column")
    order = np.argsort(key_number.astype(np.uint16), kind="stable")
    bounds = np.searchsorted(key_number[order], np.arange(len(keys) + 1))
    field_size = np.zeros(len(record), dtype=np.int64)
    pieces: list[tuple[np.ndarray, bytes, np.ndarray]] = []  # (fields in key order, value bytes, sizes)
    for i, k in enumerate(keys):
        sel = order[bounds[i]: bounds[i + 1]]
        types_col, values_col = head[4 + 2 * i], head[5 + 2 * i]
        if (k & 0xFF) == _INT_CLASS:
            types = np.frombuffer(types_col, dtype=np.uint8).astype(np.int64)
            if len(types) != len(sel):
                raise CorruptStream("aux integer column does not fit its layouts")
            values = unshuffle(values_col, "<i8", count=len(sel))
            sizes = _value_sizes(k & 0xFF, types, b"", len(sel))
            blob = bytearray(int(sizes.sum()))
            starts = offsets_of(sizes)
            for letter, dtype in _INT_DTYPES.items():
                mask = types == letter
                if mask.any():
                    _v2_codec.scatter(blob, starts[mask], values[mask].astype(dtype).tobytes(), sizes[mask])
            pieces.append((sel, bytes(blob), sizes))
            field_type = types
        else:
            sizes = _value_sizes(k & 0xFF, np.zeros(0, np.int64), values_col, len(sel))
            pieces.append((sel, values_col, sizes))
            field_type = np.full(len(sel), k & 0xFF, dtype=np.int64)
        field_size[sel] = 3 + sizes
        key_of = np.full(len(sel), k >> 8, dtype=np.int64)
        pieces[-1] = (*pieces[-1], key_of, field_type)  # type: ignore[assignment]
    verbatim_lengths = unshuffle(head[-2], "<u4").astype(np.int64)
    verbatim_bytes = head[-1]
    if len(verbatim_lengths) != int(verbatim.sum()) or int(verbatim_lengths.sum()) != len(verbatim_bytes):
        raise CorruptStream("verbatim aux data does not fit")
    # (float weights are exact here: a record's aux data is far below 2^53 bytes)
    lengths = np.bincount(record, weights=field_size, minlength=n).astype(np.int64)
    lengths[verbatim] = verbatim_lengths
    record_start = offsets_of(lengths)
    # fields are in record order: a field starts where the fields before it in its record end
    cum = offsets_of(field_size)
    firsts = offsets_of(np.bincount(record, minlength=n)) if len(record) else np.zeros(n, np.int64)
    within = cum - cum[firsts[record]] if len(record) else cum
    field_start = record_start[record] + within
    out = bytearray(int(lengths.sum()))
    for sel, blob, sizes, key_of, field_type in pieces:  # type: ignore[misc]
        head3 = np.empty((len(sel), 3), dtype=np.uint8)
        head3[:, 0] = key_of & 0xFF
        head3[:, 1] = key_of >> 8
        head3[:, 2] = field_type
        _v2_codec.scatter(out, field_start[sel], head3.tobytes(), np.full(len(sel), 3, dtype=np.int64))
        _v2_codec.scatter(out, field_start[sel] + 3, blob, sizes)
    _v2_codec.scatter(out, record_start[verbatim], verbatim_bytes, verbatim_lengths)
    return bytes(out), lengths
