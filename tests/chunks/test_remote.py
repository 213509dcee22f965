"""Chunks of BAMs in S3 and behind signed URLs: only the bytes a step needs cross the wire."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bams3.chunks import ShardSizing, make_plan, run_shard, scan
from bams3.chunks._planner import HEADER_PROBE_BYTES
from tests.helpers.faultproxy import FaultProxy

from ._checks import check_outputs, run_plan
from .conftest import samtools_flagstat


@pytest.fixture
def s3_bam(bams: dict[str, Path], s3_server: Any, s3_bucket: str, fault_proxy: FaultProxy,
           monkeypatch: pytest.MonkeyPatch) -> str:
    """The medium BAM and its index in S3; every request of the code under test goes through the proxy."""
    client = s3_server.client()
    client.upload_file(str(bams["medium"]), s3_bucket, "cohort/medium.bam")
    client.upload_file(str(bams["medium"]) + ".bai", s3_bucket, "cohort/medium.bam.bai")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", fault_proxy.url)
    return f"s3://{s3_bucket}/cohort/medium.bam"


def test_an_index_plan_reads_the_header_and_the_index_only(s3_bam: str, bams: dict[str, Path],
                                                          fault_proxy: FaultProxy) -> None:
    plan = make_plan(s3_bam, sizing=ShardSizing(reads=20_000, bytes=None))
    assert plan.method == "index" and plan.index_url == s3_bam + ".bai" and len(plan.shards) > 5
    bam_bytes = fault_proxy.bytes_delivered("GET", r"/medium\.bam(\?|$)")
    index_bytes = fault_proxy.bytes_delivered("GET", r"/medium\.bam\.bai")
    assert index_bytes == (bams["medium"].parent / "medium.bam.bai").stat().st_size
    assert 0 < bam_bytes <= HEADER_PROBE_BYTES < plan.bam_size / 50  # the header probe, never the body
    assert fault_proxy.count("GET") <= 3 and plan.planning_bytes_read == bam_bytes + index_bytes


def test_a_shard_job_reads_only_its_byte_range(s3_bam: str, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    plan = make_plan(s3_bam, sizing=ShardSizing(reads=20_000, bytes=None))
    k = len(plan.shards) // 2
    fault_proxy.reset()
    report = run_shard(s3_bam, plan, k, tmp_path / "shard.jsonl")
    start, end = plan.shards[k].byte_range(plan.bam_size)
    delivered = fault_proxy.bytes_delivered("GET", r"/medium\.bam")
    assert report.reads > 0 and 0 < delivered <= end - start < plan.bam_size / 4
    assert report.bytes_fetched == delivered


def test_s3_shards_equal_samtools(s3_bam: str, bams: dict[str, Path], tmp_path: Path) -> None:
    plan = make_plan(s3_bam, chunk_size=500, sizing=ShardSizing(reads=30_000, bytes=None))
    summary = run_plan(s3_bam, plan, tmp_path)
    check_outputs(bams["medium"], tmp_path, summary, chunk_size=500)
    assert summary["bam_url"] == s3_bam and summary["io"]["bytes_fetched"] < 1.5 * plan.bam_size


def test_signed_urls_need_their_index_and_never_show_the_signature(bams: dict[str, Path], http_server: Any,
                                                                  tmp_path: Path) -> None:
    http_server.write("medium.bam", bams["medium"].read_bytes())
    http_server.write("medium.bam.bai", (bams["medium"].parent / "medium.bam.bai").read_bytes())
    url = http_server.signed_url("medium.bam")
    index_url = http_server.signed_url("medium.bam.bai")
    assert make_plan(url, sizing=ShardSizing(reads=10**9, bytes=None)).method == "scan"  # no index next to a signed URL
    result = scan(url, tmp_path / "out", index_url=index_url, chunk_files=False, progress=False,
                  sizing=ShardSizing(reads=40_000, bytes=None))
    assert result.summary["plan"]["method"] == "index" and result.summary["plan"]["shards"] > 2
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl"):
            text = path.read_text()
            assert "Signature=" not in text and url not in text
    first = json.loads((tmp_path / "out" / "chunk_stats.jsonl").read_text().splitlines()[0])
    assert first["chunk_info"]["bam_url"].startswith(http_server.url + "/medium.bam")
    assert result.summary["flagstat"] == samtools_flagstat(bams["medium"])
