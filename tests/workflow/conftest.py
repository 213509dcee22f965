"""Running the real workflow (snakemake in a subprocess, 2 cores) on small generated BAMs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pysam
import pytest
import yaml

from tests.helpers.bamgen import write_bam, write_preset

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflow" / "Snakefile"


def snakemake(workdir: Path, config: dict[str, Any], *args: str, env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``snakemake --cores 2`` in ``workdir`` with ``config`` as its only config file."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    run_env = {**os.environ, "BAMS3_PROGRESS": "log", "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--cores", "2", "--workflow-profile", "none", *args],
        capture_output=True, text=True, env=run_env, timeout=timeout, cwd=workdir)


def write_sheet(path: Path, rows: list[dict[str, str]]) -> Path:
    columns = ["sample", "bam", "index"]
    lines = ["\t".join(columns)] + ["\t".join(row.get(c, "") for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def samtools_flagstat(path: Path) -> dict[str, Any]:
    return json.loads(pysam.flagstat("-O", "json", str(path)))


@pytest.fixture(scope="session")
def wf_bams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two indexed presets and a BAM without an index."""
    directory = tmp_path_factory.mktemp("wf-bams")
    out = {name: write_preset(name, directory) for name in ("tiny", "edge_cases")}
    out["noindex"] = write_bam(directory / "noindex.bam", n_pairs=1500, seed=9, index=False, edge_cases=True)
    return out
