"""workflow/rules/sync.smk end to end: the workflow's ``publish`` target syncs a results folder to S3 in batch jobs."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.workflow.conftest import snakemake

from ._trees import make_tree, random_bytes, s3_hashes


def publish(workdir: Path, config: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """The real workflow's ``publish`` target, with only the sync section switched on."""
    quiet = {"bam_urls": ["unused.bam"], "chunks": {"activate": False}, "dataset": {"activate": False}}
    return snakemake(workdir, {**quiet, **config}, "publish")


def test_publish_syncs_the_results_folder_in_batches(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    config = {"sync": {"activate": True, "destination": f"s3://{s3_bucket}/published/", "batch_bytes": "40KiB",
                       "jobs": 2}}
    files = {"stats/s1.jsonl": random_bytes(30_000, 1), "stats/s2.jsonl": random_bytes(25_000, 2),
             "cohort/table.tsv": random_bytes(12_000, 3), "qc/plot.png": random_bytes(9_000, 4),
             "dataset/.snakemake_timestamp": b""}
    expected = make_tree(tmp_path / "results", files)
    del expected["dataset/.snakemake_timestamp"]

    run = publish(tmp_path, config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert s3_hashes(s3_server.client(), s3_bucket, "published") == expected  # no publish/ bookkeeping either
    plan = json.loads((tmp_path / "results" / "publish" / "plan.json").read_text())
    batches = [[item["key"] for item in batch["items"]] for batch in plan["batches"]]
    assert batches == [["stats/s1.jsonl", "qc/plot.png"], ["stats/s2.jsonl", "cohort/table.tsv"]]  # FFD, 40 KiB
    report = json.loads((tmp_path / "results" / "publish" / "report.json").read_text())
    assert report["summary"]["copied"] == {"count": 4, "bytes": sum(len(files[k]) for k in expected)}

    # a fresh plan over an up-to-date destination has no batches, and publishing still completes
    for path in (tmp_path / "results" / "publish").rglob("*.json"):
        path.unlink()
    again = publish(tmp_path, config)
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads((tmp_path / "results" / "publish" / "report.json").read_text())
    assert report["summary"]["copied"]["count"] == 0
    assert json.loads((tmp_path / "results" / "publish" / "plan.json").read_text())["summary"]["skipped_objects"] == 4
