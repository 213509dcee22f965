"""Multipart upload sizing: S3's limits, and a part size that grows with the object.

S3 limits a multipart upload to 10,000 parts of 5 MiB to 5 GiB each (the last part
may be smaller) and an object to 5 TiB. A fixed part size cannot serve both a 6 MiB
metadata file and a 150 GB BAM: 8 MiB parts stop at 78 GiB, and 512 MiB parts would
make every small upload hold half a gigabyte in memory. So the size is chosen per part:

* with a ``size_hint`` (the file size when uploading a file, the source size when
  copying), the first part size is large enough that the hinted size needs at most
  half of the parts, and stays constant while the hint holds, so memory stays at
  ``(concurrency + 1) * part size``;
* past the hint (or without one), the part size doubles every 1,000 parts, so the
  remaining parts always cover far more than any object S3 accepts: from the 5 MiB
  minimum, 10,000 parts reach 4.9 TiB; from the 8 MiB default, 8 TiB.

The uploader itself is in :mod:`bams3.io._s3`; this module is pure arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError

__all__ = [
    "MIN_PART_SIZE",
    "MAX_PART_SIZE",
    "MAX_PARTS",
    "MAX_OBJECT_SIZE",
    "DEFAULT_PART_SIZE",
    "PARTS_PER_DOUBLING",
    "PartSizer",
    "check_part_size",
]

MiB = 1024 * 1024
#: smallest part S3 accepts (all but the last part)
MIN_PART_SIZE = 5 * MiB
#: largest part S3 accepts
MAX_PART_SIZE = 5 * 1024 * MiB
#: most parts in one upload
MAX_PARTS = 10_000
#: largest object S3 stores
MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB
#: part size when neither the caller nor a size hint asks for more
DEFAULT_PART_SIZE = 8 * MiB
#: parts after which the part size doubles, once past the size hint
PARTS_PER_DOUBLING = 1000


def check_part_size(part_size: int) -> int:
    """``part_size`` if S3 accepts it for every part (5 MiB to 5 GiB), else a UsageError."""
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise UsageError(f"part size must be between 5 MiB and 5 GiB, not {part_size} bytes")
    return part_size


def _round_up_mib(n: int) -> int:
    return -(-n // MiB) * MiB


@dataclass(frozen=True, slots=True)
class PartSizer:
    """Size of each part of one upload.

    Attributes
    ----------
    first
        Size of the first part, and of every part covered by the hint.
    hinted_parts
        Parts needed for the hinted size (0 without a hint): growth starts after them.
    """

    first: int
    hinted_parts: int = 0

    @classmethod
    def plan(cls, part_size: int | None = None, size_hint: int | None = None) -> PartSizer:
        """Choose sizes for an upload of about ``size_hint`` bytes (None: unknown).

        Parameters
        ----------
        part_size
            The smallest part size wanted (default :data:`DEFAULT_PART_SIZE`); must be
            within S3's limits.
        size_hint
            Expected object size; larger objects still upload (the size grows), the
            hint only keeps parts constant and memory low while it holds.

        Examples
        --------
        >>> PartSizer.plan().size_of(1) // MiB
        8
        >>> PartSizer.plan(size_hint=100 * 10**9).size_of(4000) // MiB
        20
        """
        base = DEFAULT_PART_SIZE if part_size is None else check_part_size(int(part_size))
        if size_hint is None or size_hint <= 0:
            return cls(first=base)
        if size_hint > MAX_OBJECT_SIZE:
            raise UsageError(f"{size_hint} bytes is larger than the 5 TiB S3 allows for one object")
        first = min(MAX_PART_SIZE, max(base, _round_up_mib(-(-size_hint // (MAX_PARTS // 2)))))
        return cls(first=first, hinted_parts=-(-size_hint // first))

    def size_of(self, part_number: int) -> int:
        """Size of part ``part_number`` (1-based), the last part of an upload excepted."""
        if not 1 <= part_number <= MAX_PARTS:
            raise UsageError(f"part number {part_number} is outside S3's 1..{MAX_PARTS}")
        doublings = max(0, part_number - 1 - self.hinted_parts) // PARTS_PER_DOUBLING
        return min(MAX_PART_SIZE, self.first << doublings)

    def capacity(self) -> int:
        """The largest object these sizes can upload in :data:`MAX_PARTS` parts."""
        total = 0
        number = 1
        while number <= MAX_PARTS:  # sizes change only every PARTS_PER_DOUBLING parts: sum by runs
            doublings = max(0, number - 1 - self.hinted_parts) // PARTS_PER_DOUBLING
            run_end = min(MAX_PARTS, self.hinted_parts + (doublings + 1) * PARTS_PER_DOUBLING)
            total += self.size_of(number) * (run_end - number + 1)
            number = run_end + 1
        return total
