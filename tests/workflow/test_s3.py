"""The workflow with BAMs in (loopback) S3 and every output written to S3 by the storage plugin."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers.faultproxy import FaultProxy

from .conftest import samtools_flagstat, snakemake, write_sheet


def test_bams_in_s3_results_to_s3(wf_bams: dict[str, Path], s3_server: Any, s3_bucket: str, fault_proxy: FaultProxy,
                                  tmp_path: Path) -> None:
    client = s3_server.client()
    for name in ("edge_cases", "noindex"):
        client.upload_file(str(wf_bams[name]), s3_bucket, f"bams/{name}.bam")
    client.upload_file(str(wf_bams["edge_cases"]) + ".bai", s3_bucket, "bams/edge_cases.bam.bai")
    sheet = write_sheet(tmp_path / "samples.tsv", [
        {"sample": name, "bam": f"s3://{s3_bucket}/bams/{name}.bam"} for name in ("edge_cases", "noindex")
    ])
    config = {"samples": str(sheet), "chunks": {"chunk_size": 500, "shard_reads": 2000}}
    storage = ["--default-storage-provider", "s3", "--default-storage-prefix", f"s3://{s3_bucket}/run",
               "--storage-s3-endpoint-url", s3_server.endpoint_url]
    # the jobs' own BAM reads (bams3.io) go through the counting proxy; the plugin's go straight to the server
    env = {"AWS_ENDPOINT_URL_S3": fault_proxy.url}

    run = snakemake(tmp_path, config, *storage, env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    for name in ("edge_cases", "noindex"):
        prefix = f"run/results/chunks/{name}"
        summary = json.loads(client.get_object(Bucket=s3_bucket, Key=f"{prefix}/summary.json")["Body"].read())
        assert summary["flagstat"] == samtools_flagstat(wf_bams[name])
        assert summary["bam_url"] == f"s3://{s3_bucket}/bams/{name}.bam"
        keys = {o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket, Prefix=prefix)["Contents"]}
        assert {f"{prefix}/{n}" for n in ("plan.json", "chunk_stats.jsonl", "chunk_stats.parquet")} <= keys
        assert not [k for k in keys if "/shards/" in k]  # temp() shard outputs are gone from the bucket too
        lines = client.get_object(Bucket=s3_bucket, Key=f"{prefix}/chunk_stats.jsonl")["Body"].read().splitlines()
        assert [json.loads(line)["chunk_info"]["chunk_id"] for line in lines] == list(range(1, len(lines) + 1))
    assert client.get_object(Bucket=s3_bucket, Key="run/logs/chunks/plan/edge_cases.log")

    # the BAMs were read by ranges, never downloaded whole (no rule declares them as an input)
    size = wf_bams["edge_cases"].stat().st_size
    gets = [r for r in fault_proxy.records if r.method == "GET" and "edge_cases.bam" in r.target and ".bai" not in r.target]
    assert gets and all(r.bytes_delivered < size for r in gets)
    assert not list((tmp_path / ".snakemake" / "storage").rglob("*.bam"))

    # a later invocation reads the plans back from S3 (no local copy) and finds nothing to do
    again = snakemake(tmp_path, config, *storage, env=env)
    assert again.returncode == 0 and "Nothing to be done" in again.stderr, again.stderr[-3000:]
