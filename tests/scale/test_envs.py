"""envs/bams3.yaml: the conda environment of the rules, pinned as pyproject.toml pins (conda itself cannot run here).

Checked statically (same packages, same version ranges, the Python the scripts need), through
`snakemake --lint` (every rule with an action names an environment), and by running the post-deploy
script, which installs bams3 from the source tree, in a scratch virtualenv.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from .conftest import REPO, run_in_repo

ENV_FILE = REPO / "envs" / "bams3.yaml"
POST_DEPLOY = REPO / "envs" / "bams3.post-deploy.sh"
#: dependencies of pyproject.toml that run the workflow, not the jobs: not in the rules' environment
ENGINE = {"snakemake", "snakemake-storage-plugin-s3"}


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def env_dependencies() -> tuple[list[str], list[str]]:
    """(conda match specs, pip requirements) of envs/bams3.yaml."""
    deps = yaml.safe_load(ENV_FILE.read_text())["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    return conda, pip


def test_pip_pins_are_pyprojects() -> None:
    wanted = {canonicalize_name(r.name): r.specifier for r in map(Requirement, pyproject()["project"]["dependencies"])}
    pinned = {canonicalize_name(r.name): r.specifier for r in map(Requirement, env_dependencies()[1])}
    assert pinned == {name: spec for name, spec in wanted.items() if name not in ENGINE}
    assert all(len(spec) >= 2 for spec in pinned.values()), "every pin has a lower and an upper bound"


def test_python_and_build_tools() -> None:
    conda = {spec.split()[0]: spec for spec in env_dependencies()[0]}
    # the scripts unpickle objects of the Python that runs snakemake: same minor version, allowed by pyproject
    python = conda["python"].split()[1].lstrip("=")
    assert python == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(python + ".0")
    # the post-deploy step compiles bams3's C helper (its build requirements come from PyPI, like the pins)
    assert "c-compiler" in conda and "pip" in conda


def test_env_names_the_bams3_version_it_is_built_for() -> None:
    # Snakemake rebuilds an environment only when its files change: a new version must change this line
    marker = re.search(r"^# bams3 (\S+)$", ENV_FILE.read_text(), re.MULTILINE)
    assert marker and marker.group(1) == pyproject()["project"]["version"]


def test_lint_is_clean_and_every_rule_names_a_conda_environment(tmp_path: Path) -> None:
    run = run_in_repo(tmp_path, {"samples": None, "bam_urls": ["x.bam"]}, "--lint", "--workflow-profile", "none")
    lints = run.stdout + run.stderr
    rules = re.findall(r"^Lints for rule (\S+) .*\n\s+\* Specify a conda environment or container", lints, re.MULTILINE)
    assert not rules, f"rules without conda: {rules}"
    # and nothing else either (functions mixed with rules, missing log: directives, absolute paths...)
    assert "Lints for" not in lints, lints[lints.index("Lints for"):][:2000]
    # every script the rules call, and every conda: line, point at the one environment file
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r"^\s+conda:\s*\n\s+\"([^\"]+)\"", smk.read_text(), re.MULTILINE):
            assert (smk.parent / env).resolve() == ENV_FILE, f"{smk.name}: conda: {env}"


def test_post_deploy_installs_bams3_from_the_source_tree(tmp_path: Path) -> None:
    # a scratch virtualenv stands in for the conda environment: its own site-packages first, then (through a
    # .pth file) this interpreter's, for pip, setuptools and bams3's dependencies
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "PYTHONNOUSERSITE": "1",
           "TMPDIR": str(scratch), "PIP_NO_CACHE_DIR": "1"}  # nothing written outside tmp_path
    env.pop("PYTHONPATH", None)
    # run as Snakemake does: `bash <path of the script in the workflow>` from the working directory
    run = subprocess.run(["bash", str(POST_DEPLOY)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import bams3, bams3.bam._walk as w; print(bams3.__file__); print(w.__file__)"],
                           env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(path.startswith(str(site)) for path in where), where  # the installed copy, C helper built
    assert f"from {REPO}" in run.stdout
