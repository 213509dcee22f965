"""BAM -> BAMS3 -> BAM is lossless: the header and every record, byte for byte."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest

from bams3.dataset import Dataset
from bams3.dataset.export import write_bam

from .conftest import convert_small, records_stream


def test_edge_cases_round_trip(edge_bam: Path, edge_dataset: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "back.bam"
    assert write_bam(edge_dataset, str(out)) == edge_dataset.metadata.totals.records
    assert records_stream(out) == records_stream(edge_bam)
    pysam.quickcheck(str(out))


def test_dataset_layout(edge_dataset: Dataset) -> None:
    meta = edge_dataset.metadata
    chunks = meta.chunks
    names = [r.name for r in edge_dataset.references]
    # every reference with reads has chunks; chrEmpty has none; unplaced reads have their own chunk
    with_reads = {names[i] for i in np.unique(chunks.ref_id[chunks.ref_id >= 0])}
    assert with_reads == {"chr1", "chr2", "chrM"}
    assert (chunks.ref_id == -1).sum() == 1 and meta.totals.unplaced > 0
    assert chunks.n_records[chunks.ref_id == -1].sum() == meta.totals.unplaced
    # long reads reach over bin edges: some chunk ends past its bin
    assert np.any(chunks.max_end > (chunks.bin.astype(np.int64) + 1) * meta.bin_size)
    # frames: small frames make several per chunk
    assert max(len(edge_dataset.footer(i)) for i in range(len(chunks))) > 10


def test_flag_totals_match_samtools_flagstat(edge_bam: Path, edge_dataset: Dataset) -> None:
    t = edge_dataset.metadata.totals
    lines = pysam.flagstat(str(edge_bam)).splitlines()
    number = {}
    for line in lines:  # "<passed> + <failed> <what> (...)"
        passed, rest = line.split(" + ", 1)
        failed, what = rest.split(" ", 1)
        number[what.split(" (")[0]] = int(passed) + int(failed)
    assert t.records == number["in total"]
    assert t.mapped == number["mapped"]
    assert t.secondary == number["secondary"]
    assert t.supplementary == number["supplementary"]
    assert t.duplicates == number["duplicates"]
    assert t.paired == number["paired in sequencing"]
    assert t.proper_pair == number["properly paired"]


def test_medium_round_trip_with_workers(medium_bam: Path, fmt: int, tmp_path: Path) -> None:
    frames = {"frame_bytes": 256 * 1024} if fmt == 2 else {}  # a few hundred blocks, not thousands
    one = convert_small(medium_bam, tmp_path / "w1.bams3", workers=1, format=fmt, **frames)
    two = convert_small(medium_bam, tmp_path / "w2.bams3", workers=3, format=fmt, **frames)
    for name, column in one.metadata.chunks.columns.items():  # same bytes whatever the parallelism
        np.testing.assert_array_equal(two.metadata.chunks.columns[name], column, err_msg=name)
    out = tmp_path / "back.bam"
    write_bam(two, str(out), level=1)
    assert records_stream(out) == records_stream(medium_bam)


@pytest.mark.parametrize("bin_size", [1_000, 10_000_000])
def test_extreme_bins(edge_bam: Path, fmt: int, tmp_path: Path, bin_size: int) -> None:
    frame = 1024 if fmt == 1 else 16 * 1024  # version 2 blocks have a fixed cost each
    ds = convert_small(edge_bam, tmp_path / "x.bams3", bin_size=bin_size, frame_bytes=frame, format=fmt)
    out = tmp_path / "back.bam"
    write_bam(ds, str(out))
    assert records_stream(out) == records_stream(edge_bam)


def test_region_to_bam_is_a_valid_indexed_bam(edge_bam: Path, edge_dataset: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "region.bam"
    region = "chr1:60000-140000"
    n = write_bam(edge_dataset, str(out), region=region, index=True)
    assert (tmp_path / "region.bam.bai").exists()
    assert n == int(pysam.view("-c", str(edge_bam), region))
    assert pysam.view(str(out)) == pysam.view(str(edge_bam), region)
    assert pysam.view("-H", "--no-PG", str(out)) == pysam.view("-H", "--no-PG", str(edge_bam))
