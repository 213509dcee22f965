"""Handler ``region-count``: how many records of a BAMS3 dataset overlap a region.

The number ``samtools view -c BAM REGION`` prints, as ``bams3 query DATASET REGION --count``
computes it: chunks lying wholly inside the region are counted from the metadata, only
the frames at the region's edges are fetched.
"""
from __future__ import annotations

from pydantic import Field

from ._base import Handler, Model, ResultModel
from ._dataset_common import DATASET_FIELD, REGION_FIELD, workers_field

__all__ = ["RegionCountRequest", "RegionCountResponse", "HANDLER", "handle", "lambda_handler"]


class RegionCountRequest(Model):
    dataset: str = DATASET_FIELD
    region: str = REGION_FIELD
    workers: int = workers_field()


class RegionCountResponse(ResultModel):
    dataset: str = Field(description="The dataset (redacted URL)")
    region: str = Field(description="The region as resolved, samtools syntax")
    count: int = Field(ge=0, description="Records overlapping the region (samtools view -c)")


def handle(request: RegionCountRequest) -> RegionCountResponse:
    """:meth:`bams3.dataset.Dataset.count`."""
    from ..dataset import Dataset

    dataset = Dataset.open(request.dataset, max_concurrency=request.workers)
    region = dataset.resolve(request.region)
    return RegionCountResponse(dataset=dataset.url, region=region.to_samtools(), count=dataset.count(region))


HANDLER = Handler(
    name="region-count",
    summary="count the records of a BAMS3 dataset overlapping a region (samtools view -c)",
    request_model=RegionCountRequest,
    response_model=RegionCountResponse,
    function=handle,
)
lambda_handler = HANDLER.lambda_handler
