"""The S3 backend against a real S3 API (moto_server on loopback): conformance and S3 specifics."""
from __future__ import annotations

import pytest

from bams3.errors import IntegrityError, ObjectNotFoundError, PreconditionFailedError
from bams3.io import Store, open_store, open_url, read_range, stat
from bams3.io.metrics import IO_STATS
from tests.helpers.s3server import S3Server

from .conformance import WritableStoreTests, payload


class TestS3Store(WritableStoreTests):
    atomic_create = False  # moto checks If-None-Match, then writes: not atomic under races

    @pytest.fixture
    def store(self, s3_server: S3Server, s3_bucket: str) -> Store:
        self.client = s3_server.client()
        self.bucket = s3_bucket
        return open_store(f"s3://{s3_bucket}/root/")

    def backdoor_put(self, store: Store, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"root/{key}", Body=data)

    def backdoor_get(self, store: Store, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=f"root/{key}")["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None


def test_bucket_root_and_module_helpers(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="top.bin", Body=b"0123456789")
    store = open_store(f"s3://{s3_bucket}")
    assert store.url == f"s3://{s3_bucket}/"
    assert store.get("top.bin", (2, 4)) == b"23"
    info = stat(f"s3://{s3_bucket}/top.bin")
    assert info.size == 10 and info.mtime is not None and info.etag
    assert read_range(f"s3://{s3_bucket}/top.bin", 8, 20) == b"89"
    with pytest.raises(ObjectNotFoundError, match=f"s3://{s3_bucket}/nope.bin"):
        stat(f"s3://{s3_bucket}/nope.bin")
    parent, key = open_url(f"s3://{s3_bucket}/a/b/c.bam")
    assert (str(parent), key) == (f"s3://{s3_bucket}/a/b/", "c.bam")


def test_missing_bucket_is_not_found(s3_server: S3Server) -> None:
    store = open_store("s3://no-such-bucket-here/x")
    assert store.get("k") is None
    with pytest.raises(ObjectNotFoundError, match="no-such-bucket-here"):
        list(store.list())


def test_listing_paginates(s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import bams3.io._s3 as s3mod

    monkeypatch.setattr(s3mod, "LIST_PAGE_SIZE", 7)  # pages of 7 keys instead of 1000
    client = s3_server.client()
    for i in range(20):
        client.put_object(Bucket=s3_bucket, Key=f"p/{i:05d}", Body=b"")
    client.put_object(Bucket=s3_bucket, Key="p/folder/", Body=b"")  # a console's folder marker
    store = open_store(f"s3://{s3_bucket}/p")
    with IO_STATS.scope() as scope:
        keys = [info.key for info in store.list()]
    assert keys == [f"{i:05d}" for i in range(20)]
    assert scope.counts("s3", "list").requests == 3


def test_server_side_copy_between_stores(s3_server: S3Server) -> None:
    src_bucket, dst_bucket = s3_server.make_bucket(), s3_server.make_bucket()
    data = payload(100_000)
    src = open_store(f"s3://{src_bucket}/in")
    dst = open_store(f"s3://{dst_bucket}/out")
    src.put("obj", data)
    with IO_STATS.scope() as scope:
        info = src.copy_to("obj", dst, "copied")
    assert info.size == len(data)
    assert dst.get("copied") == data
    assert scope.counts("s3", "copy").requests == 1
    assert scope.counts("s3", "get").requests == 0  # no bytes through this machine
    with pytest.raises(PreconditionFailedError):
        src.copy_to("obj", dst, "copied", mode="create")


def test_multipart_server_side_copy(s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects over CopyObject's limit are copied part by part (limits shrunk to test sizes)."""
    import bams3.io._s3 as s3mod

    monkeypatch.setattr(s3mod, "COPY_OBJECT_LIMIT", 6 * 1024 * 1024)
    monkeypatch.setattr(s3mod, "COPY_PART_SIZE", 5 * 1024 * 1024)
    data = payload(12 * 1024 * 1024 + 17)
    store = open_store(f"s3://{s3_bucket}")
    s3_server.client().put_object(Bucket=s3_bucket, Key="big", Body=data)
    with IO_STATS.scope() as scope:
        info = store.copy_to("big", store, "big-copy")
    assert info.size == len(data)
    assert store.get("big-copy") == data
    assert scope.counts("s3", "copy").requests == 3
    assert s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_streamed_copy_between_backends(s3_server: S3Server, s3_bucket: str, tmp_path) -> None:
    data = payload(300_000)
    local = open_store(str(tmp_path))
    remote = open_store(f"s3://{s3_bucket}/x")
    local.put("f.bin", data)
    local.copy_to("f.bin", remote, "g.bin")
    remote.copy_to("g.bin", local, "h.bin")
    assert (tmp_path / "h.bin").read_bytes() == data


def test_clients_follow_the_endpoint_variable(s3_server: S3Server, s3_bucket: str, monkeypatch) -> None:
    """A store opened after the endpoint variable changes uses the new endpoint."""
    from tests.helpers.faultproxy import FaultProxy

    open_store(f"s3://{s3_bucket}").put("k", b"v")
    with FaultProxy(s3_server.endpoint_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        assert open_store(f"s3://{s3_bucket}").get("k") == b"v"
        assert proxy.count("GET") == 1
        assert open_store(f"s3://{s3_bucket}", endpoint_url=s3_server.endpoint_url).get("k") == b"v"
        assert proxy.count("GET") == 1


MiB = 1024 * 1024


def _parts_of(s3_server: S3Server, bucket: str, key: str) -> int:
    """Number of parts of a multipart object, from its ETag (``"md5-N"``); 1 for a single PUT."""
    etag = s3_server.client().head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    return int(etag.rpartition("-")[2]) if "-" in etag else 1


def test_put_file_and_copy_to_honour_part_size(
    s3_server: S3Server, s3_bucket: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sync's --part-size reaches uploads made by put_file and streamed copies."""
    import bams3.io._s3 as s3mod

    data = payload(11 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    store = open_store(f"s3://{s3_bucket}")
    store.put_file("single", source)
    assert _parts_of(s3_server, s3_bucket, "single") == 1  # below the upload cutoff: one streamed PUT
    assert store.get("single") == data
    monkeypatch.setattr(s3mod, "UPLOAD_CUTOFF", 10 * MiB)
    store.put_file("default", source)
    assert _parts_of(s3_server, s3_bucket, "default") == 2  # 8 MiB parts
    assert store.get("default") == data
    store.put_file("five", source, part_size=5 * MiB)
    assert _parts_of(s3_server, s3_bucket, "five") == 3
    local = open_store(str(tmp_path))
    local.copy_to("big.bin", store, "copied", part_size=5 * MiB, max_concurrency=1)
    assert _parts_of(s3_server, s3_bucket, "copied") == 3
    assert store.get("copied") == data


def test_server_side_multipart_copy_honours_part_size(
    s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bams3.io._s3 as s3mod

    monkeypatch.setattr(s3mod, "COPY_OBJECT_LIMIT", 6 * MiB)
    data = payload(12 * MiB + 17)
    s3_server.client().put_object(Bucket=s3_bucket, Key="big", Body=data)
    store = open_store(f"s3://{s3_bucket}")
    store.copy_to("big", store, "copy", part_size=5 * MiB)
    assert _parts_of(s3_server, s3_bucket, "copy") == 3
    assert store.get("copy") == data


def test_server_side_copy_of_the_wrong_size_is_an_error(
    s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 200 from CopyObject is trusted only when the destination then has the source's size."""
    store = open_store(f"s3://{s3_bucket}")
    store.put("src", payload(10_000))
    client = store.client  # type: ignore[attr-defined]
    real_put = client.put_object

    def short_copy(**kwargs: object) -> dict[str, object]:  # a server that stores a cut copy and says 200
        answer = real_put(Bucket=kwargs["Bucket"], Key=kwargs["Key"], Body=payload(9_000))
        return {"CopyObjectResult": {"ETag": answer["ETag"]}}

    monkeypatch.setattr(client, "copy_object", short_copy)
    with IO_STATS.scope() as scope:
        with pytest.raises(IntegrityError, match=rf"s3://{s3_bucket}/dst: server-side copy of .* left 9000 bytes, "
                                                 "expected 10000 bytes"):
            store.copy_to("src", store, "dst")
    assert scope.counts("s3", "stat").requests == 2  # the source, then the destination
    assert store.stat("dst") is None  # the bad copy is not left where a complete one is expected


def test_server_side_multipart_copy_of_the_wrong_size_is_an_error(
    s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bams3.io._s3 as s3mod

    monkeypatch.setattr(s3mod, "COPY_OBJECT_LIMIT", 6 * MiB)
    store = open_store(f"s3://{s3_bucket}")
    s3_server.client().put_object(Bucket=s3_bucket, Key="big", Body=payload(12 * MiB))
    client = store.client  # type: ignore[attr-defined]
    real_part_copy = client.upload_part_copy

    def short_part(**kwargs: str) -> object:  # the last part comes out one byte short
        if kwargs["PartNumber"] == 2:
            start, _, end = kwargs["CopySourceRange"].removeprefix("bytes=").partition("-")
            kwargs["CopySourceRange"] = f"bytes={start}-{int(end) - 1}"
        return real_part_copy(**kwargs)

    monkeypatch.setattr(client, "upload_part_copy", short_part)
    with pytest.raises(IntegrityError, match=f"left {12 * MiB - 1} bytes, expected {12 * MiB} bytes"):
        store.copy_to("big", store, "copy", part_size=6 * MiB)
    assert store.stat("copy") is None
    assert s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_server_side_copy_returns_the_destination_as_stat_sees_it(s3_server: S3Server, s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}")
    store.put("src", b"0123456789")
    info = store.copy_to("src", store, "dst")
    assert info == store.stat("dst")
    assert info.mtime is not None


_MEMORY_SCRIPT = r"""
import json, sys
import bams3.io._s3 as s3mod
from bams3.io import open_store

def status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field)

def peak_mib():
    return status_mib("VmHWM")

source, target, bucket, mode = sys.argv[1:5]
store = open_store(f"s3://{bucket}")
store.put("warm", b"x" * 100)  # client made, modules loaded: the baseline
store.get_file("warm", target + ".warm")
with open("/proc/self/clear_refs", "w") as f:  # the peak restarts from here
    f.write("5")
before = status_mib("VmRSS")
if mode == "multipart":
    s3mod.UPLOAD_CUTOFF = 0
    store.put_file("big", source, part_size=5 * 1024 * 1024, max_concurrency=2)
elif mode == "single":
    store.put_file("big", source)
else:
    store.get_file("big", target)
print(json.dumps({"before": before, "after": peak_mib()}))
"""


@pytest.mark.parametrize("mode", ["multipart", "single", "download"])
def test_large_transfers_use_bounded_memory(s3_server: S3Server, s3_bucket: str, tmp_path, mode: str) -> None:
    """Peak memory of a process moving a 48 MiB object grows by far less than the object:
    uploads stream the file (one PUT, or parts read by the threads that send them, a few at a
    time) and downloads write each piece of the one GET as it arrives."""
    import json
    import os
    import subprocess
    import sys

    size = 48 * MiB
    source = tmp_path / "big.bin"
    with open(source, "wb") as f:
        for i in range(size // MiB):
            f.write(payload(MiB, i))
    if mode == "download":
        with open(source, "rb") as f:
            s3_server.client().put_object(Bucket=s3_bucket, Key="big", Body=f)
    env = {**os.environ, **s3_server.env}
    done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(source), str(tmp_path / "out.bin"), s3_bucket,
                           mode], env=env, capture_output=True, text=True, check=True)
    peaks = json.loads(done.stdout)
    assert peaks["after"] - peaks["before"] < 24, peaks  # MiB; holding the object would take 48 or more
    if mode == "download":
        assert (tmp_path / "out.bin").read_bytes() == source.read_bytes()
    else:
        assert _parts_of(s3_server, s3_bucket, "big") == (10 if mode == "multipart" else 1)
        assert open_store(f"s3://{s3_bucket}").get("big") == source.read_bytes()


def test_parts_of_one_file_upload_in_parallel(
    s3_server: S3Server, s3_bucket: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts of one multipart upload are in flight together (up to ``max_concurrency``):
    each part waits at a barrier that only three parts sending at once can pass."""
    import threading

    import bams3.io._s3 as s3mod

    data = payload(15 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    barrier = threading.Barrier(3, timeout=30)
    original = s3mod.S3Store._upload_part

    def together(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        barrier.wait()  # BrokenBarrierError (the upload fails) unless three parts are sent at once
        return original(self, *args, **kwargs)

    monkeypatch.setattr(s3mod.S3Store, "_upload_part", together)
    store = open_store(f"s3://{s3_bucket}")
    store.put_file("par", source, part_size=5 * MiB, max_concurrency=3)
    assert _parts_of(s3_server, s3_bucket, "par") == 3
    assert store.get("par") == data


def test_upload_byte_budget_bounds_parts_in_memory() -> None:
    import threading

    from bams3.io._s3 import _ByteBudget

    budget = _ByteBudget(10)
    order: list[str] = []
    entered = threading.Event()

    def second() -> None:
        with budget.reserve(6):
            order.append("second in")
            entered.set()

    with budget.reserve(6):
        waiting = threading.Thread(target=second)
        waiting.start()
        assert not entered.wait(0.3) and budget.used == 6  # 6 + 6 > 10: the second waits
        order.append("first out")
    waiting.join(10)
    assert order == ["first out", "second in"] and budget.used == 0
    with budget.reserve(25):  # larger than the whole budget: let through alone, never stuck
        assert budget.used == 25
    assert budget.used == 0
