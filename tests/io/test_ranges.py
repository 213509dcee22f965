"""Byte-range requests and the range planner (pure: properties checked with hypothesis)."""
from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bams3.errors import UsageError
from bams3.io.ranges import (
    OffsetByteRequest,
    RangeByteRequest,
    SuffixByteRequest,
    as_byte_request,
    fetch_planned,
    http_range_header,
    plan_ranges,
    resolve_range,
)

ranges_strategy = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 3_000)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ranges=ranges_strategy, max_gap=st.integers(0, 2_000), max_request=st.integers(1, 8_000))
def test_plan_covers_every_range_once_within_limits(
    ranges: list[tuple[int, int]], max_gap: int, max_request: int
) -> None:
    groups = plan_ranges(ranges, max_gap=max_gap, max_request=max_request)
    members = [m for g in groups for m in g.members]
    non_empty = {i for i, (s, e) in enumerate(ranges) if e > s}
    assert sorted(i for i, _, _ in members) == sorted(non_empty)  # each exactly once
    for group in groups:
        assert group.start == min(s for _, s, _ in group.members)
        assert group.end == max(e for _, _, e in group.members)
        for index, start, end in group.members:
            assert (start, end) == ranges[index]
        # a request is over the limit only when a single range alone is
        assert group.end - group.start <= max_request or any(
            e - s == group.end - group.start for _, s, e in group.members
        )
    for a, b in itertools.pairwise(groups):  # sorted, and the first range of b could not join a
        first_start, first_end = b.members[0][1:]
        assert a.start <= b.start
        assert first_end > a.end and (first_start - a.end > max_gap or first_end - a.start > max_request)


@settings(max_examples=200, deadline=None)
@given(ranges=ranges_strategy, max_gap=st.integers(0, 500), max_request=st.integers(1, 4_000))
def test_fetch_planned_returns_the_requested_bytes(
    ranges: list[tuple[int, int]], max_gap: int, max_request: int
) -> None:
    data = bytes(i % 251 for i in range(14_000))
    calls: list[tuple[int, int]] = []
    lock = threading.Lock()

    def fetch(start: int, end: int) -> bytes:
        with lock:
            calls.append((start, end))
        return data[start:end]

    got = fetch_planned(fetch, ranges, max_gap=max_gap, max_request=max_request, max_concurrency=3)
    assert got == [data[s:e] for s, e in ranges]
    assert len(calls) == len(plan_ranges(ranges, max_gap=max_gap, max_request=max_request))


def test_nearby_ranges_merge_and_far_ones_do_not() -> None:
    groups = plan_ranges([(1000, 1100), (0, 100), (150, 200), (5000, 5001)], max_gap=64, max_request=1 << 20)
    assert [(g.start, g.end) for g in groups] == [(0, 200), (1000, 1100), (5000, 5001)]
    assert [i for i, _, _ in groups[0].members] == [1, 2]


def test_request_size_limit_splits_groups() -> None:
    groups = plan_ranges([(0, 60), (60, 120), (120, 180)], max_gap=0, max_request=130)
    assert [(g.start, g.end) for g in groups] == [(0, 120), (120, 180)]
    big = plan_ranges([(0, 500), (10, 20), (0, 500), (400, 600)], max_gap=1000, max_request=100)
    assert [(g.start, g.end, len(g.members)) for g in big] == [(0, 500, 3), (400, 600, 1)]


def test_plan_rejects_bad_input() -> None:
    with pytest.raises(UsageError):
        plan_ranges([(10, 5)], max_gap=0, max_request=10)
    with pytest.raises(UsageError):
        plan_ranges([(0, 5)], max_gap=-1, max_request=10)


def test_fetch_failure_is_raised() -> None:
    def fetch(start: int, end: int) -> bytes:
        if start >= 1000:
            raise OSError("boom")
        return bytes(end - start)

    with pytest.raises(OSError, match="boom"):
        fetch_planned(fetch, [(0, 10), (1000, 1010), (5000, 5010)], max_gap=0, max_request=100, max_concurrency=2)


def test_request_forms() -> None:
    assert as_byte_request((1, 5)) == RangeByteRequest(1, 5)
    assert as_byte_request(None) is None
    with pytest.raises(TypeError):
        as_byte_request([1, 5])  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        RangeByteRequest(5, 1)
    with pytest.raises(UsageError):
        OffsetByteRequest(-1)
    with pytest.raises(UsageError):
        SuffixByteRequest(-1)
    assert http_range_header(RangeByteRequest(0, 10)) == "bytes=0-9"
    assert http_range_header(OffsetByteRequest(7)) == "bytes=7-"
    assert http_range_header(SuffixByteRequest(3)) == "bytes=-3"
    assert http_range_header(None) is None
    with pytest.raises(ValueError):
        http_range_header(RangeByteRequest(4, 4))


@given(size=st.integers(0, 1000), a=st.integers(0, 1200), b=st.integers(0, 1200))
def test_resolve_range_matches_slicing(size: int, a: int, b: int) -> None:
    data = bytes(range(256)) * 4
    data = data[:size]
    start, end = min(a, b), max(a, b)
    s, e = resolve_range(RangeByteRequest(start, end), size)
    assert data[s:e] == data[start:end]
    s, e = resolve_range(OffsetByteRequest(a), size)
    assert data[s:e] == data[a:]
    s, e = resolve_range(SuffixByteRequest(a), size)
    assert data[s:e] == (data[-a:] if a else b"")
