"""What the Snakemake workflow (workflow/) and its rule scripts (scripts/) share.

Logic that both the DAG-building side (``workflow/rules/*.smk``) and the job side (a
rule's script) need lives here, so that the two can never disagree: see
:mod:`bams3.workflow.samples`.
"""
from __future__ import annotations

from bams3.workflow.samples import SampleBam, job_bam, load_sample_table, resolve_sample, sample_name_from_url

__all__ = ["SampleBam", "job_bam", "load_sample_table", "resolve_sample", "sample_name_from_url"]
