"""workflow/rules/sync.smk end to end: Snakemake publishes a results folder to S3 in batch jobs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._trees import make_tree, random_bytes, s3_hashes

REPO = Path(__file__).resolve().parents[2]

SNAKEFILE = """
OUT = "results"  # common.smk's output root


def get_sync_publish_input(wildcards):
    return []


include: "{rules}"
"""


def snakemake(workdir: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BAMS3_PROGRESS": "log", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(workdir / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--cores", "2", *targets],
        capture_output=True, text=True, env=env, timeout=300, cwd=workdir)


def test_publish_syncs_the_results_folder_in_batches(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(rules=REPO / "workflow" / "rules" / "sync.smk"))
    (tmp_path / "config.yaml").write_text(json.dumps({"sync": {
        "activate": True, "destination": f"s3://{s3_bucket}/published/", "batch_bytes": "40KiB", "jobs": 2}}))
    files = {"stats/s1.jsonl": random_bytes(30_000, 1), "stats/s2.jsonl": random_bytes(25_000, 2),
             "cohort/table.tsv": random_bytes(12_000, 3), "qc/plot.png": random_bytes(9_000, 4),
             "dataset/.snakemake_timestamp": b""}
    expected = make_tree(tmp_path / "results", files)
    del expected["dataset/.snakemake_timestamp"]

    run = snakemake(tmp_path, "publish")
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
    again = snakemake(tmp_path, "publish")
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads((tmp_path / "results" / "publish" / "report.json").read_text())
    assert report["summary"]["copied"]["count"] == 0
    assert json.loads((tmp_path / "results" / "publish" / "plan.json").read_text())["summary"]["skipped_objects"] == 4
