"""Failures in the middle of a sync: stop or carry on as asked, never lose or half-write anything.

Faults come from the loopback fault proxy in front of the S3 server; after each failure a
plain rerun must leave the destination equal to the source (content hashes).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bams3.errors import TransientIOError
from bams3.sync import PlanRequest, SyncFailedError, SyncOptions, SyncRequest, plan, run_batch, sync
from tests.helpers.faultproxy import FaultProxy

from ._trees import TREE, local_hashes, make_tree, multipart_uploads, put_objects, random_bytes, s3_hashes

MiB = 1024 * 1024


@pytest.fixture
def via_proxy(monkeypatch: pytest.MonkeyPatch, fault_proxy: FaultProxy) -> FaultProxy:
    """Point bams3 at the proxy, with one quick retry per request."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.setenv(name, fault_proxy.url)
    monkeypatch.setenv("BAMS3_RETRY_MAX", "1")
    monkeypatch.setenv("BAMS3_PROGRESS", "off")
    return fault_proxy


def always_500_on(proxy: FaultProxy, key_regex: str, method: str = "PUT") -> None:
    proxy.inject("status", method=method, path=key_regex, status=500, code="InternalError", times=None)


def test_first_failure_stops_the_sync_and_a_rerun_finishes_it(tmp_path: Path, s3_server: Any, s3_bucket: str,
                                                              via_proxy: FaultProxy) -> None:
    expected = make_tree(tmp_path / "src", TREE)
    always_500_on(via_proxy, r"/deep/c\.txt")
    request = SyncRequest(str(tmp_path / "src"), f"s3://{s3_bucket}/run", SyncOptions(jobs=1))
    with pytest.raises(SyncFailedError) as info:
        sync(request, show_progress=False)
    error = info.value
    assert isinstance(error.__cause__, TransientIOError)
    assert "deep/c.txt" in str(error) and "\n" not in str(error)
    report = error.report
    # keys run in order: a.bam, a.bam.bai, deep/c.txt (fails), then nothing more is started
    assert [r.key for r in report.of("copied")] == ["a.bam", "a.bam.bai"]
    assert [r.key for r in report.of("failed")] == ["deep/c.txt"]
    assert set(s3_hashes(s3_server.client(), s3_bucket, "run")) == {"a.bam", "a.bam.bai"}

    via_proxy.clear_faults()
    again = sync(request, show_progress=False)
    assert again.count("skipped") == 2 and again.count("copied") == len(TREE) - 2
    assert s3_hashes(s3_server.client(), s3_bucket, "run") == expected


def test_partial_failure_finishes_the_rest_and_reports_the_failure(tmp_path: Path, s3_server: Any, s3_bucket: str,
                                                                   via_proxy: FaultProxy) -> None:
    expected = make_tree(tmp_path / "src", TREE)
    always_500_on(via_proxy, r"/deep/c\.txt")
    options = SyncOptions(jobs=2, allow_partial_failure=True, delete=True)
    put_objects(s3_server.client(), s3_bucket, "run", {"stale": b"s"})
    report = sync(SyncRequest(str(tmp_path / "src"), f"s3://{s3_bucket}/run", options), show_progress=False)
    assert [r.key for r in report.of("failed")] == ["deep/c.txt"]
    assert "InternalError" in report.of("failed")[0].reason or "500" in report.of("failed")[0].reason
    assert report.count("copied") == len(TREE) - 1
    # a failed copy blocks deletions: the destination keeps what it had
    assert report.count("deleted") == 0
    held = s3_hashes(s3_server.client(), s3_bucket, "run")
    assert set(held) == set(TREE) - {"deep/c.txt"} | {"stale"}

    via_proxy.clear_faults()
    sync(SyncRequest(str(tmp_path / "src"), f"s3://{s3_bucket}/run", options), show_progress=False)
    assert s3_hashes(s3_server.client(), s3_bucket, "run") == expected


def test_failure_mid_batch_with_and_without_partial_failure(tmp_path: Path, s3_server: Any, s3_bucket: str,
                                                            via_proxy: FaultProxy) -> None:
    client = s3_server.client()
    files = {f"f{i:02d}.bin": random_bytes(1000 + i, i) for i in range(8)}
    expected = put_objects(client, s3_bucket, "src", files)
    batches = plan(PlanRequest(f"s3://{s3_bucket}/src/", str(tmp_path / "dst"), 10**6, SyncOptions(jobs=1)))
    assert len(batches.batches) == 1
    always_500_on(via_proxy, r"/src/f03\.bin", method="GET")

    with pytest.raises(SyncFailedError) as info:
        run_batch(batches.request_for(0), show_progress=False)
    assert [r.key for r in info.value.report.of("failed")] == ["f03.bin"]
    assert info.value.report.count("copied") < len(files) - 1  # it stopped

    report = run_batch(batches.request_for(0, allow_partial_failure=True), show_progress=False)
    assert [r.key for r in report.of("failed")] == ["f03.bin"]
    assert report.count("copied") + report.count("skipped") == len(files) - 1
    # nothing under a final name but complete files (a failed download keeps its resumable .part aside)
    held = {k: v for k, v in local_hashes(tmp_path / "dst").items() if ".part" not in k}
    assert held == {k: v for k, v in expected.items() if k != "f03.bin"}

    via_proxy.clear_faults()
    final = run_batch(batches.request_for(0), show_progress=False)
    assert [r.key for r in final.of("copied")] == ["f03.bin"]
    assert local_hashes(tmp_path / "dst") == expected  # and the .part is gone


def test_a_failed_multipart_upload_leaves_no_object_and_no_parts(tmp_path: Path, s3_server: Any, s3_bucket: str,
                                                                 via_proxy: FaultProxy) -> None:
    big = random_bytes(11 * MiB, 5)
    expected = make_tree(tmp_path / "src", {"big.bam": big})
    via_proxy.inject("status", method="PUT", path=r"partNumber=2", status=500, code="InternalError", times=None)
    request = SyncRequest(str(tmp_path / "src"), f"s3://{s3_bucket}/mp", SyncOptions(part_size=5 * MiB))
    with pytest.raises(SyncFailedError):
        sync(request, show_progress=False)
    client = s3_server.client()
    assert s3_hashes(client, s3_bucket, "mp") == {}
    assert multipart_uploads(client, s3_bucket) == []

    via_proxy.clear_faults()
    sync(request, show_progress=False)
    assert s3_hashes(client, s3_bucket, "mp") == expected


def test_a_killed_sync_resumes_and_ends_equal(tmp_path: Path, s3_server: Any, s3_bucket: str,
                                              via_proxy: FaultProxy) -> None:
    """SIGKILL a real ``bams3 sync`` while a download stalls mid-body, then rerun it."""
    client = s3_server.client()
    files = {"a.txt": b"a" * 100, "big.bam": random_bytes(3 * MiB, 7), "z.txt": b"z" * 10}
    expected = put_objects(client, s3_bucket, "in", files)
    # the first MiB of big.bam arrives (one GET for the whole object), then its body hangs: the client is stuck
    stall = via_proxy.inject("stall", method="GET", path=r"/in/big\.bam", after_bytes=MiB + 1000, times=None,
                             seconds=120)
    command = [sys.executable, "-m", "bams3", "sync", f"s3://{s3_bucket}/in", str(tmp_path / "out"), "-j", "1",
               "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        part = tmp_path / "out" / "big.bam.part"

        def held() -> bool:  # the transfer stalls with its first MiB written
            return stall.applied > 0 and part.exists() and part.stat().st_size >= MiB

        while not held() and process.poll() is None:  # wait for the stalled transfer, however long
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    via_proxy.clear_faults()
    assert "big.bam" not in local_hashes(tmp_path / "out")  # never a partial file under the final name
    assert part.stat().st_size == MiB  # what arrived is kept for the resume

    from bams3.cli import main

    assert main(["sync", f"s3://{s3_bucket}/in", str(tmp_path / "out"), "--no-progress"]) == 0
    assert local_hashes(tmp_path / "out") == expected  # and no .part leftovers
