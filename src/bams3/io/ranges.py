"""Byte ranges: the three request forms, and planning many ranges into few requests.

The request forms follow zarr and obstore (and HTTP's ``Range`` header):
``RangeByteRequest(start, end)`` with an exclusive end (``bytes=start-(end-1)``),
``OffsetByteRequest(offset)`` for everything from an offset (``bytes=offset-``) and
``SuffixByteRequest(suffix)`` for the last bytes (``bytes=-suffix``). A plain
``(start, end)`` tuple is accepted wherever a range is and means a ``RangeByteRequest``.

:func:`plan_ranges` is the pure half of :meth:`bams3.io.Store.get_ranges`: a BAM
region query or a BAMS3 chunk read asks for many small ranges, often close together,
and a round trip to S3 costs tens of milliseconds whatever its size, so nearby ranges
are merged into one request (reading a small gap is cheaper than another request)
while requests stay small enough to retry and to run several at once.
:func:`fetch_planned` runs such a plan on a thread pool.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeAlias

from ..errors import UsageError

__all__ = [
    "RangeByteRequest",
    "OffsetByteRequest",
    "SuffixByteRequest",
    "ByteRequest",
    "RangeGroup",
    "as_byte_request",
    "http_range_header",
    "resolve_range",
    "plan_ranges",
    "fetch_planned",
]


@dataclass(frozen=True, slots=True)
class RangeByteRequest:
    """Bytes ``[start, end)`` of an object (HTTP ``bytes=start-(end-1)``)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise UsageError(f"invalid byte range [{self.start}, {self.end})")


@dataclass(frozen=True, slots=True)
class OffsetByteRequest:
    """Every byte from ``offset`` to the end (HTTP ``bytes=offset-``)."""

    offset: int

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise UsageError(f"invalid byte offset {self.offset}")


@dataclass(frozen=True, slots=True)
class SuffixByteRequest:
    """The last ``suffix`` bytes (HTTP ``bytes=-suffix``); the whole object if it is shorter."""

    suffix: int

    def __post_init__(self) -> None:
        if self.suffix < 0:
            raise UsageError(f"invalid byte suffix {self.suffix}")


ByteRequest: TypeAlias = RangeByteRequest | OffsetByteRequest | SuffixByteRequest


def as_byte_request(byte_range: ByteRequest | tuple[int, int] | None) -> ByteRequest | None:
    """Normalise the accepted spellings of a range (None means the whole object)."""
    if byte_range is None or isinstance(byte_range, (RangeByteRequest, OffsetByteRequest, SuffixByteRequest)):
        return byte_range
    if isinstance(byte_range, tuple) and len(byte_range) == 2:
        return RangeByteRequest(int(byte_range[0]), int(byte_range[1]))
    raise TypeError(f"unsupported byte range {byte_range!r}")


def http_range_header(request: ByteRequest | None) -> str | None:
    """The ``Range`` header value for a non-empty request (None for the whole object).

    Empty requests (``start == end``, ``suffix == 0``) cannot be expressed in HTTP;
    callers answer them without a request.
    """
    if request is None:
        return None
    if isinstance(request, RangeByteRequest):
        if request.end == request.start:
            raise ValueError("empty range has no HTTP form")
        return f"bytes={request.start}-{request.end - 1}"
    if isinstance(request, OffsetByteRequest):
        return f"bytes={request.offset}-"
    if isinstance(request, SuffixByteRequest):
        if request.suffix == 0:
            raise ValueError("empty suffix has no HTTP form")
        return f"bytes=-{request.suffix}"
    raise TypeError(f"unsupported byte range {request!r}")


def resolve_range(request: ByteRequest | None, size: int) -> tuple[int, int]:
    """Absolute ``(start, end)`` of ``request`` in an object of ``size`` bytes, clipped to it.

    Examples
    --------
    >>> resolve_range(SuffixByteRequest(10), 4)
    (0, 4)
    >>> resolve_range(RangeByteRequest(2, 100), 50)
    (2, 50)
    >>> resolve_range(OffsetByteRequest(60), 50)
    (50, 50)
    """
    if request is None:
        return 0, size
    if isinstance(request, RangeByteRequest):
        start = min(request.start, size)
        return start, max(start, min(request.end, size))
    if isinstance(request, OffsetByteRequest):
        return min(request.offset, size), size
    if isinstance(request, SuffixByteRequest):
        return max(0, size - request.suffix), size
    raise TypeError(f"unsupported byte range {request!r}")


@dataclass(frozen=True, slots=True)
class RangeGroup:
    """One request of a plan: bytes ``[start, end)`` serving the ``members``.

    ``members`` holds ``(index, start, end)`` for each requested range it covers, with
    ``index`` its position in the caller's list.
    """

    start: int
    end: int
    members: tuple[tuple[int, int, int], ...]


def plan_ranges(
    ranges: Sequence[tuple[int, int]], *, max_gap: int, max_request: int
) -> list[RangeGroup]:
    """Merge nearby byte ranges into fewer, larger requests (pure: no I/O).

    Ranges are taken in order of their start; a range joins the current group when it
    lies inside it, or when the gap between the group's end and the range's start is at
    most ``max_gap`` bytes (overlaps count as no gap) and the merged request stays within
    ``max_request`` bytes. A single range larger than ``max_request`` is its own request
    (with any ranges inside it). Empty ranges need no bytes and are left out of every group.

    Parameters
    ----------
    ranges
        ``(start, end)`` pairs, end exclusive, in any order; duplicates allowed.
    max_gap
        Largest run of unwanted bytes worth reading to save a request.
    max_request
        Largest merged request, in bytes.

    Returns
    -------
    list of RangeGroup
        Sorted by start; every non-empty input range is a member of exactly one group,
        which contains it.

    Examples
    --------
    >>> [(g.start, g.end) for g in plan_ranges([(0, 10), (20, 30), (1000, 1010)], max_gap=10, max_request=100)]
    [(0, 30), (1000, 1010)]
    """
    if max_gap < 0 or max_request < 1:
        raise UsageError(f"invalid range plan limits max_gap={max_gap} max_request={max_request}")
    order = sorted(
        ((i, int(s), int(e)) for i, (s, e) in enumerate(ranges)),
        key=lambda m: (m[1], m[2]),
    )
    groups: list[RangeGroup] = []
    current: list[tuple[int, int, int]] = []
    g_start = g_end = 0
    for member in order:
        _, start, end = member
        if start < 0 or end < start:
            raise UsageError(f"invalid byte range [{start}, {end})")
        if end == start:
            continue
        contained = end <= g_end  # costs no extra byte: always joins
        if current and (contained or (start - g_end <= max_gap and end - g_start <= max_request)):
            current.append(member)
            g_end = max(g_end, end)
            continue
        if current:
            groups.append(RangeGroup(g_start, g_end, tuple(current)))
        current, g_start, g_end = [member], start, end
    if current:
        groups.append(RangeGroup(g_start, g_end, tuple(current)))
    return groups


def fetch_planned(
    fetch: Callable[[int, int], bytes],
    ranges: Sequence[tuple[int, int]],
    *,
    max_gap: int,
    max_request: int,
    max_concurrency: int,
) -> list[bytes]:
    """Fetch ``ranges`` through ``fetch(start, end)`` following :func:`plan_ranges`.

    Groups run on up to ``max_concurrency`` threads. Each result is sliced out of its
    group's bytes; where the object ends inside a range, that range's bytes are short
    (as with :meth:`Store.get`). The first failure is raised once the others finished.
    """
    if max_concurrency < 1:
        raise UsageError(f"max_concurrency must be at least 1, not {max_concurrency}")
    groups = plan_ranges(ranges, max_gap=max_gap, max_request=max_request)
    results: list[bytes] = [b""] * len(ranges)

    def run(group: RangeGroup) -> None:
        data = fetch(group.start, group.end)
        if len(group.members) == 1 and group.members[0][1:] == (group.start, group.end):
            results[group.members[0][0]] = data  # the common unmerged case: no copy
            return
        view = memoryview(data)
        for index, start, end in group.members:
            results[index] = bytes(view[start - group.start : end - group.start])

    if len(groups) <= 1 or max_concurrency == 1:
        for group in groups:
            run(group)
        return results
    with ThreadPoolExecutor(max_workers=min(max_concurrency, len(groups)), thread_name_prefix="bams3-ranges") as pool:
        futures = [pool.submit(run, group) for group in groups]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:  # a failed plan fails as a whole: do not start the rest
            future.cancel()
    for future in futures:
        if not future.cancelled() and future.exception() is not None:
            raise future.exception()  # type: ignore[misc]
    return results
