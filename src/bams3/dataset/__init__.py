"""The BAMS3 dataset format (docs/FORMAT.md): convert a BAM, query it by region, get it back.

Public API::

    from bams3.dataset import Dataset, convert

    convert("sample.bam", "s3://bucket/cohort/sample.bams3", workers=2)
    ds = Dataset.open("s3://bucket/cohort/sample.bams3")     # one GET of _metadata.json
    ds.count("chr20:10M-11M")                                 # == samtools view -c
    for batch in ds.query("chr1:1,000,000-1,001,000"): ...    # RecordBatch objects, file order
    ds.stats()                                                # from the metadata alone
"""
from __future__ import annotations

from .metadata import DatasetMetadata, DatasetMetadataV1, parse_metadata
from .reader import Dataset, QueryPlan
from .writer import ConvertResult, convert

__all__ = ["Dataset", "QueryPlan", "convert", "ConvertResult", "DatasetMetadata", "DatasetMetadataV1",
           "parse_metadata"]
