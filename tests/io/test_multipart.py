"""Multipart sizing (pure) and multipart uploads against the real S3 API."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bams3.errors import PreconditionFailedError, UsageError
from bams3.io import open_store
from bams3.io.metrics import IO_STATS
from bams3.io.multipart import (
    DEFAULT_PART_SIZE,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    PartSizer,
)
from tests.helpers.s3server import S3Server

from .conformance import payload

MiB = 1024 * 1024
GB = 10**9


def test_sizes_without_a_hint_cover_the_largest_objects() -> None:
    assert PartSizer.plan().size_of(1) == DEFAULT_PART_SIZE
    assert PartSizer.plan().capacity() >= MAX_OBJECT_SIZE
    assert PartSizer.plan(MIN_PART_SIZE).capacity() >= 4.8 * 1024**4  # 4.8 TiB from the smallest parts
    # a 150 GB BAM streamed without a hint fits, with parts far below the 5 GiB cap
    sizer = PartSizer.plan()
    total, number = 0, 0
    while total < 150 * GB:
        number += 1
        total += sizer.size_of(number)
    assert number <= MAX_PARTS and sizer.size_of(number) <= 128 * MiB


@settings(max_examples=200, deadline=None)
@given(
    hint=st.integers(1, MAX_OBJECT_SIZE),
    part_size=st.one_of(st.none(), st.integers(MIN_PART_SIZE, 64 * MiB)),
)
def test_hinted_sizes_are_constant_while_the_hint_holds(hint: int, part_size: int | None) -> None:
    sizer = PartSizer.plan(part_size, hint)
    first = sizer.size_of(1)
    assert MIN_PART_SIZE <= first <= MAX_PART_SIZE
    assert first >= (part_size or DEFAULT_PART_SIZE)
    needed = -(-hint // first)
    assert needed <= MAX_PARTS // 2  # the hint uses at most half of the parts
    assert sizer.size_of(needed) == first
    assert sizer.capacity() >= 2 * hint  # an object twice the hint still uploads
    assert all(MIN_PART_SIZE <= sizer.size_of(n) <= MAX_PART_SIZE for n in (1, needed, MAX_PARTS))


def test_invalid_part_sizes() -> None:
    with pytest.raises(UsageError):
        PartSizer.plan(MIN_PART_SIZE - 1)
    with pytest.raises(UsageError):
        PartSizer.plan(MAX_PART_SIZE + 1)
    with pytest.raises(UsageError):
        PartSizer.plan(size_hint=MAX_OBJECT_SIZE + 1)
    with pytest.raises(UsageError):
        PartSizer.plan().size_of(MAX_PARTS + 1)


def test_multipart_upload_with_small_parts(s3_server: S3Server, s3_bucket: str) -> None:
    data = payload(11 * MiB + 3)
    store = open_store(f"s3://{s3_bucket}/mp")
    with IO_STATS.scope() as scope, store.open_write("obj", part_size=5 * MiB, max_concurrency=2) as writer:
        for i in range(0, len(data), 300_000):
            writer.write(data[i : i + 300_000])
    client = s3_server.client()
    head = client.head_object(Bucket=s3_bucket, Key="mp/obj")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')  # 5 + 5 + 1 MiB
    assert client.get_object(Bucket=s3_bucket, Key="mp/obj")["Body"].read() == data
    assert writer.info is not None and writer.info.etag == head["ETag"]
    counts = scope.counts("s3", "multipart")
    assert counts.requests == 5  # create, 3 parts, complete
    assert counts.bytes_out == len(data)


def test_small_streamed_object_is_a_single_put(s3_server: S3Server, s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}")
    with IO_STATS.scope() as scope, store.open_write("small") as writer:
        writer.write(b"x" * 1000)
    assert scope.counts("s3", "multipart").requests == 0
    assert scope.counts("s3", "put").requests == 1
    assert store.get("small") == b"x" * 1000


def test_multipart_create_mode(s3_server: S3Server, s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}")
    store.put("obj", b"first")
    with pytest.raises(PreconditionFailedError):
        with store.open_write("obj", part_size=5 * MiB, mode="create") as writer:
            writer.write(payload(6 * MiB))
    assert store.get("obj") == b"first"
    assert s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    with store.open_write("new", part_size=5 * MiB, mode="create") as writer:
        writer.write(payload(6 * MiB))
    assert store.stat("new") is not None and store.stat("new").size == 6 * MiB  # type: ignore[union-attr]


def test_put_file_uses_the_size_hint(s3_server: S3Server, s3_bucket: str, tmp_path) -> None:
    data = payload(7 * MiB)
    path = tmp_path / "f"
    path.write_bytes(data)
    store = open_store(f"s3://{s3_bucket}")
    info = store.put_file("f", path)
    assert info.size == len(data)
    assert s3_server.client().get_object(Bucket=s3_bucket, Key="f")["Body"].read() == data
