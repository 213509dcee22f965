"""The ranged read-ahead stream, driven by a fake block fetcher (what it requests, and when)."""
from __future__ import annotations

import io
import threading
import time

import pytest

from bams3.errors import TransientIOError
from bams3.io._stream import FIRST_BLOCK_SIZE, RangedReader

DATA = bytes(i % 253 for i in range(3_000_000))


class Fetcher:
    """Serves DATA, records every block asked for and the most fetched at once."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.active = 0
        self.peak = 0
        self.fail_at = fail_at
        self.lock = threading.Lock()

    def __call__(self, start: int, end: int, cancel: threading.Event) -> bytes:
        with self.lock:
            self.calls.append((start, end))
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(0.001)
            if self.fail_at is not None and start <= self.fail_at < end:
                raise TransientIOError("block failed")
            return DATA[start:end]
        finally:
            with self.lock:
                self.active -= 1


def reader(
    fetch: Fetcher, start: int = 0, end: int = len(DATA), *, block: int = 1 << 20, ahead: int = 2
) -> RangedReader:
    return RangedReader(fetch, url="s3://b/k", start=start, end=end, block_size=block, readahead=ahead)


def test_blocks_start_small_and_double() -> None:
    fetch = Fetcher()
    with reader(fetch, ahead=0) as stream:
        assert stream.read() == DATA
    sizes = [e - s for s, e in fetch.calls]
    assert sizes[:3] == [FIRST_BLOCK_SIZE, 2 * FIRST_BLOCK_SIZE, 1 << 20]
    assert all(size <= 1 << 20 for size in sizes)
    assert fetch.calls[0][0] == 0 and fetch.calls[-1][1] == len(DATA)
    assert all(a[1] == b[0] for a, b in zip(fetch.calls, fetch.calls[1:]))  # contiguous, no overlap


def test_a_small_read_costs_little() -> None:
    fetch = Fetcher()
    with reader(fetch, ahead=1) as stream:
        assert stream.read(100) == DATA[:100]
    assert sum(e - s for s, e in fetch.calls) <= 3 * FIRST_BLOCK_SIZE


def test_readahead_is_bounded() -> None:
    fetch = Fetcher()
    with reader(fetch, block=100_000, ahead=3) as stream:
        while stream.read(10_000):
            pass
    assert fetch.peak <= 4  # the block being waited for and three ahead


def test_seek_inside_requested_blocks_does_not_refetch() -> None:
    fetch = Fetcher()
    with reader(fetch, block=FIRST_BLOCK_SIZE, ahead=2) as stream:
        stream.read(10)
        stream.seek(FIRST_BLOCK_SIZE + 5)  # inside the block read ahead
        assert stream.read(10) == DATA[FIRST_BLOCK_SIZE + 5 : FIRST_BLOCK_SIZE + 15]
        calls = len(fetch.calls)
        stream.seek(20)  # backwards, before the current block: a fresh small block
        assert stream.read(5) == DATA[20:25]
        assert len(fetch.calls) > calls and fetch.calls[calls][0] == 20


def test_window_and_positions() -> None:
    fetch = Fetcher()
    with reader(fetch, 1000, 5000, ahead=1) as stream:
        assert stream.seekable() and stream.readable()
        assert stream.tell() == 1000
        assert stream.seek(0, io.SEEK_END) == 5000
        assert stream.read(10) == b""
        with pytest.raises(ValueError):
            stream.seek(999)
        stream.seek(4990)
        assert stream.read1(100) == DATA[4990:5000]
    with pytest.raises(ValueError):
        stream.read(1)  # closed


def test_a_failed_block_raises_and_the_stream_recovers_after_seek() -> None:
    fetch = Fetcher(fail_at=FIRST_BLOCK_SIZE + 10)
    with reader(fetch, ahead=1) as stream:
        assert stream.read1(FIRST_BLOCK_SIZE) == DATA[:FIRST_BLOCK_SIZE]
        with pytest.raises(TransientIOError):
            stream.read(100)
        fetch.fail_at = None
        stream.seek(FIRST_BLOCK_SIZE)
        assert stream.read(100) == DATA[FIRST_BLOCK_SIZE : FIRST_BLOCK_SIZE + 100]


def test_close_waits_for_the_readahead() -> None:
    fetch = Fetcher()
    stream = reader(fetch, ahead=3)
    stream.read(1)
    stream.close()
    assert fetch.active == 0
