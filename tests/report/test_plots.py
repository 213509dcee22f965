"""The figures say what they show: sample names, axis units, reference names, the right numbers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bams3.report import (
    ChunkColumns,
    SamplePlots,
    genome_profile,
    plot_mapq_along_genome,
    plot_mapq_histogram,
    plot_read_fractions,
    plot_reads_along_genome,
    read_fractions,
    save_figure,
    write_sample_plots,
)

from .conftest import ReportRun
from .test_report import png_size

FLAGSTAT = {
    "QC-passed reads": {"total": 900, "mapped": 850, "duplicates": 90, "paired in sequencing": 800,
                        "properly paired": 700, "singletons": 10, "secondary": 20, "supplementary": 5},
    "QC-failed reads": {"total": 100, "mapped": 50, "duplicates": 10, "paired in sequencing": 0,
                        "properly paired": 0, "singletons": 0, "secondary": 0, "supplementary": 0},
}


def _texts(figure) -> str:  # type: ignore[no-untyped-def]
    return " ".join(t.get_text() for t in figure.findobj(lambda o: hasattr(o, "get_text")))


def test_read_fractions_add_qc_passed_and_failed() -> None:
    rows = {label: (count, denominator) for label, count, denominator in read_fractions(FLAGSTAT)}
    assert rows["Mapped"] == (900, 1000) and rows["Unmapped"] == (100, 1000) and rows["Duplicates"] == (100, 1000)
    assert rows["Properly paired (of paired)"] == (700, 800) and rows["QC-failed"] == (100, 1000)
    figure = plot_read_fractions(FLAGSTAT, sample="NA12878")
    text = _texts(figure)
    assert "NA12878" in text and "Share of all 1,000 reads (%)" in text and "90.00 % (900)" in text


def test_mapq_histogram_labels_bins_and_counts(tmp_path: Path) -> None:
    histogram = {"0": 50, "1-9": 0, "10-19": 10, "60-254": 940, "255": 0}
    figure = plot_mapq_histogram(histogram, sample="S1")
    ax = figure.axes[0]
    assert ax.get_xlabel().startswith("MAPQ") and ax.get_ylabel() == "Mapped reads (%)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1-9", "10-19", "60-254", "255\n(unavailable)"]
    assert [round(p.get_height(), 1) for p in ax.patches] == [5.0, 0.0, 1.0, 94.0, 0.0]
    assert "S1: MAPQ of the 1,000 mapped reads" in ax.get_title(loc="left")
    path = save_figure(figure, tmp_path / "h.png")
    assert png_size(path.read_bytes()) == (800, 440) and not list(tmp_path.glob(".*tmp"))


def test_genome_figures_name_references_and_units() -> None:
    data = ChunkColumns.from_mapping({
        "total_reads": [1000, 1000], "mapq_sum": [50_000, 20_000], "mapq_count": [1000, 1000],
        "pos_min": [0, 0], "pos_max": [99_999, 49_999], "first_ref": ["chr1", "chr2"], "first_pos": [0, 0],
        "last_ref": ["chr1", "chr2"], "last_pos": [99_999, 49_999]})
    profile = genome_profile(data, [("chr1", 100_000), ("chr2", 50_000), ("chrUn_tiny", 10)])
    reads = plot_reads_along_genome(profile, sample="tumour", chunk_size=1000)
    ax = reads.axes[0]
    assert ax.get_ylabel() == "Reads per kbp" and "(Mbp)" in ax.get_xlabel()
    top = [t.get_text() for t in ax.child_axes[0].get_xticklabels()] if ax.child_axes else []
    assert top == ["chr1", "chr2"]  # the tiny contig is drawn but not named
    assert "tumour: reads along the genome (2,000 placed reads in 1,000-read chunks" in ax.get_title(loc="left")
    mapq = plot_mapq_along_genome(profile, sample="tumour").axes[0]
    assert mapq.get_ylabel() == "Mean MAPQ (Phred)" and "tumour" in mapq.get_title(loc="left")
    assert np.nanmax(profile.mean_mapq()) == pytest.approx(50.0) and np.nanmin(profile.mean_mapq()) == pytest.approx(20.0)


def test_a_whole_human_sized_genome_stays_small(tmp_path: Path) -> None:
    """600,000 chunks over 25 chromosomes and 2,000 small contigs: bounded windows, readable labels."""
    rng = np.random.default_rng(1)
    refs = [(f"chr{i}", 250_000_000 - i * 9_000_000) for i in range(1, 23)] + [("chrX", 156_000_000),
                                                                                 ("chrY", 57_000_000),
                                                                                 ("chrM", 16_569)]
    refs += [(f"chrUn_{i}", 100_000) for i in range(2000)]
    n = 600_000
    lengths = np.array([length for _, length in refs[:24]], dtype=np.float64)
    ref_of = rng.choice(24, size=n, p=lengths / lengths.sum())
    start = (rng.random(n) * (lengths[ref_of] - 6000)).astype(np.int64)
    names = np.array([name for name, _ in refs[:24]], dtype=object)[ref_of]
    data = ChunkColumns.from_mapping({
        "total_reads": np.full(n, 1000), "mapq_sum": np.full(n, 55_000), "mapq_count": np.full(n, 1000),
        "pos_min": start, "pos_max": start + 5000, "first_ref": names, "first_pos": start,
        "last_ref": names, "last_pos": start + 5000})
    profile = genome_profile(data, refs)
    assert profile.window == 2_000_000 and len(profile.reads) < 2000 + len(refs)
    assert profile.reads.sum() == pytest.approx(n * 1000)
    figure = plot_reads_along_genome(profile, sample="NA12878", chunk_size=1000)
    labels = [t.get_text() for t in figure.axes[0].child_axes[0].get_xticklabels()]
    assert labels[:2] == ["chr1", "chr2"] and "chrY" in labels and not any(label.startswith("chrUn") for label in labels)
    assert png_size(save_figure(figure, tmp_path / "g.png").read_bytes()) == (1200, 420)


def test_write_sample_plots_from_a_real_run(report_run: ReportRun, tmp_path: Path) -> None:
    chunk_dir = report_run.results / "chunks" / "tumour"
    outputs = SamplePlots(*(tmp_path / f"{name}.png" for name in ("a", "b", "c", "d")))
    write_sample_plots(chunk_table=chunk_dir / "chunk_stats.parquet", plan=chunk_dir / "plan.json",
                       summary=chunk_dir / "summary.json", outputs=outputs)
    for path in (outputs.reads_along_genome, outputs.mapq_along_genome, outputs.mapq_histogram,
                 outputs.read_fractions):
        assert png_size(path.read_bytes())[0] >= 800
    histogram = json.loads((chunk_dir / "summary.json").read_text())["mapq_histogram"]
    assert sum(histogram.values()) > 0
