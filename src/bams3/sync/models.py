"""Typed requests and responses of the sync operations, as plain JSON-able values.

The CLI, the Snakemake scripts and the serverless handlers all speak these models, so a
plan written by ``bams3 sync plan`` on a laptop can be run batch by batch by Lambda or
AWS Batch jobs. Each model is a frozen dataclass with ``to_dict`` / ``from_dict``;
``from_dict`` validates what it reads (a plan is a file a user may have edited) and raises
:class:`bams3.errors.ConfigError` with one line saying which field is wrong.

Paths inside plans and reports are relative to the sync roots, ``/``-separated. A
single-object sync whose destination has another name carries that name in ``dest_key``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

from ..errors import ConfigError, UsageError
from ._filters import FilterRule, PathFilter

__all__ = [
    "CompareMode",
    "ItemAction",
    "SyncOptions",
    "SyncRequest",
    "SyncItem",
    "ItemResult",
    "SyncReport",
    "PlanRequest",
    "Batch",
    "SyncPlan",
    "BatchSyncRequest",
    "PLAN_FORMAT",
    "PLAN_VERSION",
]

#: how "already identical" is decided: size and modification time, size alone, or content
CompareMode = Literal["mtime", "size", "checksum"]
#: what happened to one path
ItemAction = Literal["copied", "skipped", "deleted", "failed"]

PLAN_FORMAT = "bams3.sync-plan"
PLAN_VERSION = 1
REPORT_FORMAT = "bams3.sync-report"


def _require(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what}: expected a JSON object, got {type(data).__name__}")
    if name not in data:
        raise ConfigError(f"{what}: missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ConfigError(f"{what}: field {name!r} has the wrong type ({type(value).__name__})")
    return value


@dataclass(frozen=True, kw_only=True)
class SyncOptions:
    """How a sync behaves; every knob has its single default here.

    Attributes
    ----------
    compare
        ``"mtime"`` (default): skip when sizes match and the destination is at least as new
        as the source, compared at whole seconds (the ``aws s3 sync`` rule; S3 keeps
        ``LastModified`` at one-second resolution and sets it at upload, downloads get the
        source's time). ``"size"``: skip when sizes match. ``"checksum"``: skip when the
        contents match (MD5 from a single-part ETag when there is one, else read and hash).
    delete
        Remove destination objects that the source lacks (only those the filters include;
        never when the source is missing, never after a failed copy).
    dry_run
        Decide everything, change nothing; the report says what would happen.
    filters
        ``--include`` / ``--exclude`` rules (see :mod:`bams3.sync._filters`).
    jobs
        Objects transferred at the same time.
    fail_if_missing
        A missing source is an error instead of an empty sync.
    move
        Delete each source object once an identical destination copy is proven to exist.
        Implies content comparison for the objects it would otherwise skip, so nothing is
        deleted on the strength of a size and a date.
    allow_partial_failure
        Finish every item and report the failures instead of stopping at the first one.
    part_size
        Multipart part size in bytes for uploads from local files; an object larger than
        one part is uploaded in parts, several at a time. ``None`` lets :mod:`bams3.io`
        choose (at least 5 MiB, growing with the object so it never needs more than
        10,000 parts).
    """

    compare: CompareMode = "mtime"
    delete: bool = False
    dry_run: bool = False
    filters: PathFilter = field(default_factory=PathFilter)
    jobs: int = 4
    fail_if_missing: bool = False
    move: bool = False
    allow_partial_failure: bool = False
    part_size: int | None = None

    def __post_init__(self) -> None:
        if self.compare not in get_args(CompareMode):
            raise UsageError(f"compare must be one of {', '.join(get_args(CompareMode))}, got {self.compare!r}")
        if self.jobs < 1:
            raise UsageError(f"jobs must be at least 1, got {self.jobs}")
        if self.move and self.compare == "size":
            raise UsageError("--move needs proof that the destination is identical: it cannot be combined "
                             "with --size-only")
        if self.part_size is not None:
            self._check_part_size(self.part_size)

    @staticmethod
    def _check_part_size(part_size: int) -> None:
        from ..io.multipart import MAX_PART_SIZE, MIN_PART_SIZE  # only when asked: io is not free to import

        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise UsageError(f"part size must be between {MIN_PART_SIZE} (5 MiB) and {MAX_PART_SIZE} (5 GiB) "
                             f"bytes, S3's limits; got {part_size}")

    @property
    def skip_compare(self) -> CompareMode:
        """The comparison that decides skips (``--move`` always compares content)."""
        return "checksum" if self.move else self.compare

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["filters"] = self.filters.to_list()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncOptions:
        """Read options; absent keys keep their defaults, unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"sync options: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"sync options: unknown field(s) {', '.join(unknown)}")
        values = dict(data)
        if "filters" in values:
            try:
                values["filters"] = PathFilter.from_list(values["filters"])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"sync options: bad filters: {exc}") from exc
        try:
            return cls(**values)
        except UsageError as exc:
            raise ConfigError(f"sync options: {exc}") from exc

    def evolve(self, **changes: Any) -> SyncOptions:
        """A copy with some options changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class SyncRequest:
    """``bams3 sync SRC DST``: a local folder or file, or an ``s3://`` prefix or object, each way."""

    source: str
    destination: str
    options: SyncOptions = field(default_factory=SyncOptions)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "destination": self.destination, "options": self.options.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncRequest:
        what = "sync request"
        return cls(_require(data, "source", str, what), _require(data, "destination", str, what),
                   SyncOptions.from_dict(data.get("options", {})))


@dataclass(frozen=True)
class SyncItem:
    """One object to consider: its path under the source root, size, and destination path."""

    key: str
    size: int
    dest_key: str | None = None

    @property
    def target(self) -> str:
        """Path under the destination root (the same as ``key`` unless renamed)."""
        return self.key if self.dest_key is None else self.dest_key

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "size": self.size}
        if self.dest_key is not None:
            out["dest_key"] = self.dest_key
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncItem:
        what = "sync item"
        size = _require(data, "size", int, what)
        if size < 0:
            raise ConfigError(f"{what} {data.get('key')!r}: negative size")
        dest_key = data.get("dest_key")
        if dest_key is not None and not isinstance(dest_key, str):
            raise ConfigError(f"{what}: field 'dest_key' must be a string")
        return cls(_require(data, "key", str, what), size, dest_key)


@dataclass(frozen=True)
class ItemResult:
    """What a sync did (or, in a dry run, would do) with one path.

    ``bytes`` is the object's size (for ``copied`` the bytes written at the destination,
    whether they crossed the client or were copied server-side). ``source_deleted`` is
    true when ``--move`` removed the source after the copy was proven.
    """

    key: str
    action: ItemAction
    bytes: int
    reason: str
    dest_key: str | None = None
    source_deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "bytes": self.bytes, "reason": self.reason}
        if self.dest_key is not None:
            out["dest_key"] = self.dest_key
        if self.source_deleted:
            out["source_deleted"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], action: ItemAction) -> ItemResult:
        what = f"{action} item"
        return cls(_require(data, "key", str, what), action, _require(data, "bytes", int, what),
                   _require(data, "reason", str, what), data.get("dest_key"), bool(data.get("source_deleted", False)))


_ACTIONS: tuple[ItemAction, ...] = get_args(ItemAction)


@dataclass(frozen=True)
class SyncReport:
    """The outcome of a sync or of one batch: every path, grouped by what happened.

    The JSON form has a ``summary`` (count and bytes per action) and one list per action,
    so ``jq '.failed[].key'`` lists what to look at. ``io`` holds the request and byte
    counters of the run when they were measured (they show, for instance, that an
    S3-to-S3 sync moved no object bytes through the client).
    """

    source: str
    destination: str
    results: tuple[ItemResult, ...]
    dry_run: bool = False
    batch_index: int | None = None
    io: Mapping[str, Any] | None = None

    def of(self, action: ItemAction) -> tuple[ItemResult, ...]:
        return tuple(r for r in self.results if r.action == action)

    def count(self, action: ItemAction) -> int:
        return sum(1 for r in self.results if r.action == action)

    def bytes(self, action: ItemAction) -> int:
        return sum(r.bytes for r in self.results if r.action == action)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def summary_line(self) -> str:
        """``copied 3 (1.2 GiB), skipped 10 (4.0 GiB), deleted 0, failed 0`` for people."""
        from ..units import format_bytes

        verb = "would be " if self.dry_run else ""
        parts = []
        for action in _ACTIONS:
            n = self.count(action)
            text = f"{action} {n}"
            if n and action != "failed":
                text += f" ({format_bytes(self.bytes(action))})"
            parts.append(text)
        return f"{self.source} -> {self.destination}: {verb}" + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": REPORT_FORMAT,
            "source": self.source,
            "destination": self.destination,
            "dry_run": self.dry_run,
        }
        if self.batch_index is not None:
            out["batch_index"] = self.batch_index
        out["summary"] = {a: {"count": self.count(a), "bytes": self.bytes(a)} for a in _ACTIONS}
        for action in _ACTIONS:
            out[action] = [r.to_dict() for r in self.results if r.action == action]
        if self.io is not None:
            out["io"] = dict(self.io)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncReport:
        what = "sync report"
        results = []
        for action in _ACTIONS:
            for item in _require(data, action, list, what):
                results.append(ItemResult.from_dict(item, action))
        batch_index = data.get("batch_index")
        return cls(_require(data, "source", str, what), _require(data, "destination", str, what), tuple(results),
                   dry_run=bool(data.get("dry_run", False)), batch_index=batch_index, io=data.get("io"))

    @classmethod
    def merge(cls, source: str, destination: str, reports: list[SyncReport]) -> SyncReport:
        """One report for the batches of one sync (the workflow's final report; a plan may have none)."""
        results = tuple(sorted((r for report in reports for r in report.results), key=lambda r: r.key))
        return cls(source, destination, results, dry_run=bool(reports) and all(r.dry_run for r in reports))


@dataclass(frozen=True)
class PlanRequest:
    """``bams3 sync plan``: split a sync into batches of at most ``batch_bytes``."""

    source: str
    destination: str
    batch_bytes: int
    options: SyncOptions = field(default_factory=SyncOptions)

    def __post_init__(self) -> None:
        if self.batch_bytes <= 0:
            raise UsageError(f"batch size must be positive, got {self.batch_bytes}")
        if self.options.delete:
            raise UsageError("a batch plan does not delete: run 'bams3 sync SRC DST --delete' once the batches "
                             "are done (it skips what they copied)")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "destination": self.destination, "batch_bytes": self.batch_bytes,
                "options": self.options.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanRequest:
        what = "plan request"
        return cls(_require(data, "source", str, what), _require(data, "destination", str, what),
                   _require(data, "batch_bytes", int, what), SyncOptions.from_dict(data.get("options", {})))


@dataclass(frozen=True)
class Batch:
    """One batch of a plan: the objects one job copies."""

    index: int
    items: tuple[SyncItem, ...]

    @property
    def bytes(self) -> int:
        return sum(item.size for item in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "bytes": self.bytes, "items": [item.to_dict() for item in self.items]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Batch:
        what = "plan batch"
        items = tuple(SyncItem.from_dict(item) for item in _require(data, "items", list, what))
        return cls(_require(data, "index", int, what), items)


@dataclass(frozen=True)
class BatchSyncRequest:
    """Run a list of items from ``source`` to ``destination`` (one batch of a plan)."""

    source: str
    destination: str
    items: tuple[SyncItem, ...]
    options: SyncOptions = field(default_factory=SyncOptions)
    index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "destination": self.destination,
                               "items": [item.to_dict() for item in self.items], "options": self.options.to_dict()}
        if self.index is not None:
            out["index"] = self.index
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchSyncRequest:
        what = "batch sync request"
        items = tuple(SyncItem.from_dict(item) for item in _require(data, "items", list, what))
        return cls(_require(data, "source", str, what), _require(data, "destination", str, what), items,
                   SyncOptions.from_dict(data.get("options", {})), data.get("index"))


@dataclass(frozen=True)
class SyncPlan:
    """The batches of a sync, written by ``bams3 sync plan`` and read by ``bams3 sync batch``.

    ``source`` and ``destination`` are the roots the item keys are relative to. Objects found
    unchanged at planning time are not in any batch (``skipped_*`` counts them); each batch
    checks its objects again when it runs, so a plan can be re-run safely.
    """

    source: str
    destination: str
    batch_bytes: int
    options: SyncOptions
    batches: tuple[Batch, ...]
    skipped_count: int = 0
    skipped_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(batch.bytes for batch in self.batches)

    def request_for(self, index: int, *, allow_partial_failure: bool | None = None) -> BatchSyncRequest:
        """The request that runs batch ``index`` (``allow_partial_failure`` overrides the plan's)."""
        if not 0 <= index < len(self.batches):
            raise UsageError(f"batch index {index} is out of range: the plan has {len(self.batches)} batch(es)")
        options = self.options
        if allow_partial_failure is not None:
            options = options.evolve(allow_partial_failure=allow_partial_failure)
        return BatchSyncRequest(self.source, self.destination, self.batches[index].items, options, index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "source": self.source,
            "destination": self.destination,
            "batch_bytes": self.batch_bytes,
            "options": self.options.to_dict(),
            "summary": {"batches": len(self.batches), "objects": sum(len(b.items) for b in self.batches),
                        "bytes": self.total_bytes, "skipped_objects": self.skipped_count,
                        "skipped_bytes": self.skipped_bytes},
            "batches": [batch.to_dict() for batch in self.batches],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncPlan:
        what = "sync plan"
        if _require(data, "format", str, what) != PLAN_FORMAT:
            raise ConfigError(f"{what}: not a sync plan (format {data['format']!r}, expected {PLAN_FORMAT!r})")
        version = _require(data, "version", int, what)
        if version != PLAN_VERSION:
            raise ConfigError(f"{what}: unsupported version {version} (this bams3 reads version {PLAN_VERSION})")
        batches = tuple(Batch.from_dict(b) for b in _require(data, "batches", list, what))
        for position, batch in enumerate(batches):
            if batch.index != position:
                raise ConfigError(f"{what}: batch at position {position} has index {batch.index}")
        summary = data.get("summary", {})
        return cls(_require(data, "source", str, what), _require(data, "destination", str, what),
                   _require(data, "batch_bytes", int, what), SyncOptions.from_dict(data.get("options", {})),
                   batches, int(summary.get("skipped_objects", 0)), int(summary.get("skipped_bytes", 0)))
