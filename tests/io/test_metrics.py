"""Request and byte accounting: the counters agree with what a counting proxy sees."""
from __future__ import annotations

import json
import threading

from bams3.io import open_store
from bams3.io.metrics import IO_STATS, IoStats, OpCounts
from tests.helpers.faultproxy import FaultProxy

from .conformance import payload


def test_counts_match_the_wire(s3_bucket: str, fault_proxy: FaultProxy) -> None:
    store = open_store(f"s3://{s3_bucket}", endpoint_url=fault_proxy.url)
    data = payload(1_000_000)
    with IO_STATS.scope() as scope:
        store.put("obj", data)
        assert store.stat("obj") is not None
        assert store.get("obj", (10, 110)) == data[10:110]
        with store.open_read("obj", block_size=300_000, readahead=1) as stream:
            assert stream.read() == data
        list(store.list())
        store.delete("obj")
    s3 = scope.snapshot()["s3"]
    assert s3["put"] == {"requests": 1, "bytes_in": 0, "bytes_out": len(data), "retries": 0, "errors": 0}
    assert s3["get"]["bytes_in"] == 100 + len(data)
    assert s3["get"]["requests"] == fault_proxy.count("GET") - fault_proxy.count("GET", r"list-type")
    assert fault_proxy.bytes_delivered("GET", r"/obj$") == s3["get"]["bytes_in"]
    assert s3["stat"]["requests"] == fault_proxy.count("HEAD") == 2  # stat() and open_read()
    assert s3["list"]["requests"] == 1 and s3["delete"]["requests"] == 1
    assert scope.counts().requests == fault_proxy.count()
    json.dumps(scope.snapshot())  # JSON-ready


def test_scope_is_a_difference_and_freezes() -> None:
    stats = IoStats()
    stats.record("s3", "get", requests=2, bytes_in=10)
    with stats.scope() as scope:
        stats.record("s3", "get", requests=1, bytes_in=5, retries=1)
        stats.record("http", "stat", requests=1)
    stats.record("s3", "get", requests=100)
    assert scope.counts("s3", "get") == OpCounts(requests=1, bytes_in=5, retries=1)
    assert scope.counts() == OpCounts(requests=2, bytes_in=5, retries=1)
    assert stats.counts("s3") == OpCounts(requests=103, bytes_in=15, retries=1)
    stats.reset()
    assert stats.snapshot() == {}


def test_thread_safe_counting() -> None:
    stats = IoStats()

    def work() -> None:
        for _ in range(2000):
            stats.record("s3", "get", requests=1, bytes_in=3)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.counts() == OpCounts(requests=8000, bytes_in=24000)


def test_format_table() -> None:
    stats = IoStats()
    assert stats.format_table() == "I/O: no requests"
    stats.record("s3", "get", requests=3, bytes_in=5 * 1024 * 1024, retries=1)
    stats.record("file", "stat", requests=1)
    lines = stats.format_table().splitlines()
    assert lines[0].split() == ["scheme", "operation", "requests", "retries", "errors", "bytes", "in", "bytes", "out"]
    assert lines[1].split() == ["file", "stat", "1", "0", "0", "0", "B", "0", "B"]
    assert lines[2].split() == ["s3", "get", "3", "1", "0", "5.0", "MiB", "0", "B"]
    assert lines[3].split()[:2] == ["total", "4"]
