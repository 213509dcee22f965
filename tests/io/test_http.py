"""The HTTP(S) backend against a loopback server with expiring signed URLs."""
from __future__ import annotations

import logging
import time

import pytest

from bams3.errors import AccessDeniedError, ExpiredUrlError, ObjectNotFoundError, UsageError
from bams3.io import Store, open_input, open_store, open_url, read_range, stat
from tests.helpers.httpserver import SignedFileServer

from .conformance import StoreTests, payload


class TestHttpStore(StoreTests):
    @pytest.fixture
    def store(self, http_server: SignedFileServer) -> Store:
        http_server.require_signature = False
        self.server = http_server
        return open_store(f"{http_server.url}/data/")

    def backdoor_put(self, store: Store, key: str, data: bytes) -> None:
        self.server.write(f"data/{key}", data)

    def backdoor_get(self, store: Store, key: str) -> bytes | None:
        path = self.server.root / "data" / key
        return path.read_bytes() if path.is_file() else None

    def test_is_read_only(self, store: Store) -> None:
        for call in (
            lambda: store.put("k", b"x"),
            lambda: store.open_write("k"),
            lambda: store.delete("k"),
            lambda: list(store.list()),
        ):
            with pytest.raises(UsageError):
                call()


def test_signed_url_reads(http_server: SignedFileServer) -> None:
    data = payload(100_000)
    http_server.write("cohort/s 1.bam", data)
    url = http_server.signed_url("cohort/s 1.bam")
    info = stat(url)
    assert info.size == len(data)
    assert "Signature" not in info.url and info.url.endswith("?<redacted>")
    assert read_range(url, 10, 20) == data[10:20]
    with open_input(url, 1000) as stream:
        assert stream.read() == data[1000:]
    store, key = open_url(url)
    assert key == "s%201.bam"
    assert "Signature" not in str(store) and "Signature" not in repr(store)


def test_expired_url(http_server: SignedFileServer, caplog: pytest.LogCaptureFixture) -> None:
    http_server.write("x.bam", b"data")
    url = http_server.signed_url("x.bam", expires=int(time.time()) - 10)
    requests_before = http_server.request_count
    with caplog.at_level(logging.DEBUG), pytest.raises(ExpiredUrlError) as caught:
        read_range(url, 0, 4)
    assert http_server.request_count - requests_before == 1  # a 403 is not retried
    signature = url.split("Signature=")[1]
    assert signature not in str(caught.value)
    assert "x.bam" in str(caught.value)
    assert signature not in caplog.text


def test_bad_signature_and_missing_signature(http_server: SignedFileServer) -> None:
    http_server.write("x.bam", b"data")
    url = http_server.signed_url("x.bam")
    forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    with pytest.raises(AccessDeniedError) as caught:
        stat(forged)
    assert not isinstance(caught.value, ExpiredUrlError)
    assert forged.split("Signature=")[1] not in str(caught.value)
    with pytest.raises(AccessDeniedError):
        read_range(http_server.unsigned_url("x.bam"), 0, 1)
    with pytest.raises(PermissionError):  # the builtin a caller would catch
        open_input(forged)


def test_missing_object(http_server: SignedFileServer) -> None:
    url = http_server.signed_url("nope.bam")
    with pytest.raises(ObjectNotFoundError, match=r"nope\.bam"):
        stat(url)
    with pytest.raises(ObjectNotFoundError):
        open_input(url)


def test_server_without_range_support(http_server: SignedFileServer) -> None:
    data = payload(5000)
    http_server.write("f", data)
    http_server.ignore_ranges = True
    url = http_server.signed_url("f")
    assert read_range(url, 0, 100) == data[:100]  # a prefix: read it, drop the rest
    with pytest.raises(UsageError, match=r"ignores byte-range requests"):
        read_range(url, 100, 200)


def test_stats_and_downloads_reuse_one_connection(http_server: SignedFileServer, tmp_path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A stat's one-byte answer is read, not dropped, so its connection serves the next request
    (a new connection per object costs a TLS handshake on real HTTPS)."""
    http_server.write("reuse.bin", b"r" * 300_000)
    store, key = open_url(http_server.signed_url("reuse.bin"))
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        for _ in range(3):
            info = store.stat(key)
            assert info is not None and info.size == 300_000
        store.get_file(key, tmp_path / "out.bin", info=info)
        assert store.stat(key) is not None
    new = [r for r in caplog.records if "Starting new HTTP" in r.getMessage() or "Resetting dropped" in r.getMessage()]
    assert len(new) == 1, [r.getMessage() for r in caplog.records]
    assert (tmp_path / "out.bin").read_bytes() == b"r" * 300_000
