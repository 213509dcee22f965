"""The ``stage_data`` checkpoint in a real Snakemake run, and a downstream rule using its paths."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.httpserver import SignedFileServer

RULES = Path(__file__).resolve().parents[2] / "workflow" / "rules" / "stage.smk"

SNAKEFILE = f"""
OUT = "results"  # common.smk's output root


include: "{RULES}"

rule all:
    input:
        "results/use/reference.txt",

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
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake_bin = Path(sys.executable).with_name("snakemake")
    return subprocess.run(
        [str(snakemake_bin), "--snakefile", "Snakefile", "--configfile", "config.yaml", "--cores", "2", "--quiet"],
        cwd=workdir, capture_output=True, text=True, env=dict(os.environ), timeout=300,
    )


def test_checkpoint_stages_and_downstream_reads_paths(http_server: SignedFileServer, tmp_path: Path) -> None:
    http_server.write("hg38.fasta", b">chr1\nACGTACGT\n")
    signed = http_server.signed_url("hg38.fasta")
    secret = signed.split("Signature=")[1]
    request = {"params": {"reference_file": "hg38.fasta", "threads": 2},
               "data_manifest": {"hg38.fasta": signed}}
    (tmp_path / "request.json").write_text(json.dumps(request))
    done = snakemake(tmp_path, {"stage": {"request": "request.json", "jobs": 2,
                                          "cache_dir": str(tmp_path / "cache")}})
    assert done.returncode == 0, done.stderr[-3000:]
    staged = json.loads((tmp_path / "results/stage/staged.json").read_text())
    assert staged["success"] is True
    reference = Path(staged["result"]["plugin_params"]["reference_file"])
    assert reference == (tmp_path / "results/stage/files/hg38.fasta").resolve()
    assert reference.read_bytes() == b">chr1\nACGTACGT\n"  # the workflow keeps its staged directory
    assert (tmp_path / "results/use/reference.txt").read_text() == ">chr1"
    log = (tmp_path / "logs/stage/stage_data.log").read_text()
    assert "staged 1 of 1 files" in log
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
