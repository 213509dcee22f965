"""Cohort queries: many BAMS3 datasets x many regions, in parallel, as one table and a plot.

Public API::

    from bams3.cohort import collect_samples, run_cohort, write_outputs
    from bams3.regions import read_regions

    samples = collect_samples(["s3://bucket/cohort/"])           # lists <name>.bams3 datasets
    result = run_cohort(samples, read_regions("panel.bed"), jobs=16)
    result.counts                                                # samples x regions, = samtools view -c
    write_outputs(result, "s3://bucket/results/panel/")          # table, matrix, summary, plot

Each dataset's metadata is fetched once; bins wholly inside a region are counted from it, so a
count reads at most the chunk frames at the region's edges, and a sample's regions are planned
together so that a footer or frame that several (overlapping) regions need is fetched once. A sample that fails (missing,
incomplete or corrupt dataset, a reference it lacks) is recorded with its error and the others
complete. The workflow fans groups of samples out as separate jobs and merges their results
(:meth:`CohortResult.to_json`, :func:`merge_results`).
"""
from __future__ import annotations

from ._inputs import (
    DATASET_SUFFIX,
    CohortSample,
    check_unique_samples,
    collect_samples,
    find_datasets,
    is_dataset_url,
    read_dataset_list,
    region_labels,
    sample_name,
    samples_from_urls,
)
from ._model import MISSING, CohortResult, IoCost, SampleOutcome, check_references, merge_results
from ._outputs import OUTPUT_FILES, render_outputs, write_outputs
from ._plot import HEATMAP_MAX_SAMPLES, PLOT_KINDS, PlotKind, cohort_figure, plot_png
from ._run import DEFAULT_JOBS, run_cohort
from ._tables import long_table, matrix, summary

__all__ = [
    "CohortSample",
    "CohortResult",
    "SampleOutcome",
    "IoCost",
    "MISSING",
    "DATASET_SUFFIX",
    "DEFAULT_JOBS",
    "OUTPUT_FILES",
    "PLOT_KINDS",
    "HEATMAP_MAX_SAMPLES",
    "PlotKind",
    "collect_samples",
    "find_datasets",
    "read_dataset_list",
    "samples_from_urls",
    "sample_name",
    "is_dataset_url",
    "check_unique_samples",
    "region_labels",
    "run_cohort",
    "check_references",
    "merge_results",
    "long_table",
    "matrix",
    "summary",
    "render_outputs",
    "write_outputs",
    "cohort_figure",
    "plot_png",
]
