"""Plots and tables for the Snakemake report (``snakemake --report report.html``).

The workflow's report rules (workflow/rules/report.smk) call these functions through thin
scripts; they read only what the other stages already wrote:

- :func:`write_sample_plots`: a sample's QC figures from its chunk table
  (chunk_stats.parquet), chunk plan (reference lengths) and summary.json: reads and mean
  MAPQ along the genome, the MAPQ histogram, the flagstat read fractions;
- :func:`write_samples_table`: one row per sample (flagstat counts, chunks, bytes read), TSV and HTML;
- :func:`write_cohort_summary`: the cohort's counts (and depths) per sample and region, per-region
  totals, failed samples and what the queries cost, as a page (the cohort stage draws its own heatmap);
- :func:`write_stage_summary`, :func:`write_sync_summary`: what staging and publishing did.

Figures are PNG files drawn by matplotlib (Agg, imported on first use); tables are
self-contained HTML pages. Memory stays small for whole genomes: a profile reads nine
columns of the chunk table (a 30x genome has ~600,000 chunks) and draws at most a few
thousand windows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._plots import (
    plot_mapq_along_genome,
    plot_mapq_histogram,
    plot_read_fractions,
    plot_reads_along_genome,
    read_fractions,
    save_figure,
)
from ._profile import ChunkColumns, GenomeProfile, choose_window, genome_profile
from ._tables import (
    SAMPLE_COLUMNS,
    sample_row,
    write_cohort_summary,
    write_samples_table,
    write_stage_summary,
    write_sync_summary,
)

__all__ = [
    "SamplePlots",
    "write_sample_plots",
    "write_samples_table",
    "write_stage_summary",
    "write_sync_summary",
    "write_cohort_summary",
    "sample_row",
    "SAMPLE_COLUMNS",
    "ChunkColumns",
    "GenomeProfile",
    "genome_profile",
    "choose_window",
    "plot_reads_along_genome",
    "plot_mapq_along_genome",
    "plot_mapq_histogram",
    "plot_read_fractions",
    "read_fractions",
    "save_figure",
]


@dataclass(frozen=True)
class SamplePlots:
    """Where one sample's figures go."""

    reads_along_genome: Path
    mapq_along_genome: Path
    mapq_histogram: Path
    read_fractions: Path


def _load_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_sample_plots(*, chunk_table: str | Path, plan: str | Path, summary: str | Path, outputs: SamplePlots,
                       sample: str | None = None) -> GenomeProfile:
    """Draw a sample's four QC figures; return the genome profile they show.

    Parameters
    ----------
    chunk_table
        The sample's chunk_stats.parquet.
    plan
        Its chunk plan (plan.json), for the reference names and lengths.
    summary
        Its summary.json, for the MAPQ histogram and the flagstat counts.
    sample
        The name in the titles (default: the summary's).
    """
    summary_doc = _load_json(summary)
    name = sample or summary_doc.get("sample") or Path(chunk_table).parent.name
    profile = genome_profile(ChunkColumns.read_parquet(str(chunk_table)), _load_json(plan)["references"])
    save_figure(plot_reads_along_genome(profile, sample=name, chunk_size=int(summary_doc["chunk_size"])),
                outputs.reads_along_genome)
    save_figure(plot_mapq_along_genome(profile, sample=name), outputs.mapq_along_genome)
    save_figure(plot_mapq_histogram(summary_doc["mapq_histogram"], sample=name), outputs.mapq_histogram)
    save_figure(plot_read_fractions(summary_doc["flagstat"], sample=name), outputs.read_fractions)
    return profile
