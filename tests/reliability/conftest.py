"""Fixtures of the reliability suite: one small BAM everywhere, in S3 and on disk, and a CLI runner.

The BAM (3,000 read pairs with every edge case, ~0.7 MB, written and indexed by samtools)
is small enough that a verb runs in well under a second, and big enough that a stream
needs several ranged GETs and a dataset has several chunks of many frames. The inputs
bucket is filled once per session, straight on the S3 server; tests point their bams3
processes at the fault proxy in front of it.
"""
from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import bamgen
from tests.helpers.faultproxy import FaultProxy
from tests.helpers.s3server import S3Server

from ._cli import cli_env, run_bams3

#: the dataset's bins and frames: several chunks per reference, many frames per chunk
BIN = "64K"  # bases: 64,000
FRAME = "8K"  # bytes: 8,192


@dataclass(frozen=True)
class Inputs:
    """Where the shared inputs are."""

    bam: Path  #: local BAM (indexed: ``bam.bai`` next to it)
    bucket: str  #: bucket holding ``bam/s.bam``, ``bam/s.bam.bai``, ``tree/...`` and ``ds/s.bams3/``
    tree: Path  #: local folder mirrored under ``tree/`` in the bucket

    @property
    def bam_url(self) -> str:
        return f"s3://{self.bucket}/bam/s.bam"

    @property
    def dataset_url(self) -> str:
        return f"s3://{self.bucket}/ds/s.bams3"


@pytest.fixture(scope="session")
def inputs(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    """The BAM on disk and in S3, a small tree for sync, and the BAM converted to a dataset in S3."""
    from bams3.dataset import convert

    root = tmp_path_factory.mktemp("reliability-inputs")
    bam = bamgen.write_bam(root / "s.bam", n_pairs=3_000, seed=7, long_reads=3)
    tree = root / "tree"
    (tree / "notes").mkdir(parents=True)
    (tree / "s.bam").write_bytes(bam.read_bytes())
    (tree / "notes" / "readme.txt").write_text("reads of sample s\n")
    (tree / "notes" / "empty.txt").write_bytes(b"")
    bucket = s3_server.make_bucket()
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="bam/s.bam", Body=bam.read_bytes())
    client.put_object(Bucket=bucket, Key="bam/s.bam.bai", Body=bam.with_name("s.bam.bai").read_bytes())
    for path in sorted(tree.rglob("*")):
        if path.is_file():
            client.put_object(Bucket=bucket, Key=f"tree/{path.relative_to(tree).as_posix()}", Body=path.read_bytes())
    found = Inputs(bam=bam, bucket=bucket, tree=tree)
    convert(found.bam_url, found.dataset_url, bin_size=64_000, frame_bytes=8 * 1024, show_progress=False)
    return found


@pytest.fixture(scope="session")
def auth_server() -> Iterator[S3Server]:
    """A second S3 server that checks credentials (``INITIAL_NO_AUTH_ACTION_COUNT=0``): the test
    credentials are unknown to it, so every request fails with ``InvalidAccessKeyId``."""
    with S3Server.start(extra_env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as server:
        yield server


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(fault_proxy: FaultProxy, tmp_path: Path) -> Runner:
    """``cli(*args, stdin=None, **env)``: run bams3 against the proxy, in ``tmp_path``."""
    def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return run_bams3(*args, env=cli_env(fault_proxy.url, tmp_path, **env), cwd=tmp_path, stdin=stdin)

    return run
