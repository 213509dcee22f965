"""Handler ``dataset-stats``: a BAMS3 dataset's statistics from its metadata alone (one GET).

The numbers ``bams3 stats --json`` prints: read counts by kind, bases and mean coverage,
chunking, compression and storage size. Sections may gain fields as the format grows
(docs/FORMAT.md); the listed ones are always there.
"""
from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from ._base import Handler, Model, ResultModel
from ._dataset_common import DATASET_FIELD

__all__ = ["DatasetStatsRequest", "DatasetStatsResponse", "HANDLER", "handle", "lambda_handler"]


class DatasetStatsRequest(Model):
    dataset: str = DATASET_FIELD


class _Section(ResultModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ReadCounts(_Section):
    total: int
    mapped: int
    mapped_percent: float | None
    unmapped: int
    duplicates: int


class BaseCounts(_Section):
    total: int
    aligned: int
    genome_length: int
    mean_coverage: float | None = Field(description="Aligned bases / genome length")


class Structure(_Section):
    bin_size: int = Field(description="Bases per chunk")
    chunks: int
    references: int


class Storage(_Section):
    total_bytes: int
    chunk_bytes: int
    metadata_bytes: int | None
    compression_ratio: float | None
    size_vs_source: float | None


class DatasetStatsResponse(_Section):
    dataset: str = Field(description="The dataset (redacted URL)")
    format: str
    format_version: int
    source: dict[str, Any] = Field(description="The BAM it was converted from: url (redacted) and size")
    reads: ReadCounts
    bases: BaseCounts
    structure: Structure
    storage: Storage


def handle(request: DatasetStatsRequest) -> DatasetStatsResponse:
    """:meth:`bams3.dataset.Dataset.stats`."""
    from ..dataset import Dataset

    return DatasetStatsResponse.model_validate(Dataset.open(request.dataset).stats())


HANDLER = Handler(
    name="dataset-stats",
    summary="statistics of a BAMS3 dataset from its metadata alone (one GET)",
    request_model=DatasetStatsRequest,
    response_model=DatasetStatsResponse,
    function=handle,
)
lambda_handler = HANDLER.lambda_handler
