"""Request fields shared by the dataset handlers (region-count, query-summary, dataset-stats)."""
from __future__ import annotations

import inspect
from typing import Any

from pydantic import Field


def open_default(name: str) -> Any:
    """A :meth:`bams3.dataset.Dataset.open` default, so that it is stated in one place."""
    from ..dataset import Dataset

    return inspect.signature(Dataset.open).parameters[name].default


DATASET_FIELD = Field(min_length=1, description="The BAMS3 dataset: a local folder or s3://bucket/prefix "
                                                "(<sample>.bams3)")
REGION_FIELD = Field(min_length=1, description="Region in samtools syntax, 1-based inclusive: chr1, "
                                               "chr1:1000000-2000000, chr20:10M-11M, {HLA-A*01:01}:1-100")


def workers_field() -> Any:
    return Field(open_default("max_concurrency"), ge=1, le=64, description="Requests in flight at once")
