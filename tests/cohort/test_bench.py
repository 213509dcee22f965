"""The cohort benchmark's pieces (bench/cohort.py) at small scale: the generated cohort in S3, the
anchor's script run by xargs against it, bams3 cohort's table, the check that compares the two (and
fails when they differ), and the latency proxy. The timings themselves are the harness's business.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import cohort as bench_cohort
from bench.latency import LatencyProxy

BAMS3 = str(Path(sys.executable).with_name("bams3"))


def test_regions_are_reproducible_and_inside_the_genome() -> None:
    regions = bench_cohort.make_regions(20)
    assert regions == bench_cohort.make_regions(20) != bench_cohort.make_regions(20, seed=6)
    lengths = dict(bench_cohort.REFERENCES)
    assert [r.name for r in regions] == [f"r{j:02d}" for j in range(20)]
    for r in regions:
        assert 0 <= r.start < r.end <= lengths[r.contig] and 1_000 <= r.end - r.start < 200_000
        assert r.samtools == f"{r.contig}:{r.start + 1}-{r.end}"  # 1-based inclusive, as BED + 1
    a = bench_cohort.Region("a", "chr1", 0, 100_000)
    b = bench_cohort.Region("b", "chr1", 50_000, 200_000)
    c = bench_cohort.Region("c", "chr2", 0, 10_000)
    total = sum(length for _, length in bench_cohort.REFERENCES)
    assert bench_cohort.genome_fraction([a, b, c]) == pytest.approx((200_000 + 10_000) / total)  # overlap once


def test_compare_counts_passes_only_on_equal_counts() -> None:
    table = "sample\tregion\tcontig\tstart\tend\tcount\nS0\tr00\tchr1\t0\t10\t5\nS0\tr01\tchr2\t0\t10\t0\n"
    assert bench_cohort.compare_counts("S0\tr01\t0\nS0\tr00\t5\n", table, 2) is None  # order does not matter
    problem = bench_cohort.compare_counts("S0\tr00\t6\nS0\tr01\t0\n", table, 2)
    assert problem and "1 counts differ" in problem and "samtools 6, bams3 5" in problem
    assert "missing from table.tsv" in (bench_cohort.compare_counts("S0\tr00\t5\nS0\tr01\t0\nS1\tr00\t1\n", table, 3)
                                        or "")
    assert "expected 3" in (bench_cohort.compare_counts("S0\tr00\t5\nS0\tr01\t0\n", table, 3) or "")
    assert "not SAMPLE" in (bench_cohort.compare_counts("S0\tr00\t\nS0\tr01\t0\n", table, 2) or "")  # samtools died
    assert "twice" in (bench_cohort.compare_counts("S0\tr00\t5\nS0\tr00\t5\nS0\tr01\t0\n", table, 2) or "")


def test_linear_fit() -> None:
    fit = bench_cohort.linear_fit([(50, 3.0), (100, 5.0), (200, 9.0)])
    assert fit == {"fixed_s": 1.0, "per_sample_s": 0.04, "r2": 1.0}
    assert bench_cohort.linear_fit([(50, 3.0)]) is None


def test_generated_cohort_anchor_and_bams3_agree(s3_server: Any, tmp_path: Path) -> None:
    """Three samples from two templates: xargs + the anchor script and bams3 cohort count the same, and the
    case's check notices one count changed."""
    client = s3_server.client()
    bucket = s3_server.make_bucket()
    templates = bench_cohort.write_templates(tmp_path / "templates", distinct=2, pairs=400, bams3=BAMS3)
    samples = bench_cohort.populate(client, bucket, templates, 3)
    assert samples == ["S0000", "S0001", "S0002"]
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="cohort/S0002")["Contents"]}
    assert {"cohort/S0002.bam", "cohort/S0002.bam.bai", "cohort/S0002.bams3/_metadata.json"} <= keys
    # sample 2 is a copy of template 0, not of template 1
    assert client.get_object(Bucket=bucket, Key="cohort/S0002.bam")["Body"].read() == templates[0].bam.read_bytes()

    regions = bench_cohort.make_regions(4)
    (tmp_path / "regions.bed").write_text("".join(r.bed() for r in regions))
    (tmp_path / "datasets.tsv").write_text(bench_cohort.dataset_list(samples, bucket))
    (tmp_path / "anchor.args").write_text(bench_cohort.anchor_args(samples, regions))
    hts_dir = tmp_path / "htslib-cwd"
    hts_dir.mkdir()
    script = tmp_path / "count.sh"
    script.write_text(bench_cohort.anchor_script(samtools="samtools", bucket=bucket, hts_dir=hts_dir))
    b_env, s_env = bench_cohort._envs(s3_server.endpoint_url, {})
    anchor = subprocess.run(["xargs", "-a", str(tmp_path / "anchor.args"), "-P", "4", "-n", "3", "sh", str(script)],
                            env={**os.environ, **s_env}, capture_output=True, text=True, timeout=120)
    assert anchor.returncode == 0, anchor.stderr
    assert len(anchor.stdout.splitlines()) == 12 and list(hts_dir.glob("*.bai"))  # htslib saved the indexes
    out = tmp_path / "out"
    done = subprocess.run([BAMS3, "cohort", "-f", str(tmp_path / "datasets.tsv"), "-R", str(tmp_path / "regions.bed"),
                           "-o", str(out), "--jobs", "4", "--no-progress", "--plot", "none"],
                          env={**os.environ, **b_env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    counts = [int(line.split("\t")[2]) for line in anchor.stdout.splitlines()]
    assert sum(counts) > 0

    anchor_out = tmp_path / "case0-cmd0.out"
    anchor_out.write_text(anchor.stdout)
    check = bench_cohort.table_check({"cmd1": out}, 12)
    assert check(anchor_out, tmp_path / "case0-cmd1.out") is None
    first = anchor.stdout.splitlines()[0].split("\t")
    anchor_out.write_text(anchor.stdout.replace("\t".join(first), "\t".join([*first[:2], str(int(first[2]) + 1)])))
    assert "1 counts differ" in (check(anchor_out, tmp_path / "case0-cmd1.out") or "")
    (out / "table.tsv").unlink()
    assert "no table.tsv" in (check(anchor_out, tmp_path / "case0-cmd1.out") or "")


def test_a_failing_samtools_stops_the_anchor(s3_server: Any, tmp_path: Path) -> None:
    """A sample the bucket lacks: samtools fails, the script exits 255 and xargs stops with an error."""
    bucket = s3_server.make_bucket()
    script = tmp_path / "count.sh"
    script.write_text(bench_cohort.anchor_script(samtools="samtools", bucket=bucket, hts_dir=tmp_path))
    _, s_env = bench_cohort._envs(s3_server.endpoint_url, {})
    done = subprocess.run(["xargs", "-n", "3", "sh", str(script)], input="S9999 r00 chr1:1-100\n",
                          env={**os.environ, **s_env}, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and done.stdout == ""


def test_latency_proxy_forwards_requests(s3_server: Any) -> None:
    client = s3_server.client()
    bucket = s3_server.make_bucket()
    client.put_object(Bucket=bucket, Key="x", Body=b"0123456789")
    import boto3

    with LatencyProxy(s3_server.endpoint_url, 0.001) as proxy:
        via = boto3.client("s3", endpoint_url=proxy.url)
        assert via.get_object(Bucket=bucket, Key="x", Range="bytes=2-4")["Body"].read() == b"234"
        assert via.head_object(Bucket=bucket, Key="x")["ContentLength"] == 10  # HEAD keeps the object's size
        assert proxy.requests == 2
