"""The cohort stage of the real workflow (workflow/Snakefile: conversion, cohort groups, aggregation and
the report's cohort page) run by snakemake against the loopback S3 server, every output going to S3
through the storage plugin. The per-chunk statistics are switched off: they are tested in tests/workflow/.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tests.helpers.bamgen import write_bam

from .conftest import REFERENCES, Cohort, samtools_count, samtools_depth_sum

SNAKEFILE = Path(__file__).resolve().parents[2] / "workflow" / "Snakefile"
REGIONS = ["chr1:1-40000", "chr2", "chrM:1,000-2,000"]
BED = "chr1\t99999\t140000\tpanelA\nchr2\t500\t900\tpanelB\n"


def snakemake(workdir: Path, config: dict[str, Any], bucket: str, endpoint: str,
              *args: str) -> subprocess.CompletedProcess[str]:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "BAMS3_PROGRESS": "log", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--cores", "2", "--workflow-profile", "none",
         "--default-storage-provider", "s3", "--default-storage-prefix", f"s3://{bucket}/run",
         "--storage-s3-endpoint-url", endpoint, *args],
        capture_output=True, text=True, env=env, timeout=300, cwd=workdir)


def _get(client: Any, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _sheet(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("sample\tbam\n" + "".join(f"{s}\t{b}\n" for s, b in rows))
    return path


def test_cohort_target_converts_groups_and_aggregates_in_s3(cohort_bams: dict[str, Path], s3_server: Any,
                                                             tmp_path: Path) -> None:
    client = s3_server.client()
    bucket = s3_server.make_bucket()
    names = ["S0", "S1", "S2"]  # group_size 2: two group jobs
    for name in names:
        client.upload_file(str(cohort_bams[name]), bucket, f"bams/{name}.bam")
    (tmp_path / "panel.bed").write_text(BED)
    config = {
        "samples": str(_sheet(tmp_path / "samples.tsv", [(n, f"s3://{bucket}/bams/{n}.bam") for n in names])),
        "chunks": {"activate": False},
        "dataset": {"activate": True, "root": f"s3://{bucket}/datasets", "chunk_size": "32K"},
        "cohort": {"activate": True, "regions": REGIONS, "regions_file": str(tmp_path / "panel.bed"),
                   "group_size": 2, "jobs": 4, "coverage": True},
    }
    run = snakemake(tmp_path, config, bucket, s3_server.endpoint_url)
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stderr.count("rule cohort_group:") == 2 and run.stderr.count("rule convert_dataset:") == 3

    out = "run/results/cohort"
    table = pd.read_csv(io.BytesIO(_get(client, bucket, f"{out}/table.tsv")), sep="\t")
    labels = ["chr1:1-40000", "chr2", "chrM:1000-2000", "panelA", "panelB"]
    samtools = ["chr1:1-40000", "chr2", "chrM:1000-2000", "chr1:100000-140000", "chr2:501-900"]
    assert table["sample"].tolist() == [n for n in names for _ in labels]
    assert table["region"].tolist() == labels * len(names)
    for row, region in zip(table.itertuples(), samtools * len(names)):
        assert row.count == samtools_count(cohort_bams[row.sample], region), (row.sample, region)
        assert row.aligned_bases == samtools_depth_sum(cohort_bams[row.sample], region), (row.sample, region)
    assert table.loc[table["region"] == "panelA", "start"].tolist() == [99_999] * 3  # BED stays 0-based
    assert table.loc[table["region"] == "chr2", "end"].tolist() == [dict(REFERENCES)["chr2"]] * 3
    matrix = pd.read_csv(io.BytesIO(_get(client, bucket, f"{out}/matrix.tsv")), sep="\t", index_col="sample")
    assert list(matrix.index) == names and list(matrix.columns) == labels
    pd.read_csv(io.BytesIO(_get(client, bucket, f"{out}/depth_matrix.tsv")), sep="\t", index_col="sample")
    assert pd.read_parquet(io.BytesIO(_get(client, bucket, f"{out}/table.parquet")))["count"].tolist() == \
        table["count"].tolist()
    summary = json.loads(_get(client, bucket, f"{out}/summary.json"))
    assert summary["samples"] == {"total": 3, "succeeded": 3, "failed": 0}
    cost = summary["cost"]
    assert cost["requests"] > 0 and cost["queries"] == 15
    assert cost["whole_bam_download"]["bytes"] == sum(cohort_bams[n].stat().st_size for n in names)
    assert _get(client, bucket, f"{out}/plot.png")[:4] == b"\x89PNG"
    page = _get(client, bucket, "run/results/report/cohort.html").decode()  # the report's cohort page
    assert all(name in page for name in names) and "panelA" in page
    listing = client.list_objects_v2(Bucket=bucket, Prefix="run/")["Contents"]
    keys = {o["Key"] for o in listing}
    assert not [k for k in keys if "/groups/" in k]  # temp() group results are gone
    assert {"run/logs/cohort/group/0.log", "run/logs/cohort/group/1.log", "run/logs/cohort/aggregate.log"} <= keys

    again = snakemake(tmp_path, config, bucket, s3_server.endpoint_url)
    assert again.returncode == 0 and "Nothing to be done" in again.stderr, again.stderr[-3000:]


def test_external_datasets_and_a_failing_group(s3_cohort: Any, s3_server: Any, tmp_path: Path) -> None:
    """Datasets from a list (no conversion); a missing one fails its group's job (log names it) unless
    failures are allowed, and then summary.json lists it."""
    cohort: Cohort = s3_cohort()
    bucket = cohort.samples[0].url.split("/")[2]
    listing = tmp_path / "datasets.tsv"
    listing.write_text("".join(f"{s.name}\t{s.url}\n" for s in cohort.samples)
                       + f"ghost\ts3://{bucket}/cohort/ghost.bams3\n")
    bam = write_bam(tmp_path / "unused.bam", n_pairs=10, seed=1, edge_cases=False, references=REFERENCES)
    config = {
        "samples": str(_sheet(tmp_path / "samples.tsv", [("unused", str(bam))])),
        "chunks": {"activate": False},
        "cohort": {"activate": True, "datasets_file": str(listing), "regions": ["chr1:5000-6000"], "group_size": 3},
    }
    failed = snakemake(tmp_path, config, bucket, s3_server.endpoint_url, "--keep-going")
    assert failed.returncode != 0
    assert "rule convert_dataset" not in failed.stderr
    log = _get(s3_server.client(), bucket, "run/logs/cohort/group/1.log").decode()
    assert "1 of 2 samples failed; ghost: " in log and "ghost.bams3" in log

    config["cohort"]["allow_failures"] = True
    run = snakemake(tmp_path, config, bucket, s3_server.endpoint_url)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads(_get(s3_server.client(), bucket, "run/results/cohort/summary.json"))
    assert [f["sample"] for f in summary["failed"]] == ["ghost"]
    assert summary["regions"][0]["count"]["total"] == sum(samtools_count(cohort.bam(s.name), "chr1:5000-6000")
                                                          for s in cohort.samples)
