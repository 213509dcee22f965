"""Running snakemake the way users do at scale: from the repository root, through a profile.

``run_in_repo(workdir, config, *args)`` starts snakemake with the repository root as its current directory
(so Snakemake also applies profiles/default as the workflow profile, exactly as for a user) and ``workdir``
as its working directory (every file it writes goes there).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.bamgen import write_preset

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "workflow" / "Snakefile"
PROFILES = REPO / "profiles"


def run_in_repo(workdir: Path, config: dict[str, Any], *args: str, env: dict[str, str | None] | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``snakemake --snakefile workflow/Snakefile --directory workdir --configfile <config> *args`` from the repo root.

    ``env`` entries override the environment; a value of None removes the variable.
    """
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    run_env = {**os.environ, "BAMS3_PROGRESS": "log", "PYTHONPATH": os.pathsep.join(sys.path)}
    for name, value in (env or {}).items():
        if value is None:
            run_env.pop(name, None)
        else:
            run_env[name] = value
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
         "--configfile", str(config_path), *args],
        capture_output=True, text=True, env=run_env, timeout=timeout, cwd=REPO)


def load_profile(name: str) -> dict[str, Any]:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


JOB_RESOURCES = re.compile(r"^\s*resources: (.*)$", re.MULTILINE)


def job_resources(output: str) -> list[dict[str, str]]:
    """Every job's ``resources:`` line of a dry run, as {name: value} (values as printed)."""
    jobs = []
    for line in JOB_RESOURCES.findall(output):
        jobs.append(dict(item.split("=", 1) for item in re.split(r", (?=\w+=)", line)))
    return jobs


def write_sheet(path: Path, rows: dict[str, str]) -> Path:
    path.write_text("sample\tbam\tindex\n" + "".join(f"{name}\t{bam}\t\n" for name, bam in rows.items()))
    return path


@pytest.fixture(scope="session")
def tiny_bams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small indexed BAMs (a few thousand reads each)."""
    directory = tmp_path_factory.mktemp("scale-bams")
    return {"tiny": write_preset("tiny", directory), "edge": write_preset("edge_cases", directory)}
