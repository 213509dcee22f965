"""The bad-input matrix (tests/reliability/matrix.py) run for real, and kept in sync with its documentation.

Every case runs ``python -m bams3`` on its bad input and must show the documented line word
for word (after :func:`~tests.reliability.matrix.normalise`), exit with the documented
status, print no traceback, and leave no output that looks complete.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import bamgen
from tests.helpers.httpserver import SignedFileServer
from tests.helpers.s3server import S3Server

from ._cli import cli_env
from .conftest import Inputs
from .matrix import BEGIN, CASES, DOC, END, Case, Context, normalise, render_table

_LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")


@pytest.fixture(scope="module")
def local_inputs(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An unsorted BAM, and the shared BAM converted to a local dataset."""
    from bams3.dataset import convert

    root = tmp_path_factory.mktemp("matrix-inputs")
    unsorted = bamgen.write_bam(root / "unsorted.bam", n_pairs=300, seed=19, sort=False, index=False)
    convert(str(inputs.bam), str(root / "s.bams3"), bin_size=64_000, frame_bytes=8192, show_progress=False)
    return unsorted, root / "s.bams3"


def shown_lines(stderr: str, ctx: Context) -> list[str]:
    return [normalise(_LOG_TIME.sub("", line), ctx) for line in stderr.splitlines()]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case, inputs: Inputs, local_inputs: tuple[Path, Path], s3_server: S3Server,
                   http_server: SignedFileServer, auth_server: S3Server, tmp_path: Path) -> None:
    http_server.write("s.bam", inputs.bam.read_bytes())
    work = tmp_path / "case"
    work.mkdir()
    ctx = Context(tmp=work, bam=inputs.bam, unsorted_bam=local_inputs[0], dataset=local_inputs[1],
                  bucket=inputs.bucket, http=http_server, auth_endpoint=auth_server.endpoint_url)
    args, stdin = case.build(ctx)
    env = cli_env(s3_server.endpoint_url, tmp_path, **ctx.env)
    done = subprocess.run([sys.executable, "-m", "bams3", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=work, timeout=120, preexec_fn=ctx.preexec)  # noqa: PLW1509
    lines = shown_lines(done.stderr, ctx)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == case.exit, done.stderr
    if case.exit:
        assert lines and lines[-1] == case.message, f"\nshown:      {lines[-1:]}\ndocumented: {case.message}"
        assert sum(": error: " in line for line in lines) == 1
    else:
        assert case.message in lines, f"\nshown:      {lines}\ndocumented: {case.message}"
    for path in case.absent:
        assert not (work / path).exists(), f"{path} was left behind"


def test_the_documentation_shows_every_case() -> None:
    """docs/RELIABILITY.md holds exactly the table the cases make (regenerate: python -m tests.reliability.matrix)."""
    text = DOC.read_text()
    assert BEGIN in text and END in text, f"{DOC} lacks the generated bad-input matrix"
    documented = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert documented == render_table(), "docs/RELIABILITY.md is out of date: run python -m tests.reliability.matrix"


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


