"""Session fixtures for the bams3.bam tests: generated BAMs and pysam's view of them.

The BAMs come from tests/helpers/bamgen.py (samtools writes and indexes them); pysam is
the oracle for every field, virtual offset and count.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.bam import oracle
from tests.helpers import bamgen


@pytest.fixture(scope="session")
def bam_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bam-presets")


@pytest.fixture(scope="session")
def tiny_bam(bam_dir: Path) -> Path:
    return bamgen.write_preset("tiny", bam_dir)


@pytest.fixture(scope="session")
def edge_bam(bam_dir: Path) -> Path:
    return bamgen.write_preset("edge_cases", bam_dir)


@pytest.fixture(scope="session")
def medium_bam(bam_dir: Path) -> Path:
    return bamgen.write_preset("medium", bam_dir)


@pytest.fixture(scope="session")
def edge_bam_csi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The edge-case preset again, indexed with a CSI (min_shift 12: more levels than BAI)."""
    directory = tmp_path_factory.mktemp("bam-csi")
    params = dict(bamgen.PRESETS["edge_cases"])
    path = bamgen.write_bam(directory / "edge_cases.bam", index=False, **params)
    bamgen.write_index(path, csi=True, min_shift=12)
    return path


@pytest.fixture(scope="session")
def unsorted_bam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Edge cases in pair order, not sorted, no index."""
    directory = tmp_path_factory.mktemp("bam-unsorted")
    return bamgen.write_bam(directory / "unsorted.bam", n_pairs=1_500, seed=11, sort=False, index=False, long_reads=5)


@pytest.fixture(scope="session")
def presets(tiny_bam: Path, edge_bam: Path, medium_bam: Path, unsorted_bam: Path) -> dict[str, Path]:
    return {"tiny": tiny_bam, "edge_cases": edge_bam, "medium": medium_bam, "unsorted": unsorted_bam}


@pytest.fixture(scope="session")
def edge_oracle(edge_bam: Path) -> oracle.PysamView:
    return oracle.pysam_view(edge_bam)
