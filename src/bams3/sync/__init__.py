"""Data sync between local folders and S3 prefixes, batch planning for many jobs.

``bams3 sync SRC DST`` makes ``DST`` hold what ``SRC`` holds: local to S3, S3 to local and
S3 to S3 (a server-side copy, no bytes through the machine), skipping what is already
identical. ``plan`` splits the same work into batches under a byte limit (first-fit
decreasing) so that many jobs can share it; ``run_batch`` runs one of them.

The rules for what ``SRC``/``DST`` name are in :mod:`bams3.sync._endpoints`, for what is
"identical" in :mod:`bams3.sync._diff`, for ``--include``/``--exclude`` in
:mod:`bams3.sync._filters`. The request, plan and report models (JSON in and out) are in
:mod:`bams3.sync.models`.

Examples
--------
>>> from bams3.sync import SyncRequest, SyncOptions, sync          # doctest: +SKIP
>>> report = sync(SyncRequest("results/", "s3://bucket/run1/", SyncOptions(jobs=8)))
>>> report.count("copied"), report.bytes("copied")
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._filters import FilterRule, PathFilter
from ._pack import first_fit_decreasing
from .models import (
    Batch,
    BatchSyncRequest,
    CompareMode,
    ItemResult,
    PlanRequest,
    SyncItem,
    SyncOptions,
    SyncPlan,
    SyncReport,
    SyncRequest,
)

if TYPE_CHECKING:
    from ._run import SyncFailedError, plan, run_batch, sync

#: loaded on first use, so that the CLI can build its parser from the models cheaply
_LAZY = {"sync", "plan", "run_batch", "SyncFailedError"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _run

        return getattr(_run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "sync",
    "plan",
    "run_batch",
    "SyncFailedError",
    "SyncOptions",
    "SyncRequest",
    "SyncItem",
    "ItemResult",
    "SyncReport",
    "PlanRequest",
    "Batch",
    "SyncPlan",
    "BatchSyncRequest",
    "CompareMode",
    "FilterRule",
    "PathFilter",
    "first_fit_decreasing",
]
