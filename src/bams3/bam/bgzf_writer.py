"""Write BGZF: blocks of at most 64 KiB, each a gzip member with the ``BC`` size field.

Like htslib, a block holds at most 0xff00 bytes of input so that even incompressible
data fits (stored) within 64 KiB; :meth:`BgzfWriter.tell` gives the virtual position of
the next byte written, which is what indexes and BAMS3 metadata record.
"""
from __future__ import annotations

import struct
from typing import BinaryIO

import deflate

from . import _layout as L
from .bgzf import VirtualPosition

__all__ = ["BgzfWriter", "DEFAULT_LEVEL", "compress_block"]

#: deflate level: htslib's default (zlib's 6); libdeflate levels run 0 (stored) to 12
DEFAULT_LEVEL = 6

# magic, CM=8, FLG=FEXTRA, MTIME=0, XFL=0, OS=255 (unknown), XLEN=6, "BC", SLEN=2, BSIZE
_HEADER = struct.Struct("<4BIBBH2sHH")
_TRAILER = struct.Struct("<II")
_OVERHEAD = _HEADER.size + _TRAILER.size


def compress_block(data: bytes | bytearray | memoryview, *, level: int = DEFAULT_LEVEL) -> bytes:
    """One complete BGZF block (header, deflate data, trailer) holding ``data``.

    ``data`` must be at most 0xff00 bytes: stored at level 0 that still fits in 64 KiB,
    which is the fallback when compression would not.
    """
    if len(data) > L.BGZF_WRITE_BLOCK_SIZE:
        raise ValueError(f"a BGZF block holds at most {L.BGZF_WRITE_BLOCK_SIZE} bytes, got {len(data)}")
    payload = deflate.deflate_compress(data, level)
    if len(payload) + _OVERHEAD > L.BGZF_MAX_BLOCK_SIZE:
        payload = deflate.deflate_compress(data, 0)
    header = _HEADER.pack(
        L.GZIP_ID1, L.GZIP_ID2, L.GZIP_CM_DEFLATE, L.GZIP_FLG_FEXTRA, 0, 0, 255,
        6, L.BGZF_SUBFIELD_ID, L.BGZF_SUBFIELD_LEN, len(payload) + _OVERHEAD - 1,
    )
    return b"".join((header, payload, _TRAILER.pack(deflate.crc32(data), len(data))))


class BgzfWriter:
    """Buffer bytes into BGZF blocks written to a binary stream.

    Parameters
    ----------
    fileobj
        Where blocks go (``write(bytes)``); the writer does not close it.
    level
        Deflate level, 0 (stored) to 12; 6 as htslib.
    start_coffset
        File offset of the stream's first byte, when appending to a file that already
        holds blocks, so that :meth:`tell` stays a true file position.

    Examples
    --------
    >>> import io
    >>> out = io.BytesIO()
    >>> with BgzfWriter(out) as w:
    ...     w.write(b"hello")
    ...     w.tell()
    5
    VirtualPosition(compressed=0, uncompressed=5)
    >>> out.getvalue().endswith(bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000"))
    True
    """

    def __init__(self, fileobj: BinaryIO, *, level: int = DEFAULT_LEVEL, start_coffset: int = 0) -> None:
        if not 0 <= level <= 12:
            raise ValueError(f"deflate level must be 0..12, got {level}")
        self._out = fileobj
        self._level = level
        self._pending = bytearray()
        self._coffset = start_coffset
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Buffer ``data``; every full 0xff00 bytes become a block. Returns ``len(data)``."""
        if self._closed:
            raise ValueError("write to a closed BgzfWriter")
        pending = self._pending
        pending += data
        block = L.BGZF_WRITE_BLOCK_SIZE
        if len(pending) >= block:
            view = memoryview(pending)
            full = len(pending) - len(pending) % block
            for start in range(0, full, block):
                self._emit(view[start : start + block])
            view.release()
            del pending[:full]
        return len(data)

    def tell(self) -> VirtualPosition:
        """Virtual position of the next byte to be written."""
        return VirtualPosition(self._coffset, len(self._pending))

    def flush(self) -> None:
        """End the current block (if it holds anything), so the next write starts a new one.

        Useful before data that readers should find at a block start (htslib ends the
        header's block this way).
        """
        if self._pending:
            self._emit(memoryview(self._pending))
            self._pending.clear()

    def close(self) -> None:
        """Flush and write the EOF marker; the underlying stream stays open."""
        if self._closed:
            return
        self.flush()
        self._out.write(L.BGZF_EOF_MARKER)
        self._coffset += len(L.BGZF_EOF_MARKER)
        self._closed = True

    def __enter__(self) -> BgzfWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()

    def _emit(self, data: memoryview) -> None:
        block = compress_block(data, level=self._level)
        self._out.write(block)
        self._coffset += len(block)
