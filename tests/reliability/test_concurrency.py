"""Two writers, one destination: the result is one writer's complete work, never a mix.

Two ``convert`` runs to one dataset, two ``sync`` runs into one S3 prefix or one local
folder. The two runs write *different* content (other bins; other bytes under the same
names), started together and slowed down by the proxy so that they really overlap; the
end state must then be exactly one of the two (the last writer wins completely, or the
second refuses with one line), checked by validating the dataset and comparing content
digests. (Two watchers sharing one cursor: tests/watch, see docs/RELIABILITY.md.)
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bams3.dataset.validate import validate
from tests.helpers.faultproxy import Fault, FaultProxy
from tests.helpers.s3server import S3Server

from ._cli import assert_clean_failure, cli_env, dataset_digest, s3_digest, tree_digest
from .conftest import Inputs

MiB = 1024 * 1024


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bams3", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=cwd)


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=180)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def slow_down(proxy: FaultProxy, method: str, path: str, *, after_bytes: int | None = None) -> Fault:
    """Every matching request waits 0.4 s (before answering, or after ``after_bytes``): the runs overlap."""
    return proxy.add(Fault("stall", method=method, path=path, seconds=0.4, after_bytes=after_bytes, times=None))


@pytest.fixture(scope="module")
def references(inputs: Inputs) -> dict[str, str]:
    """Digests of the two conversions (64 kbp and 100 kbp bins) made one at a time."""
    from bams3.dataset import convert

    out = {}
    for bins in ("64000", "100000"):
        url = f"s3://{inputs.bucket}/reference-{bins}.bams3"
        convert(inputs.bam_url, url, bin_size=int(bins), frame_bytes=8192, show_progress=False)
        out[bins] = dataset_digest(url)
    return out


@pytest.mark.parametrize("overwrite", [False, True], ids=["create", "overwrite"])
def test_two_converts_to_one_dataset(inputs: Inputs, references: dict[str, str], fault_proxy: FaultProxy,
                                     s3_server: S3Server, tmp_path: Path, overwrite: bool) -> None:
    prefix = f"race-{uuid.uuid4().hex[:8]}.bams3"
    url = f"s3://{inputs.bucket}/{prefix}"
    if overwrite:  # a dataset is already there: both runs replace it
        from bams3.dataset import convert

        convert(str(inputs.bam), url, bin_size=200_000, show_progress=False)
    slow_down(fault_proxy, "PUT", r"\.bch$")
    env = cli_env(fault_proxy.url, tmp_path)
    extra = ["--overwrite"] if overwrite else []
    runs = {bins: start(["convert", inputs.bam_url, url, "--chunk-size", bins, "--frame-size", "8K",
                         "--no-progress", *extra], env, tmp_path) for bins in ("64000", "100000")}
    done = {bins: finish(process) for bins, process in runs.items()}
    winners = [bins for bins, result in done.items() if result.returncode == 0]
    assert winners, {bins: r.stderr for bins, r in done.items()}
    for bins, result in done.items():
        if result.returncode:
            assert_clean_failure(result, "convert", url)
    assert validate(url).ok
    assert dataset_digest(url) in {references[bins] for bins in winners}
    # only the committed run's chunks remain
    from bams3.dataset import Dataset

    run_id = Dataset.open(url).metadata.run_id
    keys = s3_digest(s3_server.client(), inputs.bucket, f"{prefix}/chunks/")
    assert keys and {key.split("/")[0] for key in keys} == {run_id}


def test_two_converts_to_one_local_dataset(inputs: Inputs, references: dict[str, str], fault_proxy: FaultProxy,
                                           tmp_path: Path) -> None:
    """On disk the commit is an exclusive link: one run wins, the other refuses."""
    slow_down(fault_proxy, "GET", r"/bam/s\.bam", after_bytes=100_000)
    env = cli_env(fault_proxy.url, tmp_path)
    target = tmp_path / "local.bams3"
    runs = {bins: start(["convert", inputs.bam_url, str(target), "--chunk-size", bins, "--frame-size", "8K",
                         "--no-progress"], env, tmp_path) for bins in ("64000", "100000")}
    done = {bins: finish(process) for bins, process in runs.items()}
    winners = [bins for bins, result in done.items() if result.returncode == 0]
    assert len(winners) == 1, {bins: r.stderr for bins, r in done.items()}
    loser = next(bins for bins in done if bins not in winners)
    assert_clean_failure(done[loser], "convert", str(target))
    assert validate(str(target)).ok
    assert dataset_digest(str(target)) == references[winners[0]]


def two_trees(root: Path) -> tuple[Path, Path]:
    """Two folders with the same names and sizes but other bytes (a multipart-sized file included)."""
    trees = []
    for side in ("a", "b"):
        tree = root / side
        (tree / "sub").mkdir(parents=True)
        for name, size in (("big.bin", 11 * MiB), ("small.txt", 3_000), ("sub/mid.bin", 700_000)):
            (tree / name).write_bytes(hashlib.shake_256(f"{side}/{name}".encode()).digest(size))
        trees.append(tree)
    return trees[0], trees[1]


def test_two_syncs_into_one_prefix(s3_server: S3Server, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    """Every object ends as one side's complete bytes; no upload is left behind; a rerun converges."""
    a, b = two_trees(tmp_path / "src")
    bucket = s3_server.make_bucket()
    slow_down(fault_proxy, "PUT", r"partNumber=|small|mid")
    env = cli_env(fault_proxy.url, tmp_path)
    runs = [start(["sync", str(tree), f"s3://{bucket}/shared/", "--size-only", "--part-size", "5M",
                   "--no-progress"], env, tmp_path) for tree in (a, b)]
    done = [finish(process) for process in runs]
    assert all(result.returncode == 0 for result in done), [r.stderr for r in done]
    sides = (tree_digest(a), tree_digest(b))
    final = s3_digest(s3_server.client(), bucket, "shared/")
    assert set(final) == set(sides[0])
    for name, digest in final.items():
        assert digest in (sides[0][name], sides[1][name]), f"{name} is a mix of both syncs"
    assert not s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads")
    rerun = finish(start(["sync", str(a), f"s3://{bucket}/shared/", "--checksum", "--no-progress"], env, tmp_path))
    assert rerun.returncode == 0, rerun.stderr
    assert s3_digest(s3_server.client(), bucket, "shared/") == sides[0]


def test_two_syncs_into_one_local_folder(s3_server: S3Server, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    """Two downloads of different objects to one file name: the file ends as one of them, never both interleaved.

    The interleaving is forced: sync A has written the first MiB of ``big.bin`` to its
    partial file and waits for the rest (the proxy holds it back); sync B, started then,
    downloads its own ``big.bin`` to the same name at full speed; then A's second block
    arrives. Writers sharing one partial file once produced B's first block followed by A's
    rest under the final name, reported as copied.
    """
    a, b = two_trees(tmp_path / "src")
    bucket = s3_server.make_bucket()
    client = s3_server.client()
    for side, tree in (("a", a), ("b", b)):
        for path in tree.rglob("*"):
            if path.is_file():
                client.put_object(Bucket=bucket, Key=f"{side}/{path.relative_to(tree).as_posix()}",
                                  Body=path.read_bytes())
    # the download (one GET) is held back after its first MiB, which is then in A's partial file
    held = fault_proxy.add(Fault("stall", method="GET", path=r"/a/big\.bin", after_bytes=MiB + 1_000, seconds=2.5))
    env = cli_env(fault_proxy.url, tmp_path, BAMS3_READ_TIMEOUT="10")
    target = tmp_path / "shared"
    first = start(["sync", f"s3://{bucket}/a/", str(target), "--no-progress", "-j", "1"], env, tmp_path)
    part = target / "big.bin.part"
    while held.applied == 0 or not part.exists() or part.stat().st_size == 0:  # A holds a block of big.bin
        assert first.poll() is None, finish(first).stderr
        time.sleep(0.02)
    second = finish(start(["sync", f"s3://{bucket}/b/", str(target), "--no-progress"], env, tmp_path))
    done = [finish(first), second]
    sides = (tree_digest(a), tree_digest(b))
    for result in done:
        if result.returncode:
            assert_clean_failure(result, "sync")
    final = tree_digest(target)
    assert set(final) == set(sides[0]), "partial files were left behind"
    for name in sides[0]:
        assert final[name] in (sides[0][name], sides[1][name]), f"{name} is a mix of both syncs"
    assert any(result.returncode == 0 for result in done)
