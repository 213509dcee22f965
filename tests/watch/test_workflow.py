"""The watcher starting the real workflow (snakemake, 2 cores) on tiny BAMs dropped into loopback S3."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pysam
import yaml

from bams3.watch import open_cursor
from tests.helpers.bamgen import write_bam
from tests.helpers.s3server import S3Server

REPO = Path(__file__).resolve().parents[2]


def test_bams_dropped_into_s3_are_processed_by_the_workflow(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.make_bucket()
    client = s3_server.client()
    local = {"tinyA": write_bam(tmp_path / "data" / "tinyA.bam", n_pairs=60, seed=3),
             "tinyB": write_bam(tmp_path / "data" / "tinyB.bam", n_pairs=40, seed=4, index=False)}
    client.upload_file(str(local["tinyA"]), bucket, "drop/tinyA.bam")
    client.upload_file(str(local["tinyA"]) + ".bai", bucket, "drop/tinyA.bam.bai")
    client.upload_file(str(local["tinyB"]), bucket, "drop/tinyB.bam")
    cursor = f"s3://{bucket}/watch/cursor/"
    config = {
        "samples": None, "bam_urls": [], "output_dir": "out",
        "chunks": {"chunk_size": 10, "shard_reads": 40},
        "watch": {"activate": True, "cursor": cursor, "sources": [{"name": "drop", "folder": f"s3://{bucket}/drop/"}],
                  "snakefile": str(REPO / "workflow" / "Snakefile"),
                  "extra_args": ["--cores", "2", "--workflow-profile", "none"]},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "BAMS3_PROGRESS": "log", "PYTHONPATH": os.pathsep.join(sys.path)}

    def once() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bams3", "watch", "--config", "config.yaml", "--once"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert once().returncode == 0
    run = once()
    run_logs = "".join(p.read_text() for p in (tmp_path / ".bams3-watch" / "runs").glob("*/run.log"))
    assert run.returncode == 0, run.stderr + run_logs[-4000:]
    snapshot = open_cursor(cursor).read()
    assert {i.sample: i.state for i in snapshot.state.items.values()} == {"tinyA": "done", "tinyB": "done"}
    for sample, bam in local.items():
        summary = json.loads((tmp_path / "out" / "chunks" / sample / "summary.json").read_text())
        assert summary["flagstat"] == json.loads(pysam.flagstat("-O", "json", str(bam)))
        assert summary["bam_url"] == f"s3://{bucket}/drop/{sample}.bam"
    [run_dir] = (tmp_path / ".bams3-watch" / "runs").iterdir()
    sheet = (run_dir / "samples.tsv").read_text().splitlines()
    assert sheet[1:] == [f"tinyA\ts3://{bucket}/drop/tinyA.bam\ts3://{bucket}/drop/tinyA.bam.bai",
                         f"tinyB\ts3://{bucket}/drop/tinyB.bam\t"]
    assert "--configfile config.yaml" in (run_dir / "run.log").read_text().splitlines()[0]

    idle = once()
    assert idle.returncode == 0 and "2 done" in idle.stderr
    assert len(list((tmp_path / ".bams3-watch" / "runs").iterdir())) == 1  # no second run
