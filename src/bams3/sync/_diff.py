"""Deciding what a sync does with each path, from the two listings alone (no I/O).

The rules (documented for users in ``bams3 sync --help``):

- absent at the destination: copy ("new");
- sizes differ: copy ("size differs");
- ``compare="mtime"``: copy when the source is newer than the destination at whole-second
  resolution, else skip. This is the ``aws s3 sync`` rule, chosen over recording the
  source time in object metadata because it also recognises objects that other tools
  (``aws s3 sync``, the Snakemake S3 plugin) uploaded, and because S3 sets
  ``LastModified`` at upload, which is never earlier than the local file it was read from.
  Downloads and local copies are given the source's modification time, so a second run
  finds them equal;
- ``compare="size"``: skip;
- ``compare="checksum"``: equal sizes still need their contents compared ("verify"),
  which the transfer step does (it needs I/O);
- with ``delete``: a destination path that the source lacks is deleted.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from .models import CompareMode, SyncItem

__all__ = ["Listed", "Decision", "decide", "diff", "mtime_seconds"]

DecisionKind = Literal["copy", "skip", "verify", "delete"]


class Listed(Protocol):
    """What a listing tells about an object (``bams3.io.ObjectInfo`` fits)."""

    @property
    def size(self) -> int: ...

    @property
    def mtime(self) -> float | datetime | None: ...


@dataclass(frozen=True)
class Decision:
    """What to do with one path, and why (the reason goes into the report)."""

    item: SyncItem
    kind: DecisionKind
    reason: str
    #: what the listings said (the transfer step needs them to verify and copy)
    source: Listed | None = None
    destination: Listed | None = None


def mtime_seconds(mtime: float | datetime | None) -> int | None:
    """Whole seconds since the epoch, the resolution at which S3 keeps ``LastModified``."""
    if mtime is None:
        return None
    if isinstance(mtime, datetime):
        mtime = mtime.timestamp()
    return math.floor(mtime)


def decide(item: SyncItem, src: Listed, dst: Listed | None, compare: CompareMode) -> Decision:
    """Copy, skip or verify one source object against what the destination holds."""
    def decision(kind: DecisionKind, reason: str) -> Decision:
        return Decision(item, kind, reason, src, dst)

    if dst is None:
        return decision("copy", "new")
    if src.size != dst.size:
        return decision("copy", "size differs")
    if compare == "size":
        return decision("skip", "same size")
    if compare == "checksum":
        return decision("verify", "same size")
    src_time, dst_time = mtime_seconds(src.mtime), mtime_seconds(dst.mtime)
    if src_time is None or dst_time is None:
        return decision("copy", "modification time unknown")
    if src_time > dst_time:
        return decision("copy", "source newer")
    return decision("skip", "unchanged")


def diff(
    sources: Iterable[tuple[SyncItem, Listed]],
    destination: Mapping[str, Listed],
    *,
    compare: CompareMode,
    delete: bool,
) -> list[Decision]:
    """Decisions for every source object, then deletions of what only the destination has.

    Parameters
    ----------
    sources
        Each source object (already filtered) with the path it gets at the destination.
    destination
        The destination listing (already filtered), keyed by path under its root.
    compare
        See :func:`decide`.
    delete
        Also decide to delete destination paths no source object maps to.

    Returns
    -------
    list of Decision
        Source objects in the order given, then deletions in key order.
    """
    decisions: list[Decision] = []
    targets: set[str] = set()
    for item, info in sources:
        targets.add(item.target)
        decisions.append(decide(item, info, destination.get(item.target), compare))
    if delete:
        for key in sorted(destination):
            if key not in targets:
                info = destination[key]
                decisions.append(Decision(SyncItem(key, info.size), "delete", "absent from source", None, info))
    return decisions
