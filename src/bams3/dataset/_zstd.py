"""What a zstd frame can physically decode to: its header's claims are checked before any allocation.

A zstd frame header may declare any content size (up to 2^64-1) in a few bytes, and
python-zstandard allocates the declared size up front (``max_output_size`` only bounds frames
that declare none). A chunk frame, a packed table or the metadata's header blob read from a
tampered or damaged object could therefore make the reader allocate terabytes. Every decoder
of this package asks :func:`claim_problem` first: the expected size (from the frame table, the
row count, the metadata) must be one the frame's own byte length can produce, and the header's
declared size, when present, must equal it.
"""
from __future__ import annotations

import zstandard

__all__ = ["BLOCK_MAX", "max_content_size", "claim_problem"]

#: zstd's largest block content (ZSTD_BLOCKSIZE_MAX, 128 KiB): no block decodes to more
BLOCK_MAX = 128 * 1024
#: every block costs at least its 3-byte block header (an RLE block, the densest, costs 4)
_MIN_BLOCK_BYTES = 3


def max_content_size(compressed_size: int) -> int:
    """An upper bound of the bytes a zstd frame of ``compressed_size`` bytes can decode to.

    At most one block per 3 bytes, each at most 128 KiB: about 43,000x, above zstd's real best
    (an all-zero input compresses ~32,600x), so no honest frame is refused.
    """
    return (max(int(compressed_size), 0) // _MIN_BLOCK_BYTES + 1) * BLOCK_MAX


def claim_problem(frame: bytes | memoryview, expected: int) -> str | None:
    """Why ``frame`` cannot decode to ``expected`` bytes, or None when it may.

    Checks ``expected`` against the frame's length and against the content size its header
    declares (when it declares one); a header that does not parse is a problem too. Nothing
    is allocated beyond a few bytes.
    """
    if expected < 0:
        return f"negative expected size {expected}"
    bound = max_content_size(len(frame))
    if expected > bound:
        return f"a {len(frame)}-byte zstd frame cannot hold {expected} bytes (at most {bound})"
    try:
        declared = zstandard.frame_content_size(frame)
    except zstandard.ZstdError:
        return f"no valid zstd frame header in {len(frame)} bytes"
    if declared != -1 and declared != expected:
        return f"zstd frame header declares {declared} bytes, expected {expected}"
    return None
