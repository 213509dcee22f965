"""workflow/rules/dataset.smk: each sample's dataset written straight to its root, a receipt as output."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bams3.dataset import Dataset
from tests.helpers.s3server import S3Server
from tests.workflow.conftest import snakemake, write_sheet


def run_workflow(workdir: Path, bam: Path, dataset: dict, env: dict[str, str] | None = None) -> dict:
    """Run the real workflow up to one sample's receipt (rule convert_dataset) and return the receipt."""
    sheet = write_sheet(workdir / "samples.tsv", [{"sample": "edge", "bam": str(bam)}])
    config = {"samples": str(sheet), "output_dir": "results", "dataset": {"activate": True, **dataset}}
    result = snakemake(workdir, config, "--forceall", "results/datasets/edge.receipt.json", env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((workdir / "results" / "datasets" / "edge.receipt.json").read_text())


@pytest.mark.parametrize("fmt", [None, 1], ids=["default", "format1"])
def test_local_root(edge_bam: Path, tmp_path: Path, fmt: int | None) -> None:
    settings = {"chunk_size": "64K", "workers": 2, **({"format": fmt} if fmt else {})}
    receipt = run_workflow(tmp_path, edge_bam, settings)
    url = str(tmp_path / "results" / "datasets" / "edge.bams3")
    dataset = Dataset.open(url)
    assert dataset.metadata.format_version == (fmt or 2)  # format 2 is the workflow's default
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
