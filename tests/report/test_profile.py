"""Genome profiles from chunk spans: conservation of reads, splitting, MAPQ means, real data."""
from __future__ import annotations

import doctest
import json

import numpy as np
import pysam
import pytest

import bams3.report._profile as profile_module
from bams3.report import ChunkColumns, choose_window, genome_profile

from .conftest import SAMPLES, ReportRun

REFS = (("chrA", 1000), ("chrB", 500))


def chunks(*rows: tuple) -> ChunkColumns:
    """Rows of (reads, mapq_sum, mapq_count, pos_min, pos_max, first_ref, first_pos, last_ref, last_pos)."""
    names = ("total_reads", "mapq_sum", "mapq_count", "pos_min", "pos_max", "first_ref", "first_pos", "last_ref",
             "last_pos")
    return ChunkColumns.from_mapping({name: [row[i] for row in rows] for i, name in enumerate(names)})


def test_a_chunk_spreads_evenly_over_its_span() -> None:
    p = genome_profile(chunks((100, 600, 100, 0, 399, "chrA", 0, "chrA", 399)), REFS, window=100)
    assert p.window == 100 and len(p.reads) == 10 + 5
    np.testing.assert_allclose(p.reads[:4], 25.0)
    np.testing.assert_allclose(p.reads[4:], 0.0)
    np.testing.assert_allclose(p.reads_per_kbp()[:4], 250.0)
    np.testing.assert_allclose(p.mean_mapq()[:4], 6.0)
    assert np.isnan(p.mean_mapq()[5])  # no read there: no mean


def test_reads_are_conserved_and_boundary_chunks_split_by_span() -> None:
    data = chunks(
        (200, 6000, 100, 0, 799, "chrA", 0, "chrA", 799),      # chrA 0..800
        (100, 3000, 100, 10, 950, "chrA", 900, "chrB", 299),   # crosses: 100 bases on chrA, 300 on chrB
        (50, 0, 0, None, None, None, None, None, None),        # unplaced reads
        (30, 900, 30, 10, 10, "chrB", 10, "chrB", 10),          # all at one position
    )
    p = genome_profile(data, REFS, window=100)
    assert p.unplaced_reads == 50
    assert p.reads.sum() == pytest.approx(200 + 100 + 30)
    on_a, on_b = p.reads[p.ref_index == 0].sum(), p.reads[p.ref_index == 1].sum()
    assert on_a == pytest.approx(200 + 25) and on_b == pytest.approx(75 + 30)
    # the windows of chrB start at the end of chrA on the concatenated axis
    assert p.genome_start()[p.ref_index == 1][0] == 1000 and p.genome_length == 1500


def test_mean_mapq_is_weighted_by_reads_with_a_mapq() -> None:
    data = chunks((100, 100 * 60, 100, 0, 99, "chrA", 0, "chrA", 99), (100, 0, 100, 0, 99, "chrA", 0, "chrA", 99),
                  (10, 0, 0, 100, 199, "chrA", 100, "chrA", 199))  # MAPQ 255 only: no count
    p = genome_profile(data, REFS, window=100)
    assert p.mean_mapq()[0] == pytest.approx(30.0) and np.isnan(p.mean_mapq()[1])


def test_reads_outside_the_reference_and_unknown_references_do_not_break_it() -> None:
    data = chunks((10, 0, 0, 990, 1200, "chrA", 990, "chrA", 1200), (5, 0, 0, 1, 2, "decoy", 1, "decoy", 2))
    p = genome_profile(data, REFS, window=100)
    assert p.reads.sum() == pytest.approx(10) and p.unplaced_reads == 5  # unknown reference: counted as unplaced


def test_window_sizes_are_round_and_bounded() -> None:
    assert choose_window(3_100_000_000, 620_000) == 2_000_000
    assert choose_window(3_100_000_000, 10) == 50_000_000  # few chunks: still at least 100 windows' worth
    assert choose_window(16_569, 5) == 200
    failures, _ = doctest.testmod(profile_module)
    assert failures == 0


@pytest.mark.parametrize("sample", SAMPLES)
def test_profile_of_a_real_run_puts_each_reference_s_reads_on_it(report_run: ReportRun, sample: str) -> None:
    chunk_dir = report_run.results / "chunks" / sample
    references = json.loads((chunk_dir / "plan.json").read_text())["references"]
    p = genome_profile(ChunkColumns.read_parquet(str(chunk_dir / "chunk_stats.parquet")), references)
    summary = json.loads((chunk_dir / "summary.json").read_text())
    assert p.reads.sum() + p.unplaced_reads == pytest.approx(summary["total_reads"])
    # per reference within one chunk (200 reads) of the reads placed there: only boundary chunks are shared
    with pysam.AlignmentFile(str(report_run.bams[sample])) as bam:
        placed = {name: 0 for name, _ in references}
        for read in bam.fetch(until_eof=True):
            if read.reference_name is not None and read.reference_start >= 0:
                placed[read.reference_name] += 1
    for index, (name, _) in enumerate(references):
        assert abs(p.reads[p.ref_index == index].sum() - placed[name]) <= 200, name
