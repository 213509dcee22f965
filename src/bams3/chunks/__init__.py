"""Streaming chunk statistics: plan a BAM into shards, compute per-chunk stats per shard, aggregate.

A *chunk* is ``chunk_size`` consecutive reads (default 1000), the unit of statistics;
a *shard* is a run of chunks sized for one job. The three steps map onto the workflow's
three rules and onto ``bams3 plan`` / ``bams3 chunk-stats`` / ``bams3 scan``:

1. :func:`make_plan` -> :class:`ChunkPlan` (from the index and header alone when there is
   an index, else one streaming pass), saved with :func:`save_plan`, loaded and
   validated with :func:`load_plan`;
2. :func:`run_shard` reads only its shard's byte range and writes one JSON object per chunk;
3. :func:`aggregate_shards` numbers the chunks 1..total_chunks and writes the chunk table
   (JSON Lines, Parquet, optional per-chunk files) and a summary equal to ``samtools flagstat``.

:func:`scan` does all three in one process. Design notes are in :mod:`bams3.chunks._plan`.
"""
from __future__ import annotations

from ._aggregate import SampleOutputs, ShardOutput, aggregate_shards
from ._keys import SortKey
from ._plan import DEFAULT_CHUNK_SIZE, ChunkPlan, Shard, ShardSizing, load_plan, plan_from_dict, save_plan
from ._planner import find_index, make_plan, plan_by_scan, plan_from_index
from ._scan import ScanResult, scan
from ._shard import ShardReport, ShardScan, run_shard
from ._stats import FLAGSTAT_KEYS, MAPQ_BINS, ChunkAccumulator, ChunkStats

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ChunkPlan",
    "Shard",
    "ShardSizing",
    "SortKey",
    "load_plan",
    "save_plan",
    "plan_from_dict",
    "make_plan",
    "plan_by_scan",
    "plan_from_index",
    "find_index",
    "ShardReport",
    "ShardScan",
    "run_shard",
    "ChunkAccumulator",
    "ChunkStats",
    "FLAGSTAT_KEYS",
    "MAPQ_BINS",
    "SampleOutputs",
    "ShardOutput",
    "aggregate_shards",
    "ScanResult",
    "scan",
]
