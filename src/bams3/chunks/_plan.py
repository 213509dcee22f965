"""The chunk plan: how one BAM is cut into shards (one job each) of chunks (statistics units).

Vocabulary
----------
chunk
    ``chunk_size`` consecutive records (default 1000): the unit of the per-chunk statistics.
shard
    A run of consecutive chunks sized for one job (default: about 2 M reads or 256 MiB of
    BAM, whichever comes first). A shard is a BGZF virtual-offset range to read plus a rule
    saying which of the records read belong to it.
plan
    The list of shards of one BAM, with the expected total reads and chunks. A 30x genome
    has hundreds of shards and a plan of tens of kilobytes: chunks are never listed.

Two kinds of plans (design decision)
------------------------------------
``scan`` (no index): one streaming pass over the BAM records every record's virtual
offset, so shards are cut *exactly* at multiples of ``chunk_size`` reads. Each shard
says where its first record starts (``start``), where the next shard starts (``stop``)
and how many records it has (``reads``). Chunk boundaries within shards are the global
ones, so a shard job knows its chunks' final ids and ``total_chunks`` is exact.

``index`` (``.bai``/``.csi``): the plan is made from the header and the index alone; the
BAM body is never read. An index gives exact read counts per reference (the pseudo-bin's
mapped + unmapped, plus ``n_no_coor``) and, through the linear index (BAI) or the bins'
``loffset`` (CSI), a virtual offset at or before the first read overlapping each 16 kbp
window, but not how many reads lie between two windows. So an index shard is a range
of *coordinate sort keys* ``[first, end)`` (:mod:`bams3.chunks._keys`) cut at window
boundaries, plus the virtual offset to start reading at (the window's linear-index
entry). The shard job reads from there and keeps exactly the records whose key falls in
its range: it skips earlier records that merely overlap the window and stops at the
first record past ``end``. Shard ranges tile the whole key space, so every record is in
exactly one shard. A shard also carries ``stop``, a virtual offset no record of it
starts at or after (the first leaf bin starting at or after ``end``, or the reference's
end from the pseudo-bin), so a remote job asks for a bounded byte range. The reads
without a reference (``n_no_coor``) are the last shard, starting at the largest
reference end offset; an index cannot split them further, so that shard can be larger
than the target. Shard sizes are estimated from the compressed byte distance, scaled
by each reference's reads per byte. Chunks are ``chunk_size`` consecutive reads
*within* a shard (the last chunk of a shard may be shorter), so ``total_chunks`` in an
index plan is an estimate; the aggregation assigns the global ids ``1..total_chunks``
and the true count.

Plans are validated against ``plan.schema.json`` and then for consistency (shards tile
the key space or the read count; offsets increase) whenever they are loaded.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from ..bam.bgzf import VirtualPosition
from ..errors import ConfigError, UsageError
from ..io.localfiles import write_text_atomic
from ._keys import SortKey

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ShardSizing",
    "Shard",
    "ChunkPlan",
    "load_plan",
    "save_plan",
    "plan_from_dict",
]

PLAN_FORMAT = "bams3.chunk-plan"
PLAN_VERSION = 1
#: reads per chunk when nobody says otherwise (the unit users know from the earlier system)
DEFAULT_CHUNK_SIZE = 1000
#: a BGZF block is at most this many bytes on disk (BSIZE is 16 bits): the most a job
#: must read past a virtual offset's compressed offset to finish the records before it
MAX_BLOCK_BYTES = 65536

Method = Literal["index", "scan"]


@dataclass(frozen=True, slots=True)
class ShardSizing:
    """How big a shard (one job) should be: it closes when either target is reached.

    ``None`` switches a target off. The defaults (2 M reads, 256 MiB of BAM) give a job
    tens of seconds of work on a 30x genome's BAM: long enough that Snakemake's 50-70 ms
    per job and a cluster's submission cost are noise, short enough that hundreds of
    shards spread over many cores.
    """

    reads: int | None = 2_000_000
    bytes: int | None = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.reads is None and self.bytes is None:
            raise UsageError("a shard needs a size: give a number of reads or of bytes")
        for name, value in (("reads", self.reads), ("bytes", self.bytes)):
            if value is not None and value < 1:
                raise UsageError(f"shard {name} must be positive, got {value}")

    def aligned_reads(self, chunk_size: int) -> int | None:
        """The read target rounded to a whole number of chunks (at least one)."""
        if self.reads is None:
            return None
        return max(1, self.reads // chunk_size) * chunk_size


@dataclass(frozen=True, slots=True)
class Shard:
    """One job's share of a BAM.

    Attributes
    ----------
    start
        Where the job starts reading (the first record of the shard for ``scan`` plans;
        a linear-index entry at or before it for ``index`` plans).
    stop
        No record of the shard starts at or after this position (``None``: end of file).
    first, end
        ``index`` plans: the shard keeps records with ``first <= key < end`` (``None``:
        unbounded). ``scan`` plans: both ``None``.
    reads
        Exact number of records when known (always for ``scan`` plans).
    estimated_reads
        The planner's estimate (equal to ``reads`` when that is known).
    """

    start: VirtualPosition
    stop: VirtualPosition | None
    first: SortKey | None
    end: SortKey | None
    reads: int | None
    estimated_reads: int

    def byte_range(self, bam_size: int) -> tuple[int, int]:
        """The compressed bytes ``[start, end)`` a job must fetch to read this shard.

        Up to the block holding ``stop`` when the shard ends inside a block (its last
        record may end there), and never past the end of the file.
        """
        if self.stop is None:
            return self.start.compressed, bam_size
        end = self.stop.compressed + (MAX_BLOCK_BYTES if self.stop.uncompressed else 0)
        return self.start.compressed, min(end, bam_size)

    def estimated_bytes(self, bam_size: int) -> int:
        """Compressed bytes between ``start`` and ``stop`` (the size the planner aimed at)."""
        stop = bam_size if self.stop is None else self.stop.compressed
        return max(0, stop - self.start.compressed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": int(self.start),
            "stop": None if self.stop is None else int(self.stop),
            "first": None if self.first is None else [self.first.ref_id, self.first.pos],
            "end": None if self.end is None else [self.end.ref_id, self.end.pos],
            "reads": self.reads,
            "estimated_reads": self.estimated_reads,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shard:
        return cls(
            start=VirtualPosition.from_int(data["start"]),
            stop=None if data["stop"] is None else VirtualPosition.from_int(data["stop"]),
            first=None if data["first"] is None else SortKey(*data["first"]),
            end=None if data["end"] is None else SortKey(*data["end"]),
            reads=data["reads"],
            estimated_reads=data["estimated_reads"],
        )


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """The shards of one BAM. Build with the planners in :mod:`bams3.chunks`; load with :func:`load_plan`.

    ``bam_url`` and ``index_url`` are for people (signatures redacted): jobs are given the
    real URL separately, and check it is the same object through ``bam_size`` and
    ``bam_etag``.
    """

    bam_url: str
    bam_size: int
    bam_etag: str | None
    index_url: str | None
    index_format: Literal["bai", "csi"] | None
    method: Method
    chunk_size: int
    sizing: ShardSizing
    total_reads: int
    total_chunks: int
    references: tuple[tuple[str, int], ...]
    shards: tuple[Shard, ...]
    planning_bytes_read: int = 0
    planning_requests: int = 0
    #: global id of each shard's first chunk (scan plans); computed, not serialised
    _first_chunk_ids: tuple[int, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_consistency(self)
        if self.method == "scan":
            ids, next_id = [], 1
            for shard in self.shards:
                ids.append(next_id)
                next_id += math.ceil((shard.reads or 0) / self.chunk_size)
            object.__setattr__(self, "_first_chunk_ids", tuple(ids))

    @property
    def chunk_ids_final(self) -> bool:
        """Whether shard jobs know their chunks' global ids (and ``total_chunks`` is exact).

        True for ``scan`` plans (shards start at multiples of ``chunk_size``) and for plans
        of a single shard; otherwise the aggregation numbers the chunks.
        """
        return self.method == "scan" or len(self.shards) <= 1

    def first_chunk_id(self, shard: int) -> int | None:
        """Global id of shard ``shard``'s first chunk when the plan fixes it, else ``None``."""
        self.shard(shard)  # a clear error for a shard the plan does not have
        if self._first_chunk_ids is not None:
            return self._first_chunk_ids[shard]
        return 1 if self.chunk_ids_final else None

    def shard(self, index: int) -> Shard:
        """Shard ``index`` (0-based), with a clear error for a number the plan does not have."""
        if not 0 <= index < len(self.shards):
            raise UsageError(f"plan of {self.bam_url} has {len(self.shards)} shards (0..{len(self.shards) - 1}); no shard {index}")
        return self.shards[index]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "bam": {"url": self.bam_url, "size": self.bam_size, "etag": self.bam_etag},
            "index": None if self.index_url is None else {"url": self.index_url, "format": self.index_format},
            "method": self.method,
            "chunk_size": self.chunk_size,
            "sizing": {"shard_reads": self.sizing.reads, "shard_bytes": self.sizing.bytes},
            "total_reads": self.total_reads,
            "total_chunks": self.total_chunks,
            "references": [[name, length] for name, length in self.references],
            "shards": [shard.to_dict() for shard in self.shards],
            "planning": {"bytes_read": self.planning_bytes_read, "requests": self.planning_requests},
        }


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(resources.files(__package__).joinpath("plan.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def plan_from_dict(data: Any, *, source: str = "plan") -> ChunkPlan:
    """Validate a plan document (schema, then consistency) and build the :class:`ChunkPlan`.

    Raises
    ------
    ConfigError
        The document does not follow the schema or contradicts itself; the message names
        ``source`` and the first problem.
    """
    error = next(iter(sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(f"{source}: not a valid bams3 chunk plan: at {where}: {error.message}")
    index = data["index"]
    try:
        return ChunkPlan(
            bam_url=data["bam"]["url"],
            bam_size=data["bam"]["size"],
            bam_etag=data["bam"]["etag"],
            index_url=None if index is None else index["url"],
            index_format=None if index is None else index["format"],
            method=data["method"],
            chunk_size=data["chunk_size"],
            sizing=ShardSizing(reads=data["sizing"]["shard_reads"], bytes=data["sizing"]["shard_bytes"]),
            total_reads=data["total_reads"],
            total_chunks=data["total_chunks"],
            references=tuple((name, length) for name, length in data["references"]),
            shards=tuple(Shard.from_dict(s) for s in data["shards"]),
            planning_bytes_read=data["planning"]["bytes_read"],
            planning_requests=data["planning"]["requests"],
        )
    except (ValueError, UsageError) as exc:
        raise ConfigError(f"{source}: inconsistent bams3 chunk plan: {exc}") from None


def load_plan(path: str | os.PathLike[str]) -> ChunkPlan:
    """Read and validate a plan file (see :func:`plan_from_dict`)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        from ..errors import ObjectNotFoundError

        raise ObjectNotFoundError(f"{os.fspath(path)}: plan file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{os.fspath(path)}: not JSON: {exc}") from None
    return plan_from_dict(data, source=os.fspath(path))


def save_plan(plan: ChunkPlan, path: str | os.PathLike[str]) -> None:
    """Write ``plan`` as JSON, atomically (a reader never sees half a plan)."""
    write_text_atomic(path, json.dumps(plan.to_dict(), indent=1) + "\n")


def _check_consistency(plan: ChunkPlan) -> None:
    """Raise ``ValueError`` when the plan's parts contradict each other.

    These are the invariants the shard jobs and the aggregation rely on: shards in file
    order; for ``scan`` plans, exact read counts on chunk boundaries summing to the total;
    for ``index`` plans, key ranges that tile the whole key space without gaps.
    """
    shards = plan.shards
    if plan.chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {plan.chunk_size}")
    if not shards:
        if plan.total_reads:
            raise ValueError(f"no shards for {plan.total_reads} reads")
        return
    for before, after in zip(shards, shards[1:]):
        if after.start < before.start:
            raise ValueError("shard start offsets go backwards")
    for shard in shards:
        if shard.stop is not None and shard.stop < shard.start:
            raise ValueError(f"a shard stops ({shard.stop}) before it starts ({shard.start})")
        if shard.stop is not None and shard.stop.compressed > plan.bam_size:
            raise ValueError(f"a shard stops at byte {shard.stop.compressed}, past the end of the BAM ({plan.bam_size})")
    if plan.method == "scan":
        if any(s.reads is None or s.first is not None or s.end is not None for s in shards):
            raise ValueError("a scan plan's shards have exact read counts and no key ranges")
        if any(s.reads % plan.chunk_size for s in shards[:-1]):
            raise ValueError("a scan plan's shards (but the last) hold whole chunks")
        if sum(s.reads for s in shards) != plan.total_reads:
            raise ValueError("the shards' reads do not add up to total_reads")
        if plan.total_chunks != math.ceil(plan.total_reads / plan.chunk_size):
            raise ValueError("total_chunks is not total_reads / chunk_size rounded up")
        for before, after in zip(shards, shards[1:]):
            if before.stop != after.start:
                raise ValueError("a scan plan's shard must stop where the next one starts")
    else:
        if shards[0].first is not None or shards[-1].end is not None:
            raise ValueError("an index plan's shards must cover the key space from start to end")
        for before, after in zip(shards, shards[1:]):
            if before.end is None or after.first is None or before.end != after.first:
                raise ValueError("an index plan's shard ranges must meet without gaps or overlaps")
            if not before.end > (before.first or SortKey(0, -1)):
                raise ValueError("an index plan's shard has an empty key range")
        known = [s.reads for s in shards if s.reads is not None]
        if sum(known) > plan.total_reads:
            raise ValueError("the shards' exact read counts exceed total_reads")
