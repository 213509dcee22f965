"""Handler ``prepare-batch-sync``: split a sync into batches under a byte limit (bin packing).

The objects that differ between source and destination are packed first-fit decreasing
into batches of at most ``batch_bytes`` (an object larger than the limit gets a batch of its
own), exactly as ``bams3 sync plan`` does. The result's ``requests`` are ready-made
``batch-sync`` requests, one per batch (a Step Functions Map state can fan them out). With
``plan_path`` the plan is also written there and the requests refer to it by index instead
of listing their objects, which keeps events small when batches hold thousands of objects.
"""
from __future__ import annotations

from pydantic import Field

from ._base import Handler, Model, ResultModel
from ._sync_models import PlanSummary, SyncOptionsModel, SyncPlanModel
from .batch_sync import BatchSyncHandlerRequest

__all__ = ["PrepareBatchSyncRequest", "PrepareBatchSyncResponse", "HANDLER", "handle", "lambda_handler"]


class PrepareBatchSyncRequest(Model):
    """What to sync and the most bytes one batch may copy."""

    source: str = Field(min_length=1, description="Local folder or s3:// prefix")
    destination: str = Field(min_length=1, description="Local folder or s3:// prefix")
    batch_bytes: int | str = Field(description="Most bytes per batch: a number, or a size such as '50GiB' or "
                                                "'500GB' (binary unless 'B' follows the unit: 50G = 50 GiB)")
    options: SyncOptionsModel = Field(default_factory=SyncOptionsModel)
    plan_path: str | None = Field(None, min_length=1, description="Also write the plan JSON here (local or s3://); "
                                                                   "the requests then refer to it")


class PrepareBatchSyncResponse(ResultModel):
    """The batches, as requests for the ``batch-sync`` handler."""

    plan_path: str | None = Field(description="Where the plan was written, if asked")
    summary: PlanSummary
    requests: list[BatchSyncHandlerRequest] = Field(description="One batch-sync request per batch, in order")


def handle(request: PrepareBatchSyncRequest) -> PrepareBatchSyncResponse:
    """Run :func:`bams3.sync.plan`; write the plan if asked; return one batch request per batch."""
    from ..jsondocs import put_json
    from ..sync import PlanRequest, SyncOptions, plan
    from ..units import parse_bytes

    result = plan(PlanRequest(request.source, request.destination, parse_bytes(request.batch_bytes),
                              SyncOptions.from_dict(request.options.model_dump())))
    document = SyncPlanModel.model_validate(result.to_dict())
    if request.plan_path is not None:
        put_json(request.plan_path, result.to_dict())
        requests = [BatchSyncHandlerRequest(plan_path=request.plan_path, index=batch.index)
                    for batch in result.batches]
    else:
        requests = [BatchSyncHandlerRequest.model_validate(result.request_for(batch.index).to_dict())
                    for batch in result.batches]
    return PrepareBatchSyncResponse(plan_path=request.plan_path, summary=document.summary,
                                    requests=requests)


HANDLER = Handler(
    name="prepare-batch-sync",
    summary="plan a sync as batches of at most batch_bytes (first-fit decreasing) for batch-sync jobs",
    request_model=PrepareBatchSyncRequest,
    response_model=PrepareBatchSyncResponse,
    function=handle,
)
lambda_handler = HANDLER.lambda_handler
