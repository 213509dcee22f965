"""The local-disk backend: conformance for plain paths and file:// URLs, plus disk specifics."""
from __future__ import annotations

from pathlib import Path

import pytest

from bams3.errors import ObjectNotFoundError
from bams3.io import Store, open_input, open_store, open_url
from bams3.io._local import LocalStore

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
