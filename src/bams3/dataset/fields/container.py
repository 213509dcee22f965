"""Byte columns in one zstd frame: how several small fields of a block share one stream.

A stream that holds several columns (the fixed fields of a block, its aux tags) is one zstd frame,
with its content size and content checksum, whose content is::

    u32 k | u32 length[k] | column 0 | column 1 | ... | column k-1      (little-endian)

Integer columns are written little-endian and byte-shuffled (all first bytes, then all second
bytes, ...), so that zstd sees the slowly varying high bytes together, as the metadata's packed
tables do. Which columns a stream holds, in which order, is fixed by docs/FORMAT.md section 4.3.
"""
from __future__ import annotations

import struct
import threading
from collections.abc import Sequence

import numpy as np
import zstandard

from .._zstd import max_content_size

__all__ = ["shuffle", "unshuffle", "pack_columns", "unpack_columns", "compress", "decompress", "CorruptStream"]


class CorruptStream(ValueError):
    """A stream that does not decode (the caller names the chunk and raises IntegrityError)."""


class _Local(threading.local):
    """zstd contexts are not thread-safe; each thread keeps its own."""

    def __init__(self) -> None:
        self.compressors: dict[int, zstandard.ZstdCompressor] = {}
        self.decompressor = zstandard.ZstdDecompressor()


_local = _Local()
#: a decoded stream larger than this is refused before it is allocated (a block is a few MB)
MAX_STREAM_BYTES = 1 << 31


def compress(data: bytes | bytearray | memoryview, level: int) -> bytes:
    """One zstd frame with content size and checksum (releases the GIL)."""
    compressor = _local.compressors.get(level)
    if compressor is None:
        compressor = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        _local.compressors[level] = compressor
    return compressor.compress(data)


def decompress(frame: bytes | memoryview) -> bytes:
    """The content of one zstd frame (its checksum checked).

    Raises
    ------
    CorruptStream
        Not exactly one valid frame.
    """
    if len(frame) == 0:
        raise CorruptStream("empty stream")
    try:
        params = zstandard.get_frame_parameters(frame)
        # the header's content size is a claim; python-zstandard would allocate it whole, so it
        # must also be one the frame's own length can produce (a 30-byte frame never yields 2 GiB)
        if params.content_size < 0 or params.content_size > min(MAX_STREAM_BYTES, max_content_size(len(frame))):
            raise CorruptStream("stream without a plausible content size")
        return _local.decompressor.decompress(frame, max_output_size=max(params.content_size, 1))
    except zstandard.ZstdError as exc:
        raise CorruptStream(f"corrupt stream ({exc})") from None


def shuffle(values: np.ndarray, dtype: str) -> bytes:
    """``values`` as little-endian ``dtype``, byte-shuffled (wrapping casts, as the format says)."""
    typed = np.asarray(values).astype(np.dtype(dtype), casting="unsafe")
    width = typed.dtype.itemsize
    if width == 1:
        return typed.tobytes()
    return np.ascontiguousarray(typed.view(np.uint8).reshape(-1, width).T).tobytes()


def unshuffle(data: bytes, dtype: str, *, count: int | None = None) -> np.ndarray:
    """The inverse of :func:`shuffle`.

    Raises
    ------
    CorruptStream
        The bytes are not a whole number of values (or not ``count`` of them).
    """
    dt = np.dtype(dtype)
    if len(data) % dt.itemsize or (count is not None and len(data) != count * dt.itemsize):
        raise CorruptStream(f"column of {len(data)} bytes does not hold {count} values of {dtype}")
    n = len(data) // dt.itemsize
    if dt.itemsize == 1:
        return np.frombuffer(data, dtype=dt).copy()
    planes = np.frombuffer(data, dtype=np.uint8).reshape(dt.itemsize, n)
    return np.ascontiguousarray(planes.T).view(dt).reshape(n)


def pack_columns(columns: Sequence[bytes]) -> bytes:
    """``u32 k | u32 length[k] | columns...`` (see the module docstring)."""
    head = struct.pack(f"<I{len(columns)}I", len(columns), *(len(c) for c in columns))
    return head + b"".join(columns)


def unpack_columns(data: bytes, k: int) -> list[bytes]:
    """The ``k`` columns of a :func:`pack_columns` payload.

    Raises
    ------
    CorruptStream
        Another number of columns, or lengths that do not add up to the payload.
    """
    if len(data) < 4 + 4 * k or struct.unpack_from("<I", data)[0] != k:
        raise CorruptStream(f"stream does not hold {k} columns")
    lengths = struct.unpack_from(f"<{k}I", data, 4)
    offset = 4 + 4 * k
    if offset + sum(lengths) != len(data):
        raise CorruptStream("stream column lengths do not add up")
    out = []
    for length in lengths:
        out.append(data[offset: offset + length])
        offset += length
    return out
