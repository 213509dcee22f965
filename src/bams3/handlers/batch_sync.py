"""Handler ``batch-sync``: copy one batch of objects, e.g. one of ``prepare-batch-sync``'s requests.

Two forms of request:

- inline: ``{"source", "destination", "items": [{"key", "size"}...], "options", "index"}``;
- by reference: ``{"plan_path": "s3://bucket/plans/run-1.json", "index": 3}`` (a plan written by
  ``prepare-batch-sync`` or ``bams3 sync plan``; keeps the event small for big batches).

``allow_partial_failure`` (top level, overriding the options) tries every object and lists
the failures in the result instead of stopping at the first. Each object is checked again
before it is copied, so a batch can be retried safely.
"""
from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, model_validator

from ._base import Handler, Model
from ._sync_models import SyncItemModel, SyncOptionsModel, SyncReportModel
from .sync import report_from_error

__all__ = ["BatchSyncHandlerRequest", "HANDLER", "handle", "lambda_handler"]

_INLINE = ("source", "destination", "items", "options")


class BatchSyncHandlerRequest(Model):
    """One batch: inline (source, destination, items) or by reference (plan_path and index)."""

    # the two forms, for JSON Schema validators (absent and null mean the same)
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={
        "oneOf": [
            {"required": ["plan_path", "index"],
             "properties": {"plan_path": {"type": "string"}, "index": {"type": "integer"},
                            **{name: {"type": "null"} for name in _INLINE}}},
            {"required": ["source", "destination", "items"],
             "properties": {"source": {"type": "string"}, "destination": {"type": "string"},
                            "items": {"type": "array"}, "plan_path": {"type": "null"}}},
        ]})

    source: str | None = Field(None, min_length=1, description="Source root (inline form)")
    destination: str | None = Field(None, min_length=1, description="Destination root (inline form)")
    items: list[SyncItemModel] | None = Field(None, description="Objects to copy (inline form)")
    options: SyncOptionsModel | None = Field(None, description="Sync options (inline form)")
    plan_path: str | None = Field(None, min_length=1, description="A sync plan JSON (local or s3://) to take "
                                                                   "batch 'index' from")
    index: int | None = Field(None, ge=0, description="The batch number (required with plan_path)")
    allow_partial_failure: bool | None = Field(
        None, description="Try every object and report failures instead of stopping at the first "
                          "(overrides the options or the plan)")

    @model_validator(mode="after")
    def _one_form(self) -> BatchSyncHandlerRequest:
        if self.plan_path is not None:
            given = [name for name in _INLINE if getattr(self, name) is not None]
            if given:
                raise ValueError(f"give either plan_path and index, or source, destination and items; "
                                 f"not both (also got {', '.join(given)})")
            if self.index is None:
                raise ValueError("plan_path needs index (which batch of the plan to run)")
        else:
            missing = [name for name in ("source", "destination", "items") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"missing {', '.join(missing)} (or give plan_path and index)")
        return self

    def to_library(self) -> Any:
        """The :class:`bams3.sync.BatchSyncRequest` this request names (reads the plan if referenced)."""
        from dataclasses import replace

        from ..jsondocs import get_json
        from ..sync import BatchSyncRequest, SyncPlan

        if self.plan_path is not None:
            plan = SyncPlan.from_dict(get_json(self.plan_path))
            return plan.request_for(int(self.index), allow_partial_failure=self.allow_partial_failure)  # type: ignore[arg-type]
        data = self.model_dump(include={"source", "destination", "items", "options", "index"}, exclude_none=True)
        request = BatchSyncRequest.from_dict(data)
        if self.allow_partial_failure is not None:
            request = replace(request, options=request.options.evolve(allow_partial_failure=self.allow_partial_failure))
        return request


def handle(request: BatchSyncHandlerRequest) -> SyncReportModel:
    """Run :func:`bams3.sync.run_batch` on the batch and return its report."""
    from ..sync import run_batch

    report = run_batch(request.to_library(), show_progress=False)
    return SyncReportModel.model_validate(report.to_dict())


HANDLER = Handler(
    name="batch-sync",
    summary="copy one batch of objects (inline, or batch K of a plan), optionally allowing partial failure",
    request_model=BatchSyncHandlerRequest,
    response_model=SyncReportModel,
    function=handle,
    recover=report_from_error,
)
lambda_handler = HANDLER.lambda_handler
