"""Handler ``query-summary``: what the records of a BAMS3 dataset in a region look like.

Streams the records overlapping the region (the same ones, in the same order, as
``samtools view BAM REGION``; only the chunk frames that can overlap it are fetched) and
adds them up with the per-chunk statistics code of the workflow, so the numbers mean what
they mean in ``chunk_stats.jsonl``: mapped, unmapped, duplicates, secondary,
supplementary, QC-failed, properly paired, bases, mean MAPQ and the MAPQ histogram. With
``show`` the first records come back as SAM lines too. The request and byte counts say
what the query cost.
"""
from __future__ import annotations

from pydantic import Field

from ._base import Handler, Model, ResultModel
from ._dataset_common import DATASET_FIELD, REGION_FIELD, workers_field

__all__ = ["QuerySummaryRequest", "QuerySummaryResponse", "HANDLER", "handle", "lambda_handler",
           "MAX_SHOWN_RECORDS"]

#: most SAM lines a response carries (Lambda responses are limited to 6 MB)
MAX_SHOWN_RECORDS = 1000
#: one accumulator "chunk" that no region fills: the whole region is summed as one
_WHOLE_REGION = 1 << 62


class QuerySummaryRequest(Model):
    dataset: str = DATASET_FIELD
    region: str = REGION_FIELD
    show: int = Field(0, ge=0, le=MAX_SHOWN_RECORDS, description="Also return the first N records as SAM lines")
    workers: int = workers_field()


class Position(ResultModel):
    ref: str
    pos: int = Field(description="1-based leftmost position")


class QueryIo(ResultModel):
    requests: int = Field(ge=0, description="Requests sent (retries included)")
    bytes_fetched: int = Field(ge=0, description="Bytes received from the store")


class QuerySummaryResponse(ResultModel):
    dataset: str = Field(description="The dataset (redacted URL)")
    region: str = Field(description="The region as resolved, samtools syntax")
    records: int = Field(ge=0, description="Records overlapping the region (samtools view -c)")
    mapped: int = Field(ge=0)
    unmapped: int = Field(ge=0)
    duplicates: int = Field(ge=0)
    secondary: int = Field(ge=0)
    supplementary: int = Field(ge=0)
    qc_failed: int = Field(ge=0)
    paired: int = Field(ge=0)
    properly_paired: int = Field(ge=0)
    bases: int = Field(ge=0, description="Bases of primary records")
    mean_mapq: float | None = Field(description="Mean MAPQ of mapped records with a MAPQ (255 excluded)")
    mapq_histogram: dict[str, int] = Field(description="Mapped records per MAPQ bin (0, 1-9, ..., 60-254, 255)")
    first: Position | None = Field(description="First record with a position")
    last: Position | None = Field(description="Last record with a position")
    chunks: int = Field(ge=0, description="Dataset chunks that can overlap the region")
    io: QueryIo
    sam: list[str] = Field(default_factory=list, description="The first 'show' records, SAM text")


def handle(request: QuerySummaryRequest) -> QuerySummaryResponse:
    """Sum :meth:`bams3.dataset.Dataset.query`'s batches with :class:`bams3.chunks.ChunkAccumulator`."""
    from ..chunks import ChunkAccumulator
    from ..dataset import Dataset
    from ..dataset.export import raw_records, sam_lines
    from ..io.metrics import IO_STATS

    with IO_STATS.scope() as scope:
        dataset = Dataset.open(request.dataset, max_concurrency=request.workers)
        region = dataset.resolve(request.region)
        chunks = len(dataset.plan(region).chunks)
        accumulator = ChunkAccumulator(chunk_size=_WHOLE_REGION)
        shown = []
        wanted = request.show
        for batch in dataset.query(region):
            accumulator.add(batch.records)
            if wanted > 0:
                shown.append(batch[:wanted])
                wanted -= len(shown[-1])
        sam = list(sam_lines(dataset.header, raw_records(shown))) if shown else []
    counts = scope.counts()
    references = tuple((r.name, r.length) for r in dataset.references)
    parts = accumulator.finish()
    summary = parts[0].to_json(references)["stats"] if parts else _no_records()
    pr = summary["position_range"]

    def position(where: dict[str, object] | None) -> Position | None:
        return None if where is None else Position(ref=str(where["ref"]), pos=int(where["pos"]) + 1)  # type: ignore[call-overload]

    return QuerySummaryResponse(
        dataset=dataset.url, region=region.to_samtools(), records=summary["total_reads"],
        mapped=summary["mapped_reads"], unmapped=summary["unmapped_reads"], duplicates=summary["duplicate_reads"],
        secondary=summary["secondary_reads"], supplementary=summary["supplementary_reads"],
        qc_failed=summary["qc_failed_reads"], paired=summary["paired_reads"],
        properly_paired=summary["properly_paired_reads"], bases=summary["total_bases"],
        mean_mapq=summary["avg_mapping_quality"], mapq_histogram=summary["mapq_histogram"],
        first=position(pr["first"]), last=position(pr["last"]), chunks=chunks,
        io=QueryIo(requests=counts.requests, bytes_fetched=counts.bytes_in), sam=sam,
    )


def _no_records() -> dict[str, object]:
    """The statistics of an empty region, in the shape of a chunk's ``stats``."""
    from ..chunks import MAPQ_BINS

    zero = dict.fromkeys(("total_reads", "mapped_reads", "unmapped_reads", "duplicate_reads", "secondary_reads",
                          "supplementary_reads", "qc_failed_reads", "paired_reads", "properly_paired_reads",
                          "total_bases"), 0)
    return {**zero, "avg_mapping_quality": None, "mapq_histogram": {label: 0 for label, _, _ in MAPQ_BINS},
            "position_range": {"first": None, "last": None}}


HANDLER = Handler(
    name="query-summary",
    summary="summarise the records of a BAMS3 dataset in a region (counts by kind, MAPQ), optionally the first N",
    request_model=QuerySummaryRequest,
    response_model=QuerySummaryResponse,
    function=handle,
)
lambda_handler = HANDLER.lambda_handler
