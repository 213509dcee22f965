"""The workflow's ``stage_data`` checkpoint in a real Snakemake run, and a downstream rule using its paths.

The Snakefile of these tests is the real workflow plus one rule of a user's: what a user adds to use
staged files.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.httpserver import SignedFileServer
from tests.helpers.s3server import S3Server

WORKFLOW = Path(__file__).resolve().parents[2] / "workflow" / "Snakefile"
TARGET = "results/use/reference.txt"
#: the other sections stay quiet: this run only stages
QUIET = {"bam_urls": ["unused.bam"], "chunks": {"activate": False}, "dataset": {"activate": False}}

SNAKEFILE = f"""
include: "{WORKFLOW}"


rule use_reference:
    input:
        staged="results/stage/staged.json",
        reference=get_staged_path("reference_file"),
    output:
        "results/use/reference.txt",
    log:
        "logs/use/reference.log",
    shell:
        "head -c 5 {{input.reference}} > {{output}} 2> {{log}}"
"""


def snakemake(workdir: Path, config: dict[str, object]) -> subprocess.CompletedProcess[str]:
    (workdir / "Snakefile").write_text(SNAKEFILE)
    (workdir / "config.yaml").write_text(yaml.safe_dump({**QUIET, **config}))
    snakemake_bin = Path(sys.executable).with_name("snakemake")
    return subprocess.run(
        [str(snakemake_bin), TARGET, "--snakefile", "Snakefile", "--configfile", "config.yaml", "--cores", "2",
         "--workflow-profile", "none", "--quiet", "all"],
        cwd=workdir, capture_output=True, text=True, env=dict(os.environ), timeout=300,
    )


def test_checkpoint_stages_and_downstream_reads_paths(http_server: SignedFileServer, s3_server: S3Server,
                                                      s3_bucket: str, tmp_path: Path) -> None:
    s3_server.client().put_object(Bucket=s3_bucket, Key="ref/hg38.fasta", Body=b">chr1\nACGTACGT\n")
    http_server.write("sample.sam", b"@HD\tVN:1.6\n")
    signed = http_server.signed_url("sample.sam")
    secret = signed.split("Signature=")[1]
    request = {"params": {"reference_file": "hg38.fasta", "input_file": "sample.sam", "threads": 2},
               "data_manifest": {"hg38.fasta": f"s3://{s3_bucket}/ref/hg38.fasta", "sample.sam": signed}}
    (tmp_path / "request.json").write_text(json.dumps(request))
    done = snakemake(tmp_path, {"stage": {"request": "request.json", "jobs": 2,
                                          "cache_dir": str(tmp_path / "cache")}})
    assert done.returncode == 0, done.stderr[-3000:]
    staged = json.loads((tmp_path / "results/stage/staged.json").read_text())
    assert staged["success"] is True
    reference = Path(staged["result"]["plugin_params"]["reference_file"])
    assert reference == (tmp_path / "results/stage/files/hg38.fasta").resolve()
    assert reference.read_bytes() == b">chr1\nACGTACGT\n"  # the workflow keeps its staged directory
    assert Path(staged["result"]["plugin_params"]["input_file"]).read_bytes() == b"@HD\tVN:1.6\n"
    assert staged["result"]["plugin_params"]["threads"] == 2
    assert (tmp_path / "results/use/reference.txt").read_text() == ">chr1"
    log = (tmp_path / "logs/stage/stage_data.log").read_text()
    assert "staged 2 of 2 files" in log
    for text in (log, done.stdout, done.stderr, json.dumps(staged)):
        assert secret not in text


def test_checkpoint_fails_clearly(http_server: SignedFileServer, tmp_path: Path) -> None:
    expired = http_server.signed_url("hg38.fasta", expires_in=-10)
    (tmp_path / "request.json").write_text(json.dumps({"params": {"reference_file": "hg38.fasta"},
                                                       "data_manifest": {"hg38.fasta": expired}}))
    done = snakemake(tmp_path, {"stage": {"request": "request.json", "cache_dir": str(tmp_path / "cache")}})
    assert done.returncode != 0
    assert not (tmp_path / "results/stage/staged.json").exists()
    log = (tmp_path / "logs/stage/stage_data.log").read_text()
    assert "expired" in log and "Traceback" not in log
    assert expired.split("Signature=")[1] not in log + done.stderr
