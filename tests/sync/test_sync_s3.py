"""``bams3.sync.sync`` against a real S3 API on loopback: every direction, skips, filters, deletes.

Contents are always checked through back doors (the filesystem, a plain boto3 client).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bams3.errors import ObjectNotFoundError, UsageError
from bams3.io.metrics import IO_STATS
from bams3.sync import FilterRule, PathFilter, SyncOptions, SyncRequest, sync

from ._trees import TREE, local_hashes, make_tree, multipart_uploads, put_objects, random_bytes, s3_hashes, sha

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAMS3_PROGRESS", "off")


def run(source: str | Path, destination: str | Path, **options: Any):  # type: ignore[no-untyped-def]
    return sync(SyncRequest(str(source), str(destination), SyncOptions(**options)), show_progress=False)


def test_local_to_s3_and_a_second_run_copies_nothing(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    expected = make_tree(tmp_path / "src", TREE)
    report = run(tmp_path / "src", f"s3://{s3_bucket}/run1")
    assert report.count("copied") == len(TREE)
    assert report.bytes("copied") == sum(len(v) for v in TREE.values())
    assert s3_hashes(s3_server.client(), s3_bucket, "run1") == expected

    with IO_STATS.scope() as scope:
        again = run(tmp_path / "src", f"s3://{s3_bucket}/run1/")
    assert (again.count("copied"), again.count("skipped")) == (0, len(TREE))
    assert {r.reason for r in again.results} == {"unchanged"}
    moved = scope.counts("s3")
    assert (moved.bytes_out, moved.bytes_in) == (0, 0)
    assert scope.counts("s3", "put").requests == scope.counts("s3", "multipart").requests == 0


def test_s3_to_local_keeps_times_and_a_second_run_copies_nothing(tmp_path: Path, s3_server: Any,
                                                                 s3_bucket: str) -> None:
    client = s3_server.client()
    expected = put_objects(client, s3_bucket, "in", TREE)
    report = run(f"s3://{s3_bucket}/in", tmp_path / "dst")
    assert report.count("copied") == len(TREE)
    assert local_hashes(tmp_path / "dst") == expected  # no .part leftovers either
    head = client.head_object(Bucket=s3_bucket, Key="in/a.bam")
    assert int((tmp_path / "dst" / "a.bam").stat().st_mtime) == int(head["LastModified"].timestamp())

    with IO_STATS.scope() as scope:
        again = run(f"s3://{s3_bucket}/in/", tmp_path / "dst")
    assert again.count("copied") == 0 and again.count("skipped") == len(TREE)
    assert scope.counts("s3", "get").bytes_in == 0


def test_s3_to_s3_copies_server_side(s3_server: Any, s3_bucket: str) -> None:
    client = s3_server.client()
    other = s3_server.make_bucket()
    expected = put_objects(client, s3_bucket, "src", TREE)
    with IO_STATS.scope() as scope:
        report = run(f"s3://{s3_bucket}/src", f"s3://{other}/copy/")
    assert report.count("copied") == len(TREE)
    assert s3_hashes(client, other, "copy") == expected
    through_client = scope.counts("s3")
    assert (through_client.bytes_in, through_client.bytes_out) == (0, 0)  # no object byte crossed the client
    assert scope.counts("s3", "copy").requests == len(TREE)
    assert report.io is not None and report.io["s3"]["copy"]["requests"] == len(TREE)


def test_delete_only_when_asked_and_never_outside_the_filters(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    client = s3_server.client()
    expected = make_tree(tmp_path / "src", TREE)
    put_objects(client, s3_bucket, "dst", {"zombie.bam": b"old", "notes.log": b"mine"})
    dst = f"s3://{s3_bucket}/dst"

    run(tmp_path / "src", dst)
    assert set(s3_hashes(client, s3_bucket, "dst")) == set(TREE) | {"zombie.bam", "notes.log"}

    keep_logs = PathFilter((FilterRule("exclude", "*.log"),))
    report = run(tmp_path / "src", dst, delete=True, filters=keep_logs)
    assert [r.key for r in report.of("deleted")] == ["zombie.bam"]
    assert s3_hashes(client, s3_bucket, "dst") == {**expected, "notes.log": sha(b"mine")}


def test_a_missing_source_deletes_nothing_or_fails_when_asked(tmp_path: Path, s3_bucket: str) -> None:
    make_tree(tmp_path / "dst", {"precious.bam": b"x"})
    report = run(f"s3://{s3_bucket}/does-not-exist/", tmp_path / "dst", delete=True)
    assert report.results == ()
    assert (tmp_path / "dst" / "precious.bam").exists()
    with pytest.raises(ObjectNotFoundError, match="does-not-exist"):
        run(f"s3://{s3_bucket}/does-not-exist/", tmp_path / "dst", fail_if_missing=True)
    with pytest.raises(ObjectNotFoundError, match="nowhere"):
        run(tmp_path / "nowhere", f"s3://{s3_bucket}/x/", fail_if_missing=True)


def test_include_and_exclude(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    expected = make_tree(tmp_path / "src", TREE)
    only_bams = PathFilter((FilterRule("exclude", "*"), FilterRule("include", "*.bam")))
    report = run(tmp_path / "src", f"s3://{s3_bucket}/f", filters=only_bams)
    assert sorted(r.key for r in report.results) == ["a.bam", "deep/er/b.bam"]
    assert s3_hashes(s3_server.client(), s3_bucket, "f") == {k: expected[k] for k in ("a.bam", "deep/er/b.bam")}


def test_multipart_upload_is_intact_and_checksum_mode_reads_multipart_objects(
    tmp_path: Path, s3_server: Any, s3_bucket: str
) -> None:
    client = s3_server.client()
    big = random_bytes(11 * MiB + 123, 9)
    make_tree(tmp_path / "src", {"big.bam": big, "small.txt": b"s"})
    with IO_STATS.scope() as scope:
        run(tmp_path / "src", f"s3://{s3_bucket}/mp", part_size=5 * MiB)
    assert scope.counts("s3", "multipart").requests == 1 + 3 + 1  # create, 3 parts, complete
    assert client.head_object(Bucket=s3_bucket, Key="mp/big.bam")["ETag"].strip('"').endswith("-3")
    assert s3_hashes(client, s3_bucket, "mp")["big.bam"] == sha(big)
    assert multipart_uploads(client, s3_bucket) == []

    run(f"s3://{s3_bucket}/mp", tmp_path / "back")
    assert (tmp_path / "back" / "big.bam").read_bytes() == big
    # a multipart ETag is no MD5: proving equality means reading both sides
    report = run(f"s3://{s3_bucket}/mp", tmp_path / "back", compare="checksum")
    assert {r.reason for r in report.results} == {"same content"}


def test_the_three_comparisons(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"version-1"})
    dst = f"s3://{s3_bucket}/cmp"
    run(src, dst)
    # same size, new content, but a time in the past: the date rule (like aws s3 sync) cannot see it
    make_tree(src, {"a.txt": b"version-2"}, mtime=1_000_000_000)
    assert run(src, dst).of("skipped")[0].reason == "unchanged"
    assert run(src, dst, compare="size").of("skipped")[0].reason == "same size"
    changed = run(src, dst, compare="checksum")
    assert changed.of("copied")[0].reason == "content differs"
    assert s3_hashes(s3_server.client(), s3_bucket, "cmp") == {"a.txt": sha(b"version-2")}
    assert run(src, dst, compare="checksum").of("skipped")[0].reason == "same content"
    # a newer source is copied by the default rule (newer by whole seconds: S3 keeps no less)
    make_tree(src, {"a.txt": b"version-3"}, mtime=time.time() + 5)
    assert run(src, dst).of("copied")[0].reason == "source newer"


def test_single_objects_into_folders_and_under_new_names(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    client = s3_server.client()
    make_tree(tmp_path, {"in/one.bam": b"one"})
    run(tmp_path / "in" / "one.bam", f"s3://{s3_bucket}/into/")
    run(tmp_path / "in" / "one.bam", f"s3://{s3_bucket}/renamed.bam")
    assert set(s3_hashes(client, s3_bucket)) == {"into/one.bam", "renamed.bam"}
    (tmp_path / "out").mkdir()
    run(f"s3://{s3_bucket}/renamed.bam", tmp_path / "out")
    report = run(f"s3://{s3_bucket}/into/one.bam", tmp_path / "out" / "two.bam")
    assert [(r.key, r.dest_key) for r in report.results] == [("one.bam", "two.bam")]
    assert local_hashes(tmp_path / "out") == {"renamed.bam": sha(b"one"), "two.bam": sha(b"one")}
    run(tmp_path / "out" / "two.bam", tmp_path / "out" / "three.bam")  # beside itself: not "nested"
    run(f"s3://{s3_bucket}/renamed.bam", f"s3://{s3_bucket}/again.bam")
    assert (tmp_path / "out" / "three.bam").read_bytes() == b"one"
    assert s3_hashes(client, s3_bucket)["again.bam"] == sha(b"one")
    with pytest.raises(UsageError, match="one object"):
        run(tmp_path / "in" / "one.bam", f"s3://{s3_bucket}/into/", delete=True)


def test_move_deletes_sources_only_once_their_copies_are_proven(tmp_path: Path, s3_server: Any,
                                                                s3_bucket: str) -> None:
    client = s3_server.client()
    expected = make_tree(tmp_path / "src", TREE)
    put_objects(client, s3_bucket, "mv", {"a.bam": TREE["a.bam"], "deep/c.txt": b"HELLO\n"})  # one equal, one not
    report = run(tmp_path / "src", f"s3://{s3_bucket}/mv", move=True)
    assert s3_hashes(client, s3_bucket, "mv") == expected
    assert local_hashes(tmp_path / "src") == {}
    assert all(r.source_deleted for r in report.results)
    reasons = {r.key: r.reason for r in report.results}
    assert reasons["a.bam"] == "same content" and reasons["deep/c.txt"] == "content differs"


def test_dry_run_changes_nothing(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    client = s3_server.client()
    make_tree(tmp_path / "src", TREE)
    put_objects(client, s3_bucket, "dry", {"zombie": b"z"})
    report = run(tmp_path / "src", f"s3://{s3_bucket}/dry", dry_run=True, delete=True, move=True)
    assert report.dry_run and report.count("copied") == len(TREE) and report.count("deleted") == 1
    assert set(s3_hashes(client, s3_bucket, "dry")) == {"zombie"}
    assert len(local_hashes(tmp_path / "src")) == len(TREE)


def test_overlapping_roots_and_http_urls_are_refused(tmp_path: Path) -> None:
    make_tree(tmp_path / "data", {"x": b"x"})
    with pytest.raises(UsageError, match="overlap"):
        run(tmp_path / "data", tmp_path / "data" / "backup")
    with pytest.raises(UsageError, match="local paths and s3://"):
        run("https://example.org/x.bam?X-Amz-Signature=secret", tmp_path / "y")
    with pytest.raises(UsageError) as info:
        run("https://example.org/x.bam?X-Amz-Signature=secret", tmp_path / "y")
    assert "secret" not in str(info.value)


def test_upload_requests_per_object_and_objects_in_parallel(tmp_path: Path, s3_server: Any, s3_bucket: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A small file costs one PUT (its ETag proves the bytes: no HEAD after it), and ``jobs``
    objects are uploaded at once: each PUT waits at a barrier only three uploads at once can pass."""
    import threading

    import bams3.io._s3 as s3mod

    files = {f"f{i}.json": random_bytes(2000 + i, i) for i in range(6)}
    expected = make_tree(tmp_path / "src", files)
    barrier = threading.Barrier(3, timeout=30)
    original = s3mod.S3Store._put_once

    def together(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        barrier.wait()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(s3mod.S3Store, "_put_once", together)
    with IO_STATS.scope() as scope:
        report = run(tmp_path / "src", f"s3://{s3_bucket}/par", jobs=3)
    assert report.count("copied") == len(files)
    assert s3_hashes(s3_server.client(), s3_bucket, "par") == expected
    assert scope.counts("s3", "put").requests == len(files)
    assert scope.counts("s3", "stat").requests == 0
