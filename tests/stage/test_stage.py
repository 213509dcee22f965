"""Staging for real: loopback S3, the signed-URL HTTP server, presigned S3 URLs, file://."""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pytest
import zstandard

from bams3.errors import (
    AccessDeniedError,
    ConfigError,
    ExpiredUrlError,
    IntegrityError,
    ObjectNotFoundError,
    TransientIOError,
)
from bams3.io import IO_STATS
from bams3.stage import DataStagingManager, StageRequest
from bams3.stage.cache import ContentCache
from tests.helpers.httpserver import SignedFileServer
from tests.helpers.s3server import S3Server

from .conftest import payload


def put(s3_server: S3Server, bucket: str, key: str, data: bytes) -> str:
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_issue_example_from_s3_http_and_file(s3_server: S3Server, s3_bucket: str, http_server: SignedFileServer,
                                            tmp_path: Path, cache_dir: Path, workdir: Path) -> None:
    sam, ref, bed = payload(10_000, 1), payload(300_000, 2), b"chr1\t0\t100\n"
    http_server.write("bucket/sample.sam", sam)
    local = tmp_path / "regions.bed"
    local.write_bytes(bed)
    manifest = {
        "sample.sam": http_server.signed_url("bucket/sample.sam"),
        "hg38.fasta": put(s3_server, s3_bucket, "ref/hg38.fasta", ref),
        "beds/regions.bed": local.as_uri(),
        "plain.bed": str(local),
    }
    params = {"input_file": "sample.sam", "reference_file": "hg38.fasta", "threads": 4,
              "extra": {"beds": ["beds/regions.bed", "plain.bed", "not-staged.bed"]}}
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager:
        response = stager.stage(StageRequest.from_dict({"params": params, "data_manifest": manifest}))
        run_dir = Path(response.run_dir or "")
        assert response.success and response.status == "success"
        assert response.staged_files == ("sample.sam", "hg38.fasta", "beds/regions.bed", "plain.bed")
        resolved = response.plugin_params
        assert resolved["input_file"] == str(run_dir / "sample.sam")
        assert resolved["reference_file"] == str(run_dir / "hg38.fasta")
        assert resolved["threads"] == 4
        assert resolved["extra"]["beds"] == [str(run_dir / "beds/regions.bed"), str(run_dir / "plain.bed"),
                                             "not-staged.bed"]
        assert Path(resolved["input_file"]).read_bytes() == sam
        assert Path(resolved["reference_file"]).read_bytes() == ref
        assert Path(resolved["extra"]["beds"][0]).read_bytes() == bed
        assert run_dir.parent == workdir and run_dir.name.startswith("bams3-stage-")
        assert tree(run_dir) == ["beds", "beds/regions.bed", "hg38.fasta", "plain.bed", "sample.sam"]
    assert not run_dir.exists() and not workdir.exists()  # both made by the run, both removed
    assert local.read_bytes() == bed  # a local source is copied, never moved or linked


def test_each_run_gets_its_own_directory(s3_server: S3Server, s3_bucket: str, workdir: Path, cache_dir: Path) -> None:
    url = put(s3_server, s3_bucket, "a.txt", b"a")
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as first, \
            DataStagingManager(workdir=workdir, cache_dir=cache_dir) as second:
        one = first.stage_files({"f": "a.txt"}, {"a.txt": url})["f"]
        two = second.stage_files({"f": "a.txt"}, {"a.txt": url})["f"]
        assert one != two and Path(one).read_bytes() == Path(two).read_bytes() == b"a"


def test_presigned_s3_urls_and_cache_across_signatures(s3_server: S3Server, s3_bucket: str, workdir: Path,
                                                     cache_dir: Path) -> None:
    data = payload(200_000, 3)
    put(s3_server, s3_bucket, "dir/sample.bam", data)

    def presign(expires: int) -> str:
        return s3_server.client(signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": s3_bucket, "Key": "dir/sample.bam"}, ExpiresIn=expires)

    first_url, second_url = presign(600), presign(601)
    assert first_url != second_url and "X-Amz-Signature=" in first_url
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager, IO_STATS.scope() as scope:
        path = stager.stage_files({"bam": "s.bam"}, {"s.bam": first_url})["bam"]
        assert Path(path).read_bytes() == data
    assert scope.counts("http", "get").bytes_in == len(data)
    # a new signature of the same object: the cache knows it, nothing is downloaded
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager, IO_STATS.scope() as scope:
        path = stager.stage_files({"bam": "s.bam"}, {"s.bam": second_url})["bam"]
        assert Path(path).read_bytes() == data
        assert stager.staged[0].origin == "cache"
    assert scope.counts().bytes_in == 0
    assert scope.counts("http", "get").requests == 0


def test_second_run_downloads_nothing_and_links_the_cache(s3_server: S3Server, s3_bucket: str, workdir: Path,
                                                         cache_dir: Path) -> None:
    urls = {f"f{i}.bin": put(s3_server, s3_bucket, f"data/f{i}.bin", payload(50_000 + i, i)) for i in range(5)}
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, jobs=3) as stager, IO_STATS.scope() as first:
        stager.stage_files({}, urls)
        assert {item.origin for item in stager.staged} == {"download"}
    assert first.counts("s3", "get").bytes_in == sum(50_000 + i for i in range(5))
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, jobs=3) as stager, IO_STATS.scope() as second:
        resolved = stager.stage_files({"all": list(urls)}, urls)
        assert {item.origin for item in stager.staged} == {"cache"}
        for i, path in enumerate(resolved["all"]):
            assert Path(path).read_bytes() == payload(50_000 + i, i)
            assert os.stat(path).st_nlink == 2  # hard-linked from the cache entry
    assert second.counts().bytes_in == 0
    assert second.counts("s3", "get").requests == 0
    # the object changes: its ETag does too, so it is fetched again
    put(s3_server, s3_bucket, "data/f0.bin", b"new content")
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager, IO_STATS.scope() as third:
        assert Path(stager.stage_files({"f": "f0.bin"}, urls)["f"]).read_bytes() == b"new content"
    assert third.counts("s3", "get").bytes_in == len(b"new content")


def test_checksummed_entry_cache_hit_sends_no_request(s3_server: S3Server, s3_bucket: str, workdir: Path,
                                                     cache_dir: Path) -> None:
    data = payload(30_000, 4)
    manifest = {"ref.fa": {"url": put(s3_server, s3_bucket, "ref.fa", data),
                           "sha256": hashlib.sha256(data).hexdigest()}}
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager:
        stager.stage_files({}, manifest)
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager, IO_STATS.scope() as scope:
        assert Path(stager.stage_files({"r": "ref.fa"}, manifest)["r"]).read_bytes() == data
    assert scope.counts().requests == 0


def test_cold_download_is_one_head_and_one_get_per_object(s3_server: S3Server, s3_bucket: str, fault_proxy,
                                                         workdir: Path, cache_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache key's HEAD is the download's metadata too, and the body comes in one streamed GET
    (not a series of ranged blocks), also for objects larger than the stream's block size."""
    sizes = {"a.bin": 9 * 2**20 + 3, "b.bin": 1000}
    urls = {name: put(s3_server, s3_bucket, f"one/{name}", payload(size, 7)) for name, size in sizes.items()}
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", fault_proxy.url)
    fault_proxy.reset()
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, jobs=2) as stager:
        paths = stager.stage_files({"all": list(urls)}, urls)["all"]
        for name, path in zip(urls, paths):
            assert Path(path).read_bytes() == payload(sizes[name], 7)
    for name, size in sizes.items():
        mine = [r for r in fault_proxy.records if r.target.endswith(f"/one/{name}")]
        assert sorted(r.method for r in mine) == ["GET", "HEAD"]
        assert sum(r.bytes_delivered for r in mine if r.method == "GET") == size


def test_checksummed_cache_hit_needs_no_s3_client(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                                  cache_dir: Path) -> None:
    """With a sha256, a cache hit is decided before the source is opened: botocore is not even imported."""
    import json
    import subprocess
    import sys

    data = payload(20_000, 9)
    manifest = {"ref.fa": {"url": put(s3_server, s3_bucket, "hit/ref.fa", data),
                           "sha256": hashlib.sha256(data).hexdigest()}}
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"params": {"r": "ref.fa"}, "data_manifest": manifest}))
    script = (
        "import sys, json\n"
        "from bams3.stage import DataStagingManager, StageRequest\n"
        "req = StageRequest.from_dict(json.load(open(sys.argv[1])))\n"
        "with DataStagingManager(workdir=sys.argv[2], cache_dir=sys.argv[3], show_progress=False) as s:\n"
        "    s.stage(req)\n"
        "    print(json.dumps({'origin': [i.origin for i in s.staged], 'botocore': 'botocore' in sys.modules}))\n"
    )
    env = {**os.environ, **s3_server.env}
    runs = [json.loads(subprocess.run([sys.executable, "-c", script, str(request), str(tmp_path / "w"),
                                       str(cache_dir)], env=env, check=True, capture_output=True,
                                      text=True).stdout) for _ in range(2)]
    assert runs[0] == {"origin": ["download"], "botocore": True}
    assert runs[1] == {"origin": ["cache"], "botocore": False}


def test_checksum_mismatch(s3_server: S3Server, s3_bucket: str, workdir: Path, cache_dir: Path) -> None:
    manifest = {"ref.fa": {"url": put(s3_server, s3_bucket, "ref.fa", b"tampered"), "sha256": "0" * 64},
                "ok.txt": put(s3_server, s3_bucket, "ok.txt", b"fine")}
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager:
        with pytest.raises(IntegrityError, match=r"ref\.fa.*sha256 mismatch"):
            stager.stage_files({}, manifest)
        assert stager.run_dir is not None and not (stager.run_dir / "ref.fa").exists()
    assert not any(p.is_file() for p in (cache_dir / "stage-v1" / "objects").rglob("*") if "ref" in str(p))
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, on_error="continue") as stager:
        response = stager.stage(StageRequest.from_dict({"params": {"r": "ref.fa", "o": "ok.txt"},
                                                        "data_manifest": manifest}))
        assert response.status == "partial" and not response.success
        assert response.staged_files == ("ok.txt",)
        assert response.plugin_params["r"] == "ref.fa"  # unresolved: the caller sees it failed
        assert [(f.name, f.kind) for f in response.failed_files] == [("ref.fa", "IntegrityError")]
        assert not (Path(response.run_dir or "") / "ref.fa").exists()


def test_missing_object_under_both_policies(s3_server: S3Server, s3_bucket: str, workdir: Path,
                                            cache_dir: Path) -> None:
    manifest = {"gone.bam": f"s3://{s3_bucket}/gone.bam", "here.txt": put(s3_server, s3_bucket, "here.txt", b"x")}
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, jobs=1) as stager:
        with pytest.raises(ObjectNotFoundError, match=rf"gone\.bam.*s3://{s3_bucket}/gone\.bam"):
            stager.stage_files({}, manifest)
    assert not workdir.exists()  # the context manager cleaned up after the failure
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, on_error="continue") as stager, \
            IO_STATS.scope() as scope:
        response = stager.stage(StageRequest.from_dict({"data_manifest": manifest}))
    assert response.to_dict()["success"] is False
    assert response.staged_files == ("here.txt",)
    assert response.failed_files[0].kind == "ObjectNotFoundError"
    assert scope.counts("s3").retries == 0  # a 404 is not retried


def test_expired_and_forged_signed_urls_are_not_retried(http_server: SignedFileServer, workdir: Path,
                                                       cache_dir: Path) -> None:
    http_server.write("a.bam", b"abc")
    expired = http_server.signed_url("a.bam", expires_in=-60)
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager:
        before = http_server.request_count
        with pytest.raises(ExpiredUrlError, match="expired"):
            stager.stage_files({}, {"a.bam": expired})
        assert http_server.request_count - before == 1
    forged = http_server.signed_url("a.bam").replace("Signature=", "Signature=00")
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, on_error="continue") as stager:
        response = stager.stage(StageRequest.from_dict({"data_manifest": {"a.bam": forged, "b.bam": expired}}))
    kinds = {f.name: f.kind for f in response.failed_files}
    assert kinds == {"a.bam": "AccessDeniedError", "b.bam": "ExpiredUrlError"}
    assert response.status == "failed"
    assert issubclass(ExpiredUrlError, AccessDeniedError)


def test_dropped_connection_is_resumed(s3_server: S3Server, s3_bucket: str, fault_proxy, workdir: Path,
                                      cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = payload(3 * 2**20 + 17, 5)
    url = put(s3_server, s3_bucket, "big.bam", data)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", fault_proxy.url)
    fault = fault_proxy.inject("drop", method="GET", path=r"/big\.bam", times=2, after_bytes=700_000)
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager:
        path = stager.stage_files({"b": "big.bam"}, {"big.bam": url})["b"]
        assert Path(path).read_bytes() == data
    assert fault.applied == 2
    gets = [r for r in fault_proxy.records if r.method == "GET"]
    assert sum(r.bytes_delivered for r in gets) == len(data)  # resumed from the byte it stopped at


def test_partial_download_resumes_in_the_next_run(s3_server: S3Server, s3_bucket: str, fault_proxy,
                                                 workdir: Path, cache_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data = payload(2 * 2**20, 6)
    url = put(s3_server, s3_bucket, "big.bam", data)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", fault_proxy.url)
    monkeypatch.setenv("BAMS3_RETRY_MAX", "0")
    # the download (one GET of the whole object) breaks off 886,432 bytes in: those are on disk
    fault_proxy.inject("drop", method="GET", path=r"/big\.bam", header=("Range", r"^bytes=0-"),
                       times=1, after_bytes=886_432)
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager:
        with pytest.raises(TransientIOError) as info:  # the connection dropped and no retry was allowed
            stager.stage_files({}, {"big.bam": url})
        assert not (stager.run_dir / "big.bam").exists()  # type: ignore[operator]
    assert "big.bam" in str(info.value)
    fault_proxy.reset()
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager:
        path = stager.stage_files({"b": "big.bam"}, {"big.bam": url})["b"]
        assert Path(path).read_bytes() == data
    gets = [r for r in fault_proxy.records if r.method == "GET"]
    assert len(gets) == 1 and gets[0].bytes_delivered == len(data) - 886_432  # continued, not started over


def test_decompression(s3_server: S3Server, s3_bucket: str, workdir: Path, cache_dir: Path) -> None:
    fasta = b">chr1\n" + b"ACGT" * 50_000 + b"\n"
    gz = gzip.compress(fasta)
    manifest = {
        "ref.fa": {"url": put(s3_server, s3_bucket, "ref.fa.gz", gz), "decompress": True,
                   "sha256": hashlib.sha256(gz).hexdigest()},
        "ref.fa.zst": put(s3_server, s3_bucket, "ref.fa.zst", zstandard.ZstdCompressor().compress(fasta)),
        "kept.fa.gz": {"url": put(s3_server, s3_bucket, "kept.fa.gz", gz), "decompress": False},
    }
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, decompress=True) as stager:
        paths = stager.stage_files({"a": "ref.fa", "b": "ref.fa.zst", "c": "kept.fa.gz"}, manifest)
        assert Path(paths["a"]).read_bytes() == fasta
        assert Path(paths["b"]).read_bytes() == fasta  # the flag applies to .zst URLs
        assert Path(paths["c"]).read_bytes() == gz  # an entry's own "decompress": false wins
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager, IO_STATS.scope() as scope:
        assert Path(stager.stage_files({"a": "ref.fa"}, {"ref.fa": manifest["ref.fa"]})["a"]).read_bytes() == fasta
    assert scope.counts().requests == 0  # the decompressed bytes are what the cache keeps


def test_bad_compressed_data_is_an_error(s3_server: S3Server, s3_bucket: str, workdir: Path, cache_dir: Path) -> None:
    url = put(s3_server, s3_bucket, "ref.fa.gz", gzip.compress(b"ACGT" * 1000)[:-9])
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, decompress=True) as stager:
        with pytest.raises(IntegrityError, match=r"ref\.fa.*truncated gzip"):
            stager.stage_files({}, {"ref.fa": url})
        assert tree(stager.run_dir) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["../escape.txt", "/tmp/abs.txt", "a/../../b", ".bams3-partial/x"])
def test_path_traversal_names_are_rejected(tmp_path: Path, workdir: Path, cache_dir: Path, name: str) -> None:
    source = tmp_path / "src.txt"
    source.write_text("x")
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager:
        with pytest.raises(ConfigError):
            stager.stage_files({}, {name: str(source)})
        assert stager.run_dir is None  # rejected before anything was created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.txt", "tmp"]  # tmp: $TMPDIR of the tests
    assert not Path("/tmp/abs.txt").exists()


def test_fixed_run_dir_and_cleanup_leaves_other_things(tmp_path: Path, cache_dir: Path) -> None:
    source = tmp_path / "src.txt"
    source.write_text("x")
    run_dir = tmp_path / "existing"
    run_dir.mkdir()
    with DataStagingManager(run_dir=run_dir, cache_dir=cache_dir) as stager:
        stager.stage_files({}, {"d/a.txt": str(source)})
        assert (run_dir / "d" / "a.txt").read_text() == "x"
    assert run_dir.is_dir() and list(run_dir.iterdir()) == []  # it existed before: emptied, kept
    assert source.read_text() == "x"
    (run_dir / "other").write_text("y")
    with pytest.raises(Exception, match="must be missing or an empty directory"):
        DataStagingManager(run_dir=run_dir).stage_files({}, {"a": str(source)})
    with DataStagingManager(run_dir=tmp_path / "keep", keep=True) as stager:
        stager.stage_files({}, {"a": str(source)})
    assert (tmp_path / "keep" / "a").read_text() == "x"


def test_cleanup_keeps_the_cache(s3_server: S3Server, s3_bucket: str, workdir: Path, cache_dir: Path) -> None:
    url = put(s3_server, s3_bucket, "c.txt", b"cached")
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir) as stager:
        stager.stage_files({}, {"c.txt": url})
    entries = [p for p in (cache_dir / "stage-v1" / "objects").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in entries] == [b"cached"]
    assert ContentCache(cache_dir).root == cache_dir


def test_no_cache_leaves_no_trace_outside_the_run(s3_server: S3Server, s3_bucket: str, workdir: Path,
                                                   cache_dir: Path) -> None:
    url = put(s3_server, s3_bucket, "n.txt", b"n")
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, use_cache=False) as stager:
        assert Path(stager.stage_files({"n": "n.txt"}, {"n.txt": url})["n"]).read_bytes() == b"n"
        assert tree(stager.run_dir) == ["n.txt"]  # type: ignore[arg-type]
    assert not cache_dir.exists() and not workdir.exists()


def test_same_object_under_two_names_is_fetched_once(s3_server: S3Server, s3_bucket: str, workdir: Path,
                                                     cache_dir: Path) -> None:
    data = payload(100_000, 7)
    url = put(s3_server, s3_bucket, "shared.bin", data)
    with DataStagingManager(workdir=workdir, cache_dir=cache_dir, jobs=2) as stager, IO_STATS.scope() as scope:
        paths = stager.stage_files({"x": ["a.bin", "b/c.bin"]}, {"a.bin": url, "b/c.bin": url})["x"]
        assert [Path(p).read_bytes() for p in paths] == [data, data]
        assert sorted(item.origin for item in stager.staged) == ["cache", "download"]
    assert scope.counts("s3", "get").bytes_in == len(data)  # the second waited on the entry's lock
