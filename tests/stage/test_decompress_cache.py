"""Decompression of staged files and the cache's keys and file handling."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
import zstandard

from bams3.errors import IntegrityError
from bams3.stage._decompress import decompress_file
from bams3.stage.cache import ContentCache, cache_key, default_cache_dir, link_or_copy

PAYLOAD = b"".join(b">chr%d\n" % i + bytes(range(65, 91)) * 400 + b"\n" for i in range(200))


def _multi_member_gzip() -> bytes:
    half = len(PAYLOAD) // 2
    return gzip.compress(PAYLOAD[:half]) + gzip.compress(PAYLOAD[half:])


def _multi_frame_zstd() -> bytes:
    c = zstandard.ZstdCompressor()
    half = len(PAYLOAD) // 3
    return c.compress(PAYLOAD[:half]) + c.compress(PAYLOAD[half:])


@pytest.mark.parametrize("make", [lambda: gzip.compress(PAYLOAD), _multi_member_gzip, _multi_frame_zstd,
                                  lambda: zstandard.ZstdCompressor().compress(PAYLOAD)])
def test_decompress_roundtrip(tmp_path: Path, make) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.write_bytes(make())
    assert decompress_file(src, dst, what="x") == len(PAYLOAD)
    assert dst.read_bytes() == PAYLOAD


@pytest.mark.parametrize("make", [lambda: gzip.compress(PAYLOAD), _multi_frame_zstd])
def test_decompress_truncated(tmp_path: Path, make) -> None:
    src = tmp_path / "in"
    data = make()
    src.write_bytes(data[: len(data) - 7])
    with pytest.raises(IntegrityError, match="truncated|corrupt"):
        decompress_file(src, tmp_path / "out", what="ref.fa (s3://b/ref.fa.gz)")


def test_decompress_rejects_plain_and_garbage(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.write_bytes(PAYLOAD)
    with pytest.raises(IntegrityError, match="neither gzip nor zstd"):
        decompress_file(src, tmp_path / "out", what="x")
    src.write_bytes(gzip.compress(PAYLOAD) + b"trailing garbage")
    with pytest.raises(IntegrityError, match="corrupt gzip"):
        decompress_file(src, tmp_path / "out", what="x")


def test_cache_key_ignores_signature_but_not_content() -> None:
    a = cache_key(url="https://h/b/x.bam?X-Amz-Signature=1&X-Amz-Date=2", sha256=None, etag='"e1"', size=10,
                  mtime=None, decompress=False)
    b = cache_key(url="https://h/b/x.bam?X-Amz-Signature=9&X-Amz-Date=8", sha256=None, etag='"e1"', size=10,
                  mtime=None, decompress=False)
    assert a == b and a is not None
    assert "Signature" not in a.digest
    assert a != cache_key(url="https://h/b/x.bam", sha256=None, etag='"e2"', size=10, mtime=None, decompress=False)
    assert a != cache_key(url="https://h/b/y.bam", sha256=None, etag='"e1"', size=10, mtime=None, decompress=False)
    assert a != cache_key(url="https://h/b/x.bam", sha256=None, etag='"e1"', size=10, mtime=None, decompress=True)
    assert cache_key(url="https://h/x", sha256=None, etag=None, size=10, mtime=None, decompress=False) is None
    by_mtime = cache_key(url="https://h/x", sha256=None, etag=None, size=10, mtime=5.0, decompress=False)
    assert by_mtime is not None
    # a checksum makes the key independent of where the bytes come from
    assert cache_key(url="s3://a/x", sha256="0" * 64, etag="1", size=1, mtime=None, decompress=False) == \
        cache_key(url="https://other/y", sha256="0" * 64, etag=None, size=None, mtime=None, decompress=False)


def test_cache_commit_lookup_and_link(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "cache")
    key = cache_key(url="s3://b/k", sha256=None, etag="e", size=3, mtime=None, decompress=False)
    assert key is not None and cache.lookup(key) is None
    produced = cache.partial_path(key)
    produced.write_bytes(b"abc")
    entry = cache.commit(key, produced)
    assert cache.lookup(key) == entry and entry.read_bytes() == b"abc"
    assert not os.access(entry, os.W_OK) or os.geteuid() == 0
    dest = tmp_path / "run" / "k"
    dest.parent.mkdir()
    assert link_or_copy(entry, dest) == "link"
    assert dest.read_bytes() == b"abc" and os.stat(dest).st_ino == os.stat(entry).st_ino
    with cache.locked(key):
        pass


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BAMS3_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("BAMS3_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "bams3"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "bams3"


def test_link_falls_back_to_copy_across_file_systems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    source = tmp_path / "entry"
    source.write_bytes(b"data")

    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    assert link_or_copy(source, tmp_path / "copy") == "copy"
    assert (tmp_path / "copy").read_bytes() == b"data"
    assert os.stat(tmp_path / "copy").st_ino != os.stat(source).st_ino
