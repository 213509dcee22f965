"""Streaming gzip / zstd decompression of a staged file, with truncation detection.

A reference shipped as ``hg38.fa.gz`` but wanted as ``hg38.fa`` is decompressed on
the way into the run directory. The format is recognised by its magic bytes, not the
file name (signed URLs rarely keep a telling suffix). Both formats may hold several
concatenated members or frames (BGZF is multi-member gzip, ``zstd -T`` writes several
frames), and input that stops inside a member is an error, not a short file.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import zstandard

from ..errors import IntegrityError

__all__ = ["detect_format", "decompress_file", "COMPRESSED_SUFFIXES"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: URL path endings the ``decompress`` default applies to
COMPRESSED_SUFFIXES = (".gz", ".zst")

#: compressed bytes fed at a time; small enough that even a pathological ratio (gzip tops out
#: near 1:1000) keeps one output buffer well under a gigabyte
_BLOCK = 64 << 10
#: input bytes handed to a decoder per call. The output of one call is held in memory, so it
#: must be bounded by the format's worst expansion: deflate stays under ~1032:1 (64 KiB in,
#: at most ~66 MB out), but a zstd block of 4 bytes stands for up to 128 KiB (32768:1), so
#: zstd gets 1 KiB at a time (at most 32 MiB out; ~5 us per call, ~5 s per GB of input). A
#: few-KB "bomb" of zeros is then written to disk in bounded steps, not inflated in memory.
_FEED = {"gzip": _BLOCK, "zstd": 1 << 10}


class _Decoder(Protocol):
    eof: bool
    unused_data: bytes

    def decompress(self, data: bytes) -> bytes: ...


def detect_format(head: bytes) -> str | None:
    """``"gzip"``, ``"zstd"`` or ``None`` from the first bytes of a file."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def _factory(fmt: str) -> Callable[[], _Decoder]:
    if fmt == "gzip":
        return lambda: zlib.decompressobj(wbits=31)
    decompressor = zstandard.ZstdDecompressor()
    return lambda: decompressor.decompressobj()


def decompress_file(source: Path, dest: Path, *, what: str) -> int:
    """Decompress ``source`` (gzip or zstd, detected) into ``dest``; return the bytes written.

    Parameters
    ----------
    source, dest
        Local files; ``dest`` is created or truncated (callers pass a temporary name).
    what
        How to name the file in errors (manifest name and redacted URL).

    Raises
    ------
    IntegrityError
        If ``source`` is neither gzip nor zstd, is corrupt, or ends inside a member.
    """
    with open(source, "rb") as src:
        fmt = detect_format(src.read(4))
        if fmt is None:
            raise IntegrityError(f"{what}: asked to decompress, but the data is neither gzip nor zstd")
        src.seek(0)
        new_decoder = _factory(fmt)
        decoder = new_decoder()
        written = 0
        in_member = False
        try:
            with open(dest, "wb") as out:
                feed = _FEED[fmt]
                while block := src.read(_BLOCK):
                    for start in range(0, len(block), feed):
                        pending = block[start : start + feed]
                        while pending:
                            in_member = True
                            data = decoder.decompress(pending)
                            out.write(data)
                            written += len(data)
                            data = pending = b""  # drop the output before the next call makes more
                            if decoder.eof:
                                in_member = False
                                pending = decoder.unused_data
                                decoder = new_decoder()
        except (zlib.error, zstandard.ZstdError) as exc:
            raise IntegrityError(f"{what}: corrupt {fmt} data ({exc})") from None
    if in_member:
        raise IntegrityError(f"{what}: truncated {fmt} data (ends inside a compressed member)")
    return written

