"""A small generated cohort: BAMs written by samtools (the oracle) and their BAMS3 datasets.

Four samples of different seeds, with every edge case of tests/helpers/bamgen.py (secondary,
supplementary, unmapped mates placed at their mate, unplaced pairs, duplicates, QC failures,
long reads straddling bins, a reference without reads), converted with small bins and frames
(32 Kbp bins, 4 KiB frames) so that regions of a few kbp already meet every counting path:
bins wholly inside (counted from metadata), frames wholly inside (from frame tables), and
frames at the edges (decoded). Two samples are in format 1 and two in format 2, so every test
meets both readers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam
import pytest

from bams3.cohort import CohortSample
from bams3.dataset import convert
from tests.helpers.bamgen import write_bam

BIN = 32_768
FRAME = 4 * 1024
REFERENCES = (("chr1", 200_000), ("chr2", 150_000), ("chrEmpty", 30_000), ("chrM", 16_569))
N_SAMPLES = 4


@dataclass(frozen=True)
class Cohort:
    """The BAMs (by sample) and the datasets made from them."""

    bams: dict[str, Path]
    samples: list[CohortSample]

    def bam(self, sample: str) -> Path:
        return self.bams[sample]


def convert_small(bam: Path, url: str, *, format: int | None = None) -> None:
    options = {} if format is None else {"format": format}
    convert(str(bam), url, bin_size=BIN, frame_bytes=FRAME, show_progress=False, overwrite=True, **options)


def sample_format(name: str) -> int:
    """The dataset format of a cohort sample: S0 and S2 in format 1, S1 and S3 in format 2, so that every
    count and depth test meets both readers (frames decoded whole; core streams of blocks)."""
    return 1 + int(name[1:]) % 2


def samtools_count(bam: Path, region: str) -> int:
    return int(pysam.view("-c", str(bam), region))


def samtools_depth_sum(bam: Path, region: str) -> int:
    """Sum of ``samtools depth -a -J -r REGION`` (deletions count as covered)."""
    text = pysam.depth("-a", "-J", "-r", region, str(bam))
    return sum(int(line.split("\t")[2]) for line in text.splitlines() if line)


@pytest.fixture(scope="session")
def cohort_bams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("cohort-bams")
    return {
        f"S{i}": write_bam(directory / f"S{i}.bam", n_pairs=1_200 + 150 * i, seed=100 + i, references=REFERENCES,
                           no_reads_on=("chrEmpty",), edge_cases=True, long_reads=6)
        for i in range(N_SAMPLES)
    }


@pytest.fixture(scope="session")
def local_cohort(cohort_bams: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """The datasets in a local folder: <root>/<sample>.bams3."""
    root = tmp_path_factory.mktemp("cohort-datasets")
    samples = []
    for name, bam in cohort_bams.items():
        url = str(root / f"{name}.bams3")
        convert_small(bam, url, format=sample_format(name))
        samples.append(CohortSample(name, url))
    return Cohort(cohort_bams, samples)


@pytest.fixture(scope="session")
def read_spans(cohort_bams: dict[str, Path]) -> dict[str, dict[str, np.ndarray]]:
    """Every placed record's 0-based start and end (exclusive) per reference, over all samples:
    where region edges make a difference."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for bam in cohort_bams.values():
        with pysam.AlignmentFile(str(bam)) as f:
            for read in f.fetch(until_eof=True):
                if read.reference_id >= 0 and read.reference_start >= 0:
                    end = read.reference_end if read.reference_end is not None else read.reference_start + 1
                    spans.setdefault(read.reference_name, []).append((read.reference_start, end))
    return {name: {"start": np.array([s for s, _ in v]), "end": np.array([e for _, e in v])}
            for name, v in spans.items()}


@pytest.fixture(scope="session")
def s3_cohort(s3_server: object, local_cohort: Cohort) -> Callable[[], Cohort]:
    """The same datasets copied into a bucket of the loopback S3 server (once per session)."""
    made: list[Cohort] = []

    def make() -> Cohort:
        if not made:
            bucket = s3_server.make_bucket()  # type: ignore[attr-defined]
            samples = []
            for name, bam in local_cohort.bams.items():
                url = f"s3://{bucket}/cohort/{name}.bams3"
                convert_small(bam, url, format=sample_format(name))
                samples.append(CohortSample(name, url))
            made.append(Cohort(local_cohort.bams, samples))
        return made[0]

    return make
