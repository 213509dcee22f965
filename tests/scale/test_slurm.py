"""The demo workflow on a real (one-node) Slurm cluster, through profiles/cluster.

The session fixture brings Slurm up with tools/slurm-up.sh unless it already answers, and takes it down
afterwards only if it started it. slurm-up.sh needs root and Debian (CI has both); elsewhere it exits 3 and
the test is skipped with its reason. Each Slurm job costs seconds, so the BAMs are small and have few shards.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pysam
import pytest
import yaml

from tests.helpers.bamgen import write_bam

from .conftest import REPO, run_in_repo, write_sheet

SLURM_UP = REPO / "tools" / "slurm-up.sh"


def slurm_answers() -> bool:
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def slurm() -> Iterator[None]:
    """A Slurm cluster that answers `sinfo` for the session."""
    if slurm_answers():
        yield
        return
    up = subprocess.run(["bash", str(SLURM_UP)], capture_output=True, text=True, timeout=600)
    if up.returncode == 3:  # the script's "this machine cannot host it" (not root, not Debian)
        pytest.skip(f"no Slurm here and tools/slurm-up.sh cannot start one: {up.stderr.strip()}")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield
    finally:
        subprocess.run(["bash", str(SLURM_UP), "down"], capture_output=True, timeout=120)


@pytest.mark.timeout(1200)
def test_demo_workflow_through_the_cluster_profile(slurm: None, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # as tools/demo.sh: one indexed BAM (planned from its index), one without (planned by a scan)
    bams = {"sampleA": write_bam(data / "sampleA.bam", n_pairs=3000, seed=101, edge_cases=True),
            "sampleB": write_bam(data / "sampleB.bam", n_pairs=2000, seed=102, edge_cases=True, index=False)}
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["samples"] = str(write_sheet(tmp_path / "samples.tsv", {k: str(v) for k, v in bams.items()}))
    config["chunks"].update(chunk_size=500, shard_reads=2000)  # 3-4 shards per sample

    start = time.monotonic()
    # the profile as users run it; only the first status check comes sooner than on a real cluster (40 s)
    run = run_in_repo(tmp_path, config, "--profile", "profiles/cluster",
                      "--slurm-init-seconds-before-status-checks", "2", timeout=1100)
    seconds = time.monotonic() - start
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    print(f"demo workflow on Slurm: {seconds:.0f} s")

    results = tmp_path / "results"
    shards = 0
    for sample, bam in bams.items():
        summary = json.loads((results / "chunks" / sample / "summary.json").read_text())
        assert summary["flagstat"] == json.loads(pysam.flagstat("-O", "json", str(bam)))
        rows = (results / "chunks" / sample / "chunk_stats.jsonl").read_text().splitlines()
        assert [json.loads(r)["chunk_info"]["chunk_id"] for r in rows] == list(range(1, len(rows) + 1))
        plan = json.loads((results / "chunks" / sample / "plan.json").read_text())
        assert plan["method"] == ("index" if sample == "sampleA" else "scan") and len(plan["shards"]) >= 2
        shards += len(plan["shards"])
        receipt = json.loads((results / "datasets" / f"{sample}.receipt.json").read_text())
        assert receipt["records"] == summary["total_reads"]

    # every job went through sbatch (squeue told Snakemake when each ended); each sample's aggregation and
    # report figures in one Slurm job
    submitted = re.findall(r"has been submitted with SLURM jobid \d+ \(log: \S*/slurm_logs/(\w+)/", output)
    assert submitted.count("rule_plan_chunks") == 2 and submitted.count("rule_chunk_stats") == shards
    assert submitted.count("group_sample_summary_aggregate_chunks_report_sample_plots") == 2
    assert "Falling back to 'sacct'" not in output
