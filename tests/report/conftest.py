"""One real workflow run for the report tests: two BAMs, staging, publishing to S3, the report.

The run (snakemake in a subprocess, 2 cores) covers every part of the report: per-sample
figures and the summary table from the chunks stage, the staging summary, the publishing
summary. Its report is written both as HTML and as ZIP. Everything lives in one session
temporary directory.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.bamgen import write_bam
from tests.workflow.conftest import snakemake, write_sheet

REFERENCES = (("chr1", 300_000), ("chr2", 200_000), ("chrM", 16_569))
SAMPLES = ("tumour", "normal-1")
#: targets of the run: the lead's `all`, plus the report's figures and tables
TARGETS = ("all", "report_all")


@dataclass(frozen=True)
class ReportRun:
    workdir: Path
    bams: dict[str, Path]
    html: Path
    zip: Path
    bucket: str

    @property
    def results(self) -> Path:
        return self.workdir / "results"

    def embedded(self, name: str) -> Any:
        """A JavaScript variable the report embeds (``results``, ``categories``), as JSON."""
        text = self.html.read_text(encoding="utf-8")
        match = re.search(rf'<script id="{name}">\s*var {name} = (.*?);?\s*</script>', text, re.S)
        assert match, f"report.html has no {name} script"
        return json.loads(match.group(1))


@pytest.fixture(scope="session")
def report_run(tmp_path_factory: pytest.TempPathFactory, s3_server: Any) -> ReportRun:
    workdir = tmp_path_factory.mktemp("report-run")
    data = workdir / "data"
    bams = {
        "tumour": write_bam(data / "tumour.bam", n_pairs=9_000, seed=31, references=REFERENCES, edge_cases=True,
                            long_reads=6),
        "normal-1": write_bam(data / "normal-1.bam", n_pairs=4_000, seed=32, references=REFERENCES,
                              edge_cases=True, index=False),
    }
    (data / "ref.fa").write_text(">chr1\n" + "ACGT" * 2000 + "\n")
    (workdir / "stage.json").write_text(json.dumps({
        "params": {"reference": "ref.fa", "threads": 2},
        "data_manifest": {"ref.fa": (data / "ref.fa").as_uri()},
    }))
    bucket = s3_server.make_bucket()
    sheet = write_sheet(workdir / "samples.tsv", [{"sample": s, "bam": str(bams[s])} for s in SAMPLES])
    config = {
        "samples": str(sheet),
        "chunks": {"chunk_size": 200, "shard_reads": 4000},
        "dataset": {"activate": False},
        "stage": {"activate": True, "request": str(workdir / "stage.json"), "cache_dir": str(workdir / "cache")},
        "sync": {"activate": True, "destination": f"s3://{bucket}/run-1/"},
    }
    run = snakemake(workdir, config, *TARGETS, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    for name in ("report.html", "report.zip"):
        made = snakemake(workdir, config, "--report", name, *TARGETS, timeout=300)
        assert made.returncode == 0, made.stderr[-4000:]
    return ReportRun(workdir, bams, workdir / "report.html", workdir / "report.zip", bucket)
