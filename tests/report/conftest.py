"""One real workflow run for the report tests: two BAMs, datasets, a cohort query, staging, publishing, the report.

The run (snakemake in a subprocess, 2 cores) covers every part of the report: per-sample
figures and the summary table from the chunks stage, the cohort heatmap and tables, the
staging summary, the publishing summary. Its report is written both as HTML and as ZIP.
Everything lives in one session temporary directory.

The workflow is workflow/Snakefile itself, run through a copy whose includes point back at the
repository; the copy adds ``include: "rules/cohort.smk"`` while the Snakefile does not have it yet.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.bamgen import write_bam
from tests.workflow.conftest import REPO, SNAKEFILE, write_sheet

REFERENCES = (("chr1", 300_000), ("chr2", 200_000), ("chrM", 16_569))
SAMPLES = ("tumour", "normal-1")
COHORT_REGIONS = ("chr1:1-100000", "chr2:50,001-150,000", "chrM")
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


def _snakefile(workdir: Path) -> Path:
    """workflow/Snakefile with absolute paths (and the cohort rules, while it lacks them)."""
    text = SNAKEFILE.read_text(encoding="utf-8")
    rules = REPO / "workflow" / "rules"
    if 'include: "rules/cohort.smk"' not in text:
        text = text.replace('include: "rules/report.smk"', 'include: "rules/cohort.smk"\ninclude: "rules/report.smk"')
    text = text.replace('include: "rules/', f'include: "{rules}/')
    text = text.replace('report: "report/', f'report: "{REPO / "workflow" / "report"}/')
    text = text.replace('configfile: "config/', f'configfile: "{REPO / "config"}/')
    path = workdir / "Snakefile"
    path.write_text(text, encoding="utf-8")
    return path


def snakemake(workdir: Path, config: dict[str, Any], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``snakemake --cores 2`` on the stand-in Snakefile, with ``config`` as the only config file."""
    import yaml

    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "BAMS3_PROGRESS": "log", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(_snakefile(workdir)), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--cores", "2", "--workflow-profile", "none", *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=workdir)


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
        "dataset": {"activate": True, "chunk_size": "64K"},
        "cohort": {"activate": True, "regions": list(COHORT_REGIONS)},
        "stage": {"activate": True, "request": str(workdir / "stage.json"), "cache_dir": str(workdir / "cache")},
        "sync": {"activate": True, "destination": f"s3://{bucket}/run-1/"},
    }
    run = snakemake(workdir, config, *TARGETS)
    assert run.returncode == 0, run.stderr[-4000:]
    for name in ("report.html", "report.zip"):
        made = snakemake(workdir, config, "--report", name, *TARGETS, timeout=300)
        assert made.returncode == 0, made.stderr[-4000:]
    return ReportRun(workdir, bams, workdir / "report.html", workdir / "report.zip", bucket)
