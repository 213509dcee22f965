"""The JSON shapes of :mod:`bams3.sync.models`, as pydantic models for requests, responses and schemas.

These models describe the JSON that :class:`bams3.sync.SyncOptions`, ``SyncRequest``,
``SyncReport`` and ``SyncPlan`` read and write (``from_dict`` / ``to_dict``); the handlers
validate events with them and hand the result to those ``from_dict`` methods, so the sync
rules (what ``--move`` may be combined with, byte limits) stay in :mod:`bams3.sync`.
Defaults are read from the library's own models, never restated here. The handler tests
check that every ``to_dict`` output validates against these models, so the two cannot drift
apart unnoticed.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ..sync.models import PLAN_FORMAT, PLAN_VERSION, REPORT_FORMAT, SyncOptions
from ._base import Model, ResultModel

__all__ = [
    "FilterRuleModel",
    "SyncOptionsModel",
    "SyncItemModel",
    "ItemResultModel",
    "ActionTotals",
    "SyncReportModel",
    "PlanSummary",
    "BatchModel",
    "SyncPlanModel",
]

_DEFAULT = SyncOptions()

FilterRuleModel = Annotated[
    dict[Literal["include", "exclude"], Annotated[str, Field(min_length=1)]],
    Field(min_length=1, max_length=1,
          description='One rule: {"include": GLOB} or {"exclude": GLOB}; globs match paths relative to the source '
                      "('*' crosses '/'); every path starts included and the last matching rule wins"),
]


class SyncOptionsModel(Model):
    """How a sync behaves (the options of ``bams3 sync``)."""

    compare: Literal["mtime", "size", "checksum"] = Field(
        _DEFAULT.compare, description="What counts as already identical: mtime (same size, destination at least as "
                                      "new), size, or checksum (same content)")
    delete: bool = Field(_DEFAULT.delete, description="Delete destination objects the source lacks (sync only)")
    dry_run: bool = Field(_DEFAULT.dry_run, description="Decide everything, change nothing")
    filters: list[FilterRuleModel] = Field(default_factory=list, description="Include/exclude rules, in order")
    jobs: int = Field(_DEFAULT.jobs, ge=1, description="Objects transferred at once")
    fail_if_missing: bool = Field(_DEFAULT.fail_if_missing, description="A missing source is an error, not an "
                                                                          "empty sync")
    move: bool = Field(_DEFAULT.move, description="Delete each source object once an identical copy is proven")
    allow_partial_failure: bool = Field(
        _DEFAULT.allow_partial_failure,
        description="Try every object and list failures in the report, instead of stopping at the first")
    part_size: int | None = Field(_DEFAULT.part_size, ge=5 * 2**20, le=5 * 2**30,
                                  description="Multipart part size in bytes (default: grows with the object)")


class SyncItemModel(Model):
    """One object of a batch: its path under the source root and its size."""

    key: str = Field(min_length=1, description="Path relative to the source root, '/'-separated")
    size: int = Field(ge=0, description="Size in bytes when planned")
    dest_key: str | None = Field(None, description="Path under the destination root when it differs from key")


class ItemResultModel(ResultModel):
    """What happened to one object."""

    key: str
    bytes: int = Field(ge=0, description="The object's size")
    reason: str = Field(description="Why (new, changed, identical, or the error)")
    dest_key: str | None = None
    source_deleted: bool = Field(False, description="The source was removed after the copy (move)")


class ActionTotals(ResultModel):
    count: int = Field(ge=0)
    bytes: int = Field(ge=0)


class SyncReportModel(ResultModel):
    """The report of a sync or of one batch (what ``bams3 sync --report`` writes)."""

    format: Literal[REPORT_FORMAT]  # type: ignore[valid-type]
    source: str = Field(description="Source root (redacted)")
    destination: str = Field(description="Destination root (redacted)")
    dry_run: bool
    batch_index: int | None = None
    summary: dict[Literal["copied", "skipped", "deleted", "failed"], ActionTotals]
    copied: list[ItemResultModel]
    skipped: list[ItemResultModel]
    deleted: list[ItemResultModel]
    failed: list[ItemResultModel]
    io: dict[str, Any] | None = Field(None, description="Requests and bytes per scheme and operation")


class PlanSummary(ResultModel):
    batches: int = Field(ge=0)
    objects: int = Field(ge=0, description="Objects to copy, over all batches")
    bytes: int = Field(ge=0, description="Bytes to copy, over all batches")
    skipped_objects: int = Field(ge=0, description="Objects already identical when planned")
    skipped_bytes: int = Field(ge=0)


class BatchModel(ResultModel):
    index: int = Field(ge=0)
    bytes: int = Field(ge=0)
    items: list[SyncItemModel]


class SyncPlanModel(ResultModel):
    """A batch plan (what ``bams3 sync plan`` writes)."""

    format: Literal[PLAN_FORMAT]  # type: ignore[valid-type]
    version: Literal[PLAN_VERSION]  # type: ignore[valid-type]
    source: str
    destination: str
    batch_bytes: int = Field(gt=0)
    options: SyncOptionsModel
    summary: PlanSummary
    batches: list[BatchModel]
