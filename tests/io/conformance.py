"""The store conformance suite: one set of behaviours every backend must show.

Subclass :class:`StoreTests` (read-only backends) or :class:`WritableStoreTests`,
provide a ``store`` fixture and the back doors ``backdoor_put`` / ``backdoor_get``
(which bypass the store under test), and every test below runs against that backend.
"""
from __future__ import annotations

import io
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bams3.errors import IntegrityError, ObjectNotFoundError, PreconditionFailedError, UsageError
from bams3.io import (
    ObjectInfo,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
)
from bams3.io.metrics import IO_STATS

BAD_KEYS = ["", "../escape", "a/../../b", "/abs", "a//b", "a\\b", "a/./b", ".", "..", "a/", "nul\x00"]


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


class StoreTests:
    """Behaviour of every store (reads)."""

    @pytest.fixture
    def store(self) -> Store:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def backdoor_put(self, store: Store, key: str, data: bytes) -> None:  # pragma: no cover
        raise NotImplementedError

    def backdoor_get(self, store: Store, key: str) -> bytes | None:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------ stat / get

    def test_missing_object(self, store: Store) -> None:
        assert store.stat("no/such/key") is None
        assert store.get("no/such/key") is None
        assert store.get("no/such/key", (0, 10)) is None
        assert not store.exists("no/such/key")

    def test_stat(self, store: Store) -> None:
        data = payload(1000)
        self.backdoor_put(store, "dir/obj.bin", data)
        info = store.stat("dir/obj.bin")
        assert isinstance(info, ObjectInfo)
        assert (info.key, info.size) == ("dir/obj.bin", 1000)
        assert info.etag
        assert info.url.endswith("dir/obj.bin") or "dir/obj.bin?" in info.url
        assert str(store) == store.url

    def test_get_whole_and_ranges(self, store: Store) -> None:
        data = payload(5000, seed=1)
        self.backdoor_put(store, "obj", data)
        assert store.get("obj") == data
        assert store.get("obj", (10, 20)) == data[10:20]
        assert store.get("obj", RangeByteRequest(0, 5000)) == data
        assert store.get("obj", RangeByteRequest(4990, 6000)) == data[4990:]
        assert store.get("obj", OffsetByteRequest(4000)) == data[4000:]
        assert store.get("obj", SuffixByteRequest(7)) == data[-7:]
        assert store.get("obj", SuffixByteRequest(9999)) == data
        assert store.get("obj", (5000, 5010)) == b""
        assert store.get("obj", (7000, 7010)) == b""
        assert store.get("obj", (30, 30)) == b""
        assert store.get("obj", OffsetByteRequest(5000)) == b""

    def test_invalid_ranges(self, store: Store) -> None:
        self.backdoor_put(store, "obj", b"abc")
        with pytest.raises(UsageError):
            store.get("obj", (5, 2))
        with pytest.raises(UsageError):
            store.get("obj", (-1, 2))

    def test_empty_object(self, store: Store) -> None:
        self.backdoor_put(store, "empty", b"")
        info = store.stat("empty")
        assert info is not None and info.size == 0
        assert store.get("empty") == b""
        assert store.get("empty", (0, 10)) == b""
        with store.open_read("empty") as stream:
            assert stream.read() == b""

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_keys_escaping_the_root_are_refused(self, store: Store, key: str) -> None:
        with pytest.raises(UsageError):
            store.get(key)
        with pytest.raises(UsageError):
            store.stat(key)

    # ------------------------------------------------------------ get_ranges

    def test_get_ranges(self, store: Store) -> None:
        data = payload(300_000, seed=2)
        self.backdoor_put(store, "obj", data)
        ranges = [(0, 10), (5, 15), (100_000, 100_500), (299_990, 300_000), (50, 50), (5, 15), (290_000, 310_000)]
        got = store.get_ranges("obj", ranges, max_gap=1000, max_request=64 * 1024, max_concurrency=3)
        assert got == [data[s:e] for s, e in ranges]

    def test_get_ranges_missing_object(self, store: Store) -> None:
        with pytest.raises(ObjectNotFoundError):
            store.get_ranges("missing", [(0, 1), (10, 20)])

    # ------------------------------------------------------------ streams

    @pytest.mark.parametrize(("block_size", "readahead"), [(8 * 1024 * 1024, 2), (1000, 0), (777, 3)])
    def test_open_read_sequential(self, store: Store, block_size: int, readahead: int) -> None:
        data = payload(20_000, seed=3)
        self.backdoor_put(store, "obj", data)
        with store.open_read("obj", block_size=block_size, readahead=readahead) as stream:
            assert stream.readable()
            pieces = []
            for size in (1, 2, 999, 5000, 3, 100_000):
                pieces.append(stream.read(size))
            assert stream.read(10) == b""
        assert b"".join(pieces) == data
        assert [len(p) for p in pieces[:5]] == [1, 2, 999, 5000, 3]

    def test_open_read_window_and_seek(self, store: Store) -> None:
        data = payload(50_000, seed=4)
        self.backdoor_put(store, "obj", data)
        with store.open_read("obj", 1000, 40_000, block_size=4096, readahead=1) as stream:
            assert stream.tell() == 1000
            assert stream.read(10) == data[1000:1010]
            stream.seek(30_000)
            assert stream.read(20) == data[30_000:30_020]
            stream.seek(2000)  # backwards
            assert stream.read(5) == data[2000:2005]
            stream.seek(-5, io.SEEK_CUR)
            assert stream.tell() == 2000
            buffer = bytearray(3000)
            assert stream.readinto(buffer) == 3000
            assert bytes(buffer) == data[2000:5000]
            stream.seek(39_990)
            assert stream.read() == data[39_990:40_000]
            assert stream.read(1) == b""

    def test_open_read_missing(self, store: Store) -> None:
        with pytest.raises(ObjectNotFoundError):
            store.open_read("missing")

    def test_open_read_past_end(self, store: Store) -> None:
        data = payload(100, seed=5)
        self.backdoor_put(store, "obj", data)
        with store.open_read("obj", 50, 1_000_000) as stream:
            assert stream.read() == data[50:]

    # ------------------------------------------------------------ downloads

    def test_get_file(self, store: Store, tmp_path: Path) -> None:
        data = payload(70_000, seed=6)
        self.backdoor_put(store, "deep/obj.bin", data)
        dest = tmp_path / "out" / "obj.bin"
        info = store.get_file("deep/obj.bin", dest)
        assert info.size == len(data)
        assert dest.read_bytes() == data
        assert sorted(p.name for p in dest.parent.iterdir()) == ["obj.bin"]  # no .part left

    def test_get_file_resumes_a_partial_download(self, store: Store, tmp_path: Path) -> None:
        data = payload(70_000, seed=7)
        self.backdoor_put(store, "obj", data)
        info = store.stat("obj")
        assert info is not None
        dest = tmp_path / "obj"
        (tmp_path / "obj.part").write_bytes(data[:30_000])
        (tmp_path / "obj.part.json").write_text(json.dumps({"etag": info.etag, "size": info.size}))
        store.get_file("obj", dest)
        assert dest.read_bytes() == data

    def test_get_file_restarts_when_the_object_changed(self, store: Store, tmp_path: Path) -> None:
        data = payload(1000, seed=8)
        self.backdoor_put(store, "obj", data)
        dest = tmp_path / "obj"
        (tmp_path / "obj.part").write_bytes(b"x" * 500)  # from another version
        (tmp_path / "obj.part.json").write_text(json.dumps({"etag": '"other"', "size": 1000}))
        store.get_file("obj", dest)
        assert dest.read_bytes() == data

    def test_get_file_missing(self, store: Store, tmp_path: Path) -> None:
        with pytest.raises(ObjectNotFoundError):
            store.get_file("missing", tmp_path / "x")
        assert not (tmp_path / "x").exists()

    def test_get_file_with_info_sends_no_stat(self, store: Store, tmp_path: Path) -> None:
        """Staging already has the ObjectInfo: the download must not ask for it again."""
        data = payload(70_000, seed=11)
        self.backdoor_put(store, "obj", data)
        info = store.stat("obj")
        assert info is not None
        seen: list[int] = []
        with IO_STATS.scope() as scope:
            got = store.get_file("obj", tmp_path / "obj", info=info, progress=seen.append)
        assert scope.counts(store.scheme, "stat").requests == 0
        assert got == info
        assert (tmp_path / "obj").read_bytes() == data
        assert sum(seen) == len(data) and all(n > 0 for n in seen)

    def test_get_file_progress_counts_the_resumed_bytes_first(self, store: Store, tmp_path: Path) -> None:
        data = payload(70_000, seed=12)
        self.backdoor_put(store, "obj", data)
        info = store.stat("obj")
        assert info is not None
        (tmp_path / "obj.part").write_bytes(data[:30_000])
        (tmp_path / "obj.part.json").write_text(json.dumps({"etag": info.etag, "size": info.size}))
        seen: list[int] = []
        store.get_file("obj", tmp_path / "obj", progress=seen.append)
        assert seen[0] == 30_000 and sum(seen) == len(data)
        assert (tmp_path / "obj").read_bytes() == data

    def test_get_file_progress_exception_keeps_the_part_for_a_resume(self, store: Store, tmp_path: Path) -> None:
        data = payload(70_000, seed=13)
        self.backdoor_put(store, "obj", data)

        def interrupt(n: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            store.get_file("obj", tmp_path / "obj", progress=interrupt)
        assert not (tmp_path / "obj").exists()
        assert 0 < (tmp_path / "obj.part").stat().st_size <= len(data)
        store.get_file("obj", tmp_path / "obj")
        assert (tmp_path / "obj").read_bytes() == data

    def test_get_file_with_stale_info_fails(self, store: Store, tmp_path: Path) -> None:
        """The given info is a precondition: a changed object is not downloaded under it."""
        self.backdoor_put(store, "obj", payload(5000, seed=14))
        old = store.stat("obj")
        assert old is not None
        self.backdoor_put(store, "obj", payload(4000, seed=15))
        with pytest.raises(IntegrityError):
            store.get_file("obj", tmp_path / "obj", info=old)
        assert not (tmp_path / "obj").exists()

    def test_get_file_with_the_info_of_another_key(self, store: Store, tmp_path: Path) -> None:
        self.backdoor_put(store, "a", b"a")
        self.backdoor_put(store, "b", b"b")
        info = store.stat("a")
        with pytest.raises(UsageError, match="info of"):
            store.get_file("b", tmp_path / "b", info=info)


class WritableStoreTests(StoreTests):
    """Behaviour of stores that accept writes."""

    def test_put_then_get(self, store: Store) -> None:
        info = store.put("a/b/c.bin", b"hello")
        assert (info.key, info.size) == ("a/b/c.bin", 5)
        assert self.backdoor_get(store, "a/b/c.bin") == b"hello"
        store.put("a/b/c.bin", b"bye")
        assert store.get("a/b/c.bin") == b"bye"

    def test_put_create_mode(self, store: Store) -> None:
        store.put("meta.json", b"1", mode="create")
        with pytest.raises(PreconditionFailedError):
            store.put("meta.json", b"2", mode="create")
        assert store.get("meta.json") == b"1"
        with pytest.raises(UsageError):
            store.put("meta.json", b"3", mode="append")  # type: ignore[arg-type]

    #: whether the backend decides create-only writes atomically (moto checks, then writes)
    atomic_create = True

    def test_create_mode_has_one_winner(self, store: Store) -> None:
        outcomes: list[str] = []
        lock = threading.Lock()

        def attempt(i: int) -> None:
            try:
                store.put("race", str(i).encode(), mode="create")
                result = "won"
            except PreconditionFailedError:
                result = "lost"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.atomic_create:
            assert sorted(outcomes) == ["lost"] * 5 + ["won"]
        else:
            assert "won" in outcomes
        assert int(store.get("race") or b"-1") in range(6)

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_writes_with_bad_keys_are_refused(self, store: Store, key: str) -> None:
        with pytest.raises(UsageError):
            store.put(key, b"x")
        with pytest.raises(UsageError):
            store.delete(key)

    def test_open_write_commits_on_exit(self, store: Store) -> None:
        data = payload(100_000, seed=9)
        with store.open_write("streamed.bin") as writer:
            for i in range(0, len(data), 7000):
                writer.write(data[i : i + 7000])
            assert store.stat("streamed.bin") is None  # not visible before the commit
            assert writer.tell() == len(data)
        assert writer.info is not None and writer.info.size == len(data)
        assert self.backdoor_get(store, "streamed.bin") == data

    def test_open_write_aborts_on_error(self, store: Store) -> None:
        with pytest.raises(RuntimeError):
            with store.open_write("never.bin") as writer:
                writer.write(b"partial")
                raise RuntimeError("boom")
        assert store.stat("never.bin") is None
        assert [i.key for i in store.list()] == []

    def test_open_write_create_mode(self, store: Store) -> None:
        store.put("x", b"first")
        with pytest.raises(PreconditionFailedError):
            with store.open_write("x", mode="create") as writer:
                writer.write(b"second")
        assert store.get("x") == b"first"

    def test_list(self, store: Store) -> None:
        for key in ("b.txt", "a/1", "a/2", "a/sub/3", "ab", "a.txt"):
            store.put(key, key.encode())
        with store.open_write("a/unfinished"):
            assert [i.key for i in store.list()] == ["a.txt", "a/1", "a/2", "a/sub/3", "ab", "b.txt"]
            assert [i.key for i in store.list("a/")] == ["a/1", "a/2", "a/sub/3"]
            assert [i.key for i in store.list("a")] == ["a.txt", "a/1", "a/2", "a/sub/3", "ab"]
            assert [i.key for i in store.list("a/", recursive=False)] == ["a/1", "a/2"]
            assert [i.key for i in store.list("", recursive=False)] == ["a.txt", "ab", "b.txt"]
            assert [i.key for i in store.list("nothing/")] == []
            sizes = {i.key: i.size for i in store.list()}
            assert sizes["a/sub/3"] == len("a/sub/3")

    def test_delete(self, store: Store) -> None:
        store.put("gone", b"x")
        store.delete("gone")
        assert store.stat("gone") is None
        store.delete("gone")  # missing is fine

    def test_put_file_and_copy(self, store: Store, tmp_path: Path) -> None:
        data = payload(200_000, seed=10)
        source = tmp_path / "src.bin"
        source.write_bytes(data)
        info = store.put_file("up/src.bin", source)
        assert info.size == len(data)
        assert store.get("up/src.bin") == data
        copied = store.copy_to("up/src.bin", store, "copy/dst.bin")
        assert copied.size == len(data)
        assert self.backdoor_get(store, "copy/dst.bin") == data
        with pytest.raises(PreconditionFailedError):
            store.copy_to("up/src.bin", store, "copy/dst.bin", mode="create")
        with pytest.raises(ObjectNotFoundError):
            store.copy_to("missing", store, "copy/other")

    def test_put_file_and_copy_take_upload_settings(self, store: Store, tmp_path: Path) -> None:
        """``part_size``/``max_concurrency`` are accepted, and checked, by every backend."""
        data = payload(100_000, seed=16)
        source = tmp_path / "src.bin"
        source.write_bytes(data)
        store.put_file("p/a", source, part_size=5 * 1024 * 1024, max_concurrency=2)
        store.copy_to("p/a", store, "p/b", part_size=5 * 1024 * 1024, max_concurrency=1)
        assert self.backdoor_get(store, "p/b") == data
        with pytest.raises(UsageError, match="part size"):
            store.put_file("p/c", source, part_size=1024)
        with pytest.raises(UsageError, match="part size"):
            store.copy_to("p/a", store, "p/c", part_size=6 * 1024**3)
        with pytest.raises(UsageError, match="max_concurrency"):
            store.put_file("p/c", source, max_concurrency=0)
        assert store.stat("p/c") is None

    def test_put_file_of_a_missing_file(self, store: Store, tmp_path: Path) -> None:
        with pytest.raises(ObjectNotFoundError, match=r"absent\.bin: no such file"):
            store.put_file("x", tmp_path / "absent.bin")
        assert store.stat("x") is None

    def test_concurrent_writes_and_reads(self, store: Store) -> None:
        def work(i: int) -> bytes | None:
            store.put(f"many/{i}", payload(10_000, seed=100 + i))
            return store.get(f"many/{i}", (100, 200))

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(work, range(8)))
        assert results == [payload(10_000, seed=100 + i)[100:200] for i in range(8)]
        assert len(list(store.list("many/"))) == 8
