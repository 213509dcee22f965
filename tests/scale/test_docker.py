"""The Dockerfile of the AWS Batch jobs, checked statically (docker cannot run here).

It must build the image profiles/aws-batch names, for the version in pyproject.toml, with what the jobs
run: bams3 (with its C helper), snakemake, the S3 storage plugin; and the build context must hold every
file `pip install .` reads.
"""
from __future__ import annotations

import fnmatch
import re
import tomllib

from packaging.specifiers import SpecifierSet

from .conftest import REPO, load_profile

DOCKERFILE = (REPO / "Dockerfile").read_text()
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_image_name_is_the_one_the_profile_runs() -> None:
    image = f"bams3:{VERSION}"
    assert f"docker build -t {image} ." in DOCKERFILE
    assert re.search(rf'org\.opencontainers\.image\.version="{re.escape(VERSION)}"', DOCKERFILE)
    container = load_profile("aws-batch")["container-image"]
    assert container.endswith(f"/{image}") and container.startswith("$BAMS3_REGISTRY/")


def test_python_is_the_one_pyproject_asks_for() -> None:
    bases = [args.split()[0] for op, args in instructions() if op == "FROM"]
    assert bases and all(base == "python:3.11-slim-bookworm" for base in bases)
    requires = SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"])
    assert requires.contains("3.11.0")


def test_installs_bams3_with_the_executor_extras_and_checks_the_job_imports() -> None:
    runs = [args for op, args in instructions() if op == "RUN"]
    assert any("pip wheel" in run and "'.[slurm,aws-batch]'" in run for run in runs)
    install = next(run for run in runs if "pip install" in run)
    assert "'bams3[slurm,aws-batch]'" in install and "--no-index" in install
    for module in ("bams3.bam._walk", "snakemake", "snakemake_storage_plugin_s3", "snakemake_executor_plugin_aws_batch"):
        assert module in install, f"the image build does not check that {module} imports"
    # the C helper's compiler and libdeflate in the build stage, libdeflate's runtime library in the image
    assert any("gcc" in run and "libdeflate-dev" in run for run in runs)
    assert any("libdeflate0" in run for run in runs)


def test_build_context_holds_what_pip_install_reads() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = {"pyproject.toml", "setup.py", pyproject["project"]["readme"], "src"}
    copied = {path for op, args in instructions() if op == "COPY" and "--from" not in args
              for path in args.split()[:-1]}
    assert needed <= copied
    # .dockerignore: ignore everything, then re-include; the last matching pattern wins
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]

    def ignored(path: str) -> bool:
        verdict = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            if fnmatch.fnmatch(path, pattern.lstrip("!").rstrip("/")):
                verdict = not negate
        return verdict

    assert not [path for path in needed if ignored(path)]
    assert ignored(".venv") and ignored(".git") and ignored("demo-run")
