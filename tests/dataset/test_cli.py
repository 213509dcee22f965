"""The command line as users type it (subprocesses), and its failures: one line, non-zero, no traceback."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

from bams3.dataset import Dataset
from bams3.dataset.keys import METADATA_KEY
from tests.helpers.s3server import S3Server

from .conftest import records_stream


def bams3(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bams3", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "BAMS3_PROGRESS": "off", **(env or {})})


def fails(result: subprocess.CompletedProcess[str], verb: str, message: str, *, status: int = 1) -> None:
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"bams3 {verb}: error: ") and message in lines[0], lines[0]


def test_user_reference_commands_on_s3(s3_server: S3Server, edge_bam: Path, tmp_path: Path) -> None:
    bucket = s3_server.make_bucket()
    url = f"s3://{bucket}/datasets/sample.bams3"
    env = s3_server.env
    result = bams3("convert", "--chunk-size", "64K", "--workers", "8", str(edge_bam), url, env=env)
    assert result.returncode == 0, result.stderr
    result = bams3("convert", "--chunk-size", "2M", str(edge_bam), url, env=env)
    fails(result, "convert", "already exists", status=2)
    assert bams3("convert", "--chunk-size", "2M", "--overwrite", str(edge_bam), url, env=env).returncode == 0

    region = "chr1:100000-200000"
    result = bams3("query", url, region, "--count", env=env)
    assert result.stdout == f"{int(pysam.view('-c', str(edge_bam), region))}\n"
    result = bams3("query", url, "chr1:20K-200K", "--show", "10", env=env)
    assert result.stdout.splitlines() == pysam.view(str(edge_bam), "chr1:20K-200K").splitlines()[:10]
    result = bams3("query", url, region, env=env)
    assert result.stdout == pysam.view(str(edge_bam), region)

    result = bams3("stats", url, "--io-stats", env=env)
    assert "Total reads:     8,137" in result.stdout and "Chunk size:      2,000,000 bp" in result.stdout
    assert "s3      get               1" in result.stderr
    stats = json.loads(bams3("stats", url, "--json", env=env).stdout)
    assert stats["reads"]["total"] == 8137 and stats["structure"]["chunks"] >= 4

    out = tmp_path / "output.bam"
    assert bams3("to-bam", url, str(out), env=env).returncode == 0
    assert records_stream(out) == records_stream(edge_bam)
    part = tmp_path / "part.bam"
    assert bams3("to-bam", url, str(part), "--region", "chr1:1-100000", "--index", env=env).returncode == 0
    assert pysam.view(str(part)) == pysam.view(str(edge_bam), "chr1:1-100000")
    assert bams3("validate", url, env=env).returncode == 0


def test_query_outputs(edge_dataset: Dataset, edge_bam: Path, tmp_path: Path) -> None:
    url = edge_dataset.url
    sam = tmp_path / "out.sam"
    assert bams3("query", url, "chr2", "-o", str(sam)).returncode == 0
    assert sam.read_text().split("\n@CO", 1)[1].split("\n", 1)[1] == pysam.view(str(edge_bam), "chr2")
    bam = tmp_path / "out.bam"
    assert bams3("query", url, "chr2", "-o", str(bam)).returncode == 0
    assert pysam.view(str(bam)) == pysam.view(str(edge_bam), "chr2")
    with_header = bams3("query", url, "chrM:1-100", "--with-header").stdout
    assert with_header.startswith("@HD\tVN:1.6") and with_header.endswith(pysam.view(str(edge_bam), "chrM:1-100"))


@pytest.fixture
def damaged(edge_dataset: Dataset, tmp_path: Path) -> Path:
    """A private copy of the edge-case dataset to break."""
    copy = tmp_path / "copy.bams3"
    shutil.copytree(edge_dataset.url, copy)
    return copy


def _chunk(dataset: Path, ref_id: int = 0, bin_: int = 1) -> Path:
    return next((dataset / "chunks").glob(f"*/{ref_id}/{bin_}.bch"))


def test_missing_chunk(damaged: Path) -> None:
    _chunk(damaged).unlink()
    fails(bams3("query", str(damaged), "chr1:70000-71000"), "query", "chunk object is missing")
    result = bams3("validate", str(damaged), "--quick")
    fails(result, "validate", "1 problem(s)")
    assert result.stdout.strip().endswith("1.bch: missing")


def test_corrupt_chunk(damaged: Path) -> None:
    chunk = _chunk(damaged)
    data = bytearray(chunk.read_bytes())
    data[100] ^= 0xFF  # inside the first frame: same size, so only the checksums can tell
    chunk.write_bytes(bytes(data))
    fails(bams3("query", str(damaged), "chr1:65537-65600"), "query", "corrupt chunk")
    fails(bams3("to-bam", str(damaged), str(damaged.parent / "x.bam")), "to-bam", "corrupt chunk")
    assert not (damaged.parent / "x.bam").exists()
    result = bams3("validate", str(damaged))
    fails(result, "validate", "1 problem(s)")
    assert "CRC-32 mismatch" in result.stdout
    assert bams3("validate", str(damaged), "--quick").returncode == 0  # presence and size only


def test_truncated_chunk(damaged: Path) -> None:
    chunk = _chunk(damaged)
    chunk.write_bytes(chunk.read_bytes()[:-10])
    fails(bams3("query", str(damaged), "chr1:70000-71000"), "query", "shorter than the metadata says")


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["totals"].update(records=1), "totals.records"),
    (lambda d: d.update(run_id="../../../elsewhere"), "schema at run_id"),
    (lambda d: d["chunk_key_encoding"]["configuration"].update(run_id="../../x/y"), "schema at chunk_key_encoding"),
    (lambda d: d.update(format_version=7), "format_version 7 is not supported"),
    (lambda d: d.update(secret_feature={"enabled": True}), "unknown field 'secret_feature'"),
])
def test_tampered_metadata(damaged: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = damaged / METADATA_KEY
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    fails(bams3("query", str(damaged), "chr1"), "query", message)


def test_every_reader_verb_checks_the_metadata(damaged: Path) -> None:
    path = damaged / METADATA_KEY
    document = json.loads(path.read_text())
    document["totals"]["mapped"] += 1
    path.write_text(json.dumps(document))
    for verb, args in (("stats", ()), ("to-bam", ("x.bam",)), ("validate", ())):
        fails(bams3(verb, str(damaged), *args), verb, "totals.mapped")


def test_garbled_metadata(damaged: Path) -> None:
    (damaged / METADATA_KEY).write_text('{"format": "bams3", "format_version": 1, "run_id"')
    fails(bams3("stats", str(damaged)), "stats", "not valid JSON")


def test_incomplete_dataset(damaged: Path) -> None:
    (damaged / METADATA_KEY).unlink()
    for verb, args in (("stats", ()), ("query", ("chr1", "--count")), ("to-bam", ("x.bam",)), ("validate", ())):
        fails(bams3(verb, str(damaged), *args), verb, "not a complete BAMS3 dataset")


def test_region_errors(edge_dataset: Dataset) -> None:
    fails(bams3("query", edge_dataset.url, "chr9:1-100"), "query", "unknown reference 'chr9'", status=2)
    fails(bams3("query", edge_dataset.url, "chr1:1-2-3"), "query", "malformed region", status=2)
    fails(bams3("to-bam", edge_dataset.url, "x.bam", "--region", "chr9"), "to-bam", "unknown reference", status=2)


def test_convert_errors(make_bam, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    unsorted = make_bam("unsorted-cli", n_pairs=500, sort=False, index=False, seed=9)
    fails(bams3("convert", str(unsorted), str(tmp_path / "u.bams3")), "convert", "coordinate-sorted")
    fails(bams3("convert", str(tmp_path / "missing.bam"), str(tmp_path / "m.bams3")), "convert", "missing.bam")
    not_bam = tmp_path / "text.bam"
    not_bam.write_text("hello\n" * 100)
    fails(bams3("convert", str(not_bam), str(tmp_path / "t.bams3")), "convert", "text.bam")
    fails(bams3("convert", "--chunk-size", "lots", str(not_bam), str(tmp_path / "t.bams3")), "convert", "lots",
          status=2)
