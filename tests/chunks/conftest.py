"""Generated BAMs shared by the chunk tests (samtools writes and indexes them: an honest oracle)."""
from __future__ import annotations

import json
from pathlib import Path

import pysam
import pytest

from tests.helpers.bamgen import write_bam, write_preset

#: a BAM big enough for many shards and a memory comparison (about 55 MB, 600k records)
BIG = dict(n_pairs=300_000, seed=5, edge_cases=True, long_reads=10,
           references=(("chr1", 3_000_000), ("chr2", 2_000_000), ("chrM", 16_569)))


@pytest.fixture(scope="session")
def bams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The small presets, indexed: ``tiny``, ``edge_cases``, ``medium``."""
    directory = tmp_path_factory.mktemp("bams")
    return {name: write_preset(name, directory) for name in ("tiny", "edge_cases", "medium")}


@pytest.fixture(scope="session")
def big_bam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bam(tmp_path_factory.mktemp("big") / "big.bam", **BIG)


@pytest.fixture(scope="session")
def unsorted_bam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reads in pair order, no index: only a streaming plan works."""
    return write_bam(tmp_path_factory.mktemp("unsorted") / "unsorted.bam", n_pairs=3_000, seed=7,
                     sort=False, index=False, edge_cases=True)


def samtools_flagstat(path: Path) -> dict:
    """``samtools flagstat -O json`` (through pysam), the oracle for every total."""
    return json.loads(pysam.flagstat("-O", "json", str(path)))
