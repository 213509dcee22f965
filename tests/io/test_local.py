"""The local-disk backend: conformance for plain paths and file:// URLs, plus disk specifics."""
from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from bams3.errors import Bams3Error, LocalWriteError, ObjectNotFoundError
from bams3.io import Store, open_input, open_store, open_url
from bams3.io._local import LocalStore, is_reserved_name

from .conformance import WritableStoreTests, payload


class TestLocalStore(WritableStoreTests):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Store:
        return open_store(str(tmp_path / "root"))

    def backdoor_put(self, store: Store, key: str, data: bytes) -> None:
        path = Path(store.url).joinpath(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def backdoor_get(self, store: Store, key: str) -> bytes | None:
        path = Path(store.url).joinpath(key)
        return path.read_bytes() if path.is_file() else None


class TestFileUrlStore(TestLocalStore):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Store:
        return open_store((tmp_path / "root").as_uri())

    def backdoor_put(self, store: Store, key: str, data: bytes) -> None:
        assert isinstance(store, LocalStore)
        path = store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def backdoor_get(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, LocalStore)
        path = store.root / key
        return path.read_bytes() if path.is_file() else None

    def test_urls_are_file_urls(self, store: Store) -> None:
        assert store.url.startswith("file:///")
        store.put("x y.txt", b"1")
        info = store.stat("x y.txt")
        assert info is not None and info.url.endswith("/x%20y.txt")


def test_open_input_is_a_plain_buffered_file(tmp_path: Path) -> None:
    data = payload(10_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    with open_input(str(path)) as f:
        assert type(f).__name__ == "BufferedReader"
        assert f.read() == data
    with open_input(path.as_uri(), 100) as f:
        assert f.tell() == 100
        assert f.read(10) == data[100:110]
    with open_input(str(path), 100, 200) as f:
        assert f.read() == data[100:200]
        f.seek(150)
        assert f.read(1000) == data[150:200]


def test_missing_local_file_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "absent.bam"
    with pytest.raises(ObjectNotFoundError, match=r"absent\.bam"):
        open_input(str(missing))
    with pytest.raises(FileNotFoundError):  # the builtin a caller would catch
        open_input(str(missing), 0, 10)


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    store.put("d/a", b"1")
    with pytest.raises(RuntimeError):
        with store.open_write("d/b") as writer:
            writer.write(b"2")
            assert len(list((tmp_path / "d").iterdir())) == 2  # a + the hidden temporary
            raise RuntimeError
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["a"]


def test_dropped_writer_is_aborted_not_committed(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    writer = store.open_write("dropped")
    writer.write(b"half")
    del writer
    assert list(tmp_path.iterdir()) == []


def test_open_url_splits_parent_and_name(tmp_path: Path) -> None:
    store, key = open_url(str(tmp_path / "dir" / "sample.bam"))
    assert key == "sample.bam"
    assert isinstance(store, LocalStore) and store.root == tmp_path / "dir"
    store, key = open_url((tmp_path / "s p.bam").as_uri())
    assert key == "s p.bam"


def test_listing_skips_the_stores_own_unfinished_files(tmp_path: Path) -> None:
    """A folder being downloaded into (get_file's .part/.part.json) lists only complete files."""
    source = open_store("memory://local-listing/")
    source.put("big.bam", payload(70_000))
    folder = open_store(str(tmp_path))
    folder.put("done.bam", b"complete")

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        source.get_file("big.bam", tmp_path / "big.bam", progress=interrupt)
    with folder.open_write("sub/writing.bam") as writer:
        writer.write(b"half")
        names = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
        assert len(names) == 4  # done.bam, big.bam.part, big.bam.part.json, the writer's temporary
        assert [info.key for info in folder.list()] == ["done.bam"]
        assert [info.key for info in folder.list(recursive=False)] == ["done.bam"]
    assert [info.key for info in folder.list()] == ["done.bam", "sub/writing.bam"]


@pytest.mark.parametrize("name", ["x.part", "x.bam.part.json", ".bams3-x.bam.0123abcd.partial"])
def test_reserved_names(name: str) -> None:
    assert is_reserved_name(name)


@pytest.mark.parametrize("name", ["x.bam", "x.partial", ".bams3-x", "part", "x.part.bam", "x.json"])
def test_ordinary_names(name: str) -> None:
    assert not is_reserved_name(name)


class _FullDisk:
    """A file whose disk fills up after ``room`` bytes (writes, or the flush at close, fail)."""

    def __init__(self, file: BinaryIO, room: int, *, at_close: bool) -> None:
        self._file = file
        self._room = room
        self._at_close = at_close

    def _full(self) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._file.name)

    def write(self, data: bytes) -> int:
        if not self._at_close and len(data) > self._room:
            raise self._full()
        self._room -= len(data)
        return self._file.write(data)

    def close(self) -> None:
        self._file.close()
        if self._at_close:
            raise self._full()

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """Make files the local store opens for writing fill the disk after 1000 bytes."""
    import bams3.io._local as local_module

    def install(at_close: bool) -> None:
        def fake_open(path: object, mode: str = "r", *args: object, **kwargs: object) -> object:
            real = open(path, mode, *args, **kwargs)  # type: ignore[call-overload]
            return _FullDisk(real, 1000, at_close=at_close) if "x" in mode else real

        monkeypatch.setattr(local_module, "open", fake_open, raising=False)

    return install


@pytest.mark.parametrize("at_close", [False, True], ids=["write", "close"])
@pytest.mark.parametrize("how", ["put", "open_write", "put_file", "copy_to"])
def test_disk_full_is_one_line_naming_the_file_and_leaves_nothing(
    tmp_path: Path, full_disk: Callable[[bool], None], how: str, at_close: bool
) -> None:
    data = payload(5000)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    memory = open_store("memory://disk-full/")
    memory.put("obj", data)
    out = tmp_path / "out"
    store = open_store(str(out))
    full_disk(at_close)
    with pytest.raises(LocalWriteError) as caught:
        if how == "put":
            store.put("d/x.bam", data)
        elif how == "open_write":
            with store.open_write("d/x.bam") as writer:
                for i in range(0, len(data), 100):
                    writer.write(data[i : i + 100])
        elif how == "put_file":
            store.put_file("d/x.bam", source)
        else:
            memory.copy_to("obj", store, "d/x.bam")
    error = caught.value
    assert str(error) == f"{out / 'd' / 'x.bam'}: cannot write: No space left on device"
    assert isinstance(error, OSError) and isinstance(error, Bams3Error)
    assert error.errno == errno.ENOSPC
    assert list((out / "d").iterdir()) == []  # no temporary, no partial object


def test_write_errors_name_the_file_not_the_temporary(tmp_path: Path) -> None:
    """A file where a directory is needed: one line naming the path asked for."""
    (tmp_path / "blocker").write_bytes(b"")
    store = open_store(str(tmp_path))
    with pytest.raises(LocalWriteError, match=r"blocker/x\.bam: cannot write: ") as caught:
        store.put("blocker/x.bam", b"1")
    assert ".partial" not in str(caught.value)


def test_get_file_disk_errors_name_the_destination(tmp_path: Path) -> None:
    source = open_store("memory://get-file-errors/")
    source.put("obj", b"data")
    (tmp_path / "blocker").write_bytes(b"")
    with pytest.raises(LocalWriteError, match=r"blocker/obj: cannot write: "):
        source.get_file("obj", tmp_path / "blocker" / "obj")


def test_writing_to_a_named_pipe_writes_into_it_instead_of_replacing_it(tmp_path: Path) -> None:
    """``--report /dev/null``, ``json put /dev/stdout``: a rename would swap the device for a regular file."""
    import stat
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    LocalStore(tmp_path).put("pipe", b"report\n")
    reader.join(timeout=10)
    assert received == [b"report\n"]
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]  # no temporary file left beside it
