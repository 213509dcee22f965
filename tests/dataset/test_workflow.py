"""workflow/rules/dataset.smk: each sample's dataset written straight to its root, a receipt as output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bams3.dataset import Dataset
from tests.helpers.s3server import S3Server

RULES = Path(__file__).resolve().parents[2] / "workflow" / "rules"

HARNESS = """
import pandas as pd

OUT = "results"
samples = pd.DataFrame({{"sample": ["edge"], "bam": [{bam!r}]}}).set_index("sample", drop=False)


def get_bam_url(wildcards):
    return samples.loc[wildcards.sample, "bam"]


def get_bam_version(wildcards):
    return "v1"


include: {rules!r}


rule all:
    input:
        get_dataset_outputs("edge"),
"""


def run_workflow(workdir: Path, bam: Path, dataset: dict, env: dict[str, str] | None = None) -> dict:
    """Run the rule in a minimal Snakefile (standing in for common.smk) and return the receipt."""
    (workdir / "Snakefile").write_text(HARNESS.format(bam=str(bam), rules=str(RULES / "dataset.smk")))
    (workdir / "config.yaml").write_text(json.dumps({"dataset": dataset}))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-c2", "--configfile", "config.yaml", "--forceall"],
        cwd=workdir, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((workdir / "results" / "datasets" / "edge.receipt.json").read_text())


def test_local_root(edge_bam: Path, tmp_path: Path) -> None:
    receipt = run_workflow(tmp_path, edge_bam, {"chunk_size": "64K", "workers": 2})
    url = str(tmp_path / "results" / "datasets" / "edge.bams3")
    dataset = Dataset.open(url)
    assert receipt["dataset"].rstrip("/") == url
    assert receipt["sample"] == "edge" and receipt["records"] == dataset.metadata.totals.records
    assert receipt["objects"] == len(dataset.metadata.chunks) + 1
    assert (tmp_path / "logs" / "dataset" / "convert" / "edge.log").exists()


@pytest.mark.usefixtures("s3_server")
def test_s3_root_and_rerun(s3_server: S3Server, edge_bam: Path, tmp_path: Path) -> None:
    import hashlib

    bucket = s3_server.make_bucket()
    settings = {"root": f"s3://{bucket}/cohort", "chunk_size": "1M", "workers": 1}
    first = run_workflow(tmp_path, edge_bam, settings, env=s3_server.env)
    second = run_workflow(tmp_path, edge_bam, settings, env=s3_server.env)  # --forceall: converts again
    assert first["run_id"] != second["run_id"]
    client = s3_server.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == second["objects"]  # the first run's chunks are gone
    assert all(second["run_id"] in k for k in keys if "/chunks/" in k)
    metadata = client.get_object(Bucket=bucket, Key="cohort/edge.bams3/_metadata.json")["Body"].read()
    assert hashlib.sha256(metadata).hexdigest() == second["metadata_sha256"]
