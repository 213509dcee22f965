"""Test BAMs (written by samtools through tests/helpers/bamgen.py) and datasets made from them.

Datasets are converted with small bins and frames (64 Kbp bins, which the generator's long
reads straddle; 8 KiB frames or blocks, so a chunk holds many) so that every selection path --
earlier chunks reaching into a region, frames skipped, frames wholly inside -- is exercised
by small files. ``edge_dataset`` and the ``fmt`` fixture run each test that uses them once per
format version (1: whole records in zstd frames, 2: per-field streams in blocks).
"""
from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pysam
import pytest

from bams3.dataset import Dataset, convert
from tests.helpers.bamgen import write_bam, write_preset

BIN = 65_536
FRAME = 8 * 1024
FORMATS = (1, 2)


def convert_small(source: str | Path, destination: str | Path, **options: object) -> Dataset:
    """Convert with the test bins/frames and open the result."""
    options = {"bin_size": BIN, "frame_bytes": FRAME, "show_progress": False, **options}
    convert(str(source), str(destination), **options)  # type: ignore[arg-type]
    return Dataset.open(str(destination))


def samtools_view(bam: Path, region: str) -> str:
    return pysam.view(str(bam), region)


def samtools_count(bam: Path, region: str) -> int:
    return int(pysam.view("-c", str(bam), region))


def records_stream(bam: Path) -> bytes:
    """The uncompressed BAM stream (header and records): what a lossless round trip must keep."""
    with gzip.open(bam, "rb") as f:
        return f.read()


@pytest.fixture(scope="session")
def bam_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bams")


@pytest.fixture(scope="session")
def edge_bam(bam_dir: Path) -> Path:
    """Every edge case: secondary, supplementary, unmapped with and without position, a CIGAR over
    65535 operations, large aux tags, long reads across bin edges, a reference without reads."""
    return write_preset("edge_cases", bam_dir)


@pytest.fixture(scope="session")
def medium_bam(bam_dir: Path) -> Path:
    """~200,000 records (~28 MB): many batches, chunks and frames."""
    return write_preset("medium", bam_dir)


@pytest.fixture(scope="session", params=FORMATS, ids=lambda f: f"v{f}")
def fmt(request: pytest.FixtureRequest) -> int:
    """A format version: tests taking it run once per version."""
    return int(request.param)


@pytest.fixture(scope="session")
def edge_dataset(edge_bam: Path, fmt: int, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return convert_small(edge_bam, tmp_path_factory.mktemp("ds") / f"edge-v{fmt}.bams3", format=fmt)


@pytest.fixture(scope="session")
def make_bam(bam_dir: Path) -> Callable[..., Path]:
    """Write a custom BAM once per parameter set."""
    made: dict[str, Path] = {}

    def make(name: str, **params: object) -> Path:
        if name not in made:
            made[name] = write_bam(bam_dir / f"{name}.bam", **params)  # type: ignore[arg-type]
        return made[name]

    return make
