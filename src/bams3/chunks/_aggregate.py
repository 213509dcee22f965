"""Per-sample outputs: the chunk table (JSON Lines, Parquet, optional one file per chunk) and the summary.

The shard jobs' JSON Lines files are read in shard order, chunk by chunk, and written
out again with their global ``chunk_id`` (1..total_chunks) and the true
``total_chunks``; nothing holds more than one Parquet row group in memory. The summary
adds every chunk's counters: its ``flagstat`` block has the shape of ``samtools
flagstat -O json`` and the same numbers. Before anything is renamed into place, the
totals are checked against the plan (the index's or the scan's exact read count), so
a lost or duplicated shard fails the aggregation instead of producing a wrong table.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..bam.flagstat import FlagstatCounts
from ..errors import IntegrityError
from ..io.localfiles import atomic_dir, atomic_path, write_text_atomic
from ._plan import ChunkPlan
from ._stats import FLAGSTAT_KEYS, MAPQ_BINS

__all__ = ["SampleOutputs", "ShardOutput", "ChunkTableWriter", "SummaryBuilder", "aggregate_shards", "flagstat_counts"]

#: rows per Parquet row group: the rows of one group are held as Python values (~3 KB a row)
#: before they are written, so this bounds the aggregation's memory (~50 MB)
PARQUET_ROW_GROUP = 16384


@dataclass(frozen=True, slots=True)
class SampleOutputs:
    """Where a sample's outputs go (``None``: do not write that one)."""

    jsonl: Path
    summary: Path
    parquet: Path | None = None
    chunk_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class ShardOutput:
    """A finished shard job's files: its chunks (JSON Lines) and its report (JSON)."""

    chunks: Path
    info: Path


def _column_name(key: str) -> str:
    return key.replace(" (mapQ >= 5)", " mapq5").replace(" ", "_")


def _parquet_schema() -> Any:
    import pyarrow as pa

    columns = [
        ("chunk_id", pa.int64()),
        ("total_chunks", pa.int64()),
        ("bam_url", pa.string()),
        ("chunk_size", pa.int64()),
        ("shard", pa.int64()),
        ("chunk_in_shard", pa.int64()),
        ("first_voffset", pa.uint64()),
        ("total_reads", pa.int64()),
        ("mapped_reads", pa.int64()),
        ("unmapped_reads", pa.int64()),
        ("avg_mapping_quality", pa.float64()),
        ("mapq_sum", pa.int64()),
        ("mapq_count", pa.int64()),
        ("pos_min", pa.int64()),
        ("pos_max", pa.int64()),
        ("pos_max_end", pa.int64()),
        ("first_ref", pa.string()),
        ("first_pos", pa.int64()),
        ("last_ref", pa.string()),
        ("last_pos", pa.int64()),
        ("references", pa.list_(pa.string())),
        ("primary_reads", pa.int64()),
        ("secondary_reads", pa.int64()),
        ("supplementary_reads", pa.int64()),
        ("duplicate_reads", pa.int64()),
        ("qc_failed_reads", pa.int64()),
        ("paired_reads", pa.int64()),
        ("properly_paired_reads", pa.int64()),
        ("total_bases", pa.int64()),
    ]
    columns += [(f"mapq_{label.replace('-', '_')}", pa.int64()) for label, _, _ in MAPQ_BINS]
    for key in FLAGSTAT_KEYS:
        columns += [(f"flagstat_{_column_name(key)}_passed", pa.int64()), (f"flagstat_{_column_name(key)}_failed", pa.int64())]
    return pa.schema(columns)


_STAT_COLUMNS = (
    "total_reads", "mapped_reads", "unmapped_reads", "avg_mapping_quality", "mapq_sum", "mapq_count",
    "primary_reads", "secondary_reads", "supplementary_reads", "duplicate_reads", "qc_failed_reads",
    "paired_reads", "properly_paired_reads", "total_bases",
)
_INFO_COLUMNS = ("chunk_id", "total_chunks", "bam_url", "chunk_size", "shard", "chunk_in_shard", "first_voffset")
#: (histogram label, column) and (flagstat key, passed column, failed column), named once
_MAPQ_COLUMNS = tuple((label, f"mapq_{label.replace('-', '_')}") for label, _, _ in MAPQ_BINS)
_FLAGSTAT_COLUMNS = tuple(
    (key, f"flagstat_{_column_name(key)}_passed", f"flagstat_{_column_name(key)}_failed") for key in FLAGSTAT_KEYS
)


def _flat_row(record: dict[str, Any]) -> dict[str, Any]:
    """One chunk's JSON object as one flat Parquet row."""
    stats, info = record["stats"], record["chunk_info"]
    pr = stats["position_range"]
    row = {key: info[key] for key in _INFO_COLUMNS}
    row.update({key: stats[key] for key in _STAT_COLUMNS})
    first, last = pr["first"] or {}, pr["last"] or {}
    row.update(
        pos_min=pr["min"], pos_max=pr["max"], pos_max_end=pr["max_end"],
        first_ref=first.get("ref"), first_pos=first.get("pos"), last_ref=last.get("ref"), last_pos=last.get("pos"),
        references=stats["references"],
    )
    histogram = stats["mapq_histogram"]
    for label, column in _MAPQ_COLUMNS:
        row[column] = histogram[label]
    flagstat = record["flagstat"]
    for key, passed_column, failed_column in _FLAGSTAT_COLUMNS:
        row[passed_column], row[failed_column] = flagstat[key]
    return row


def _arrow_array(values: list[Any], type: Any) -> Any:
    """A pyarrow array of Python values (``None`` for null) of one of the chunk table's types.

    Built from buffers rather than with ``pa.array``: ``pa.array`` checks whether its
    input is a pandas object, which imports pandas (0.5 s of start-up) when it is
    installed, though the chunk table never needs it.
    """
    import pyarrow as pa

    n = len(values)
    present = [v is not None for v in values]
    nulls = n - sum(present)
    validity = None if not nulls else pa.py_buffer(np.packbits(np.array(present, dtype=bool), bitorder="little"))
    if pa.types.is_list(type):
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum([len(v) if v is not None else 0 for v in values], out=offsets[1:])
        child = _arrow_array([item for v in values if v is not None for item in v], type.value_type)
        return pa.Array.from_buffers(type, n, [validity, pa.py_buffer(offsets)], null_count=nulls, children=[child])
    if pa.types.is_string(type):
        encoded = [v.encode("utf-8") if v is not None else b"" for v in values]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return pa.Array.from_buffers(
            type, n, [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))], null_count=nulls
        )
    dtype = np.dtype(type.to_pandas_dtype())  # int64, uint64 or float64: a numpy dtype, no pandas involved
    data = np.array([v if v is not None else 0 for v in values], dtype=dtype)
    return pa.Array.from_buffers(type, n, [validity, pa.py_buffer(data)], null_count=nulls)


class ChunkTableWriter:
    """Write final chunk objects to JSON Lines, Parquet and per-chunk files; publish all or nothing.

    Use as a context manager: on a clean exit every output is renamed into place, on an
    exception every temporary file is removed and earlier outputs are left untouched.
    """

    def __init__(self, outputs: SampleOutputs) -> None:
        self._outputs = outputs
        self._stack = ExitStack()
        self._parquet: Any = None
        self._columns: dict[str, list[Any]] = {}
        self._rows = 0
        self._chunk_dir: Path | None = None

    def __enter__(self) -> ChunkTableWriter:
        stack, outputs = self._stack, self._outputs
        try:
            self._jsonl = stack.enter_context(open(stack.enter_context(atomic_path(outputs.jsonl)), "w", encoding="utf-8"))
            if outputs.parquet is not None:
                import pyarrow.parquet as pq

                self._schema = _parquet_schema()
                self._columns = {name: [] for name in self._schema.names}
                tmp = stack.enter_context(atomic_path(outputs.parquet))
                self._parquet = stack.enter_context(pq.ParquetWriter(tmp, self._schema, compression="zstd"))
            if outputs.chunk_dir is not None:
                self._chunk_dir = stack.enter_context(atomic_dir(outputs.chunk_dir))
        except BaseException:
            stack.__exit__(*sys.exc_info())
            raise
        return self

    def write(self, record: dict[str, Any], text: str | None = None) -> None:
        """Add one chunk (its ``chunk_info.chunk_id`` must be final); ``text`` is its compact
        JSON when the caller has it already."""
        if text is None:
            text = json.dumps(record, separators=(",", ":"))
        self._jsonl.write(text + "\n")
        if self._chunk_dir is not None:
            (self._chunk_dir / f"chunk_{record['chunk_info']['chunk_id']}.json").write_text(text + "\n", encoding="utf-8")
        if self._parquet is not None:
            for name, value in _flat_row(record).items():
                self._columns[name].append(value)
            self._rows += 1
            if self._rows >= PARQUET_ROW_GROUP:
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            arrays = [_arrow_array(self._columns[field.name], field.type) for field in self._schema]
            self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
            self._columns = {name: [] for name in self._columns}
            self._rows = 0

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            try:
                self._flush()
            except BaseException:
                self._stack.__exit__(*sys.exc_info())
                raise
        self._stack.__exit__(exc_type, exc, tb)


def flagstat_counts(passed: list[int], failed: list[int]) -> FlagstatCounts:
    """The :class:`~bams3.bam.flagstat.FlagstatCounts` of the 16 QC-passed and QC-failed counters.

    Its fields are the samtools categories in :data:`FLAGSTAT_KEYS` order, so the chunk
    counters map onto them one to one; its ``to_json`` gives samtools' document.
    """
    names = [f.name for f in fields(FlagstatCounts)]
    return FlagstatCounts(**{name: (p, f) for name, p, f in zip(names, passed, failed, strict=True)})


class SummaryBuilder:
    """Add up chunk objects into the per-sample summary."""

    def __init__(self) -> None:
        self.chunks = 0
        self._passed = [0] * len(FLAGSTAT_KEYS)
        self._failed = [0] * len(FLAGSTAT_KEYS)
        self._sums = dict.fromkeys(("total_reads", "mapped_reads", "unmapped_reads", "total_bases", "mapq_sum", "mapq_count"), 0)
        self._hist = dict.fromkeys((label for label, _, _ in MAPQ_BINS), 0)
        self._references: set[str] = set()

    def add(self, record: dict[str, Any]) -> None:
        self.chunks += 1
        stats = record["stats"]
        for key in self._sums:
            self._sums[key] += stats[key]
        for label, count in stats["mapq_histogram"].items():
            self._hist[label] += count
        for i, key in enumerate(FLAGSTAT_KEYS):
            passed, failed = record["flagstat"][key]
            self._passed[i] += passed
            self._failed[i] += failed
        self._references.update(stats["references"])

    @property
    def total_reads(self) -> int:
        return self._sums["total_reads"]

    def build(self, plan: ChunkPlan, *, sample: str | None, bam_url: str, io: dict[str, int]) -> dict[str, Any]:
        s = self._sums
        order = {name: i for i, (name, _) in enumerate(plan.references)}
        return {
            "sample": sample,
            "bam_url": bam_url,
            "chunk_size": plan.chunk_size,
            "total_chunks": self.chunks,
            "total_reads": s["total_reads"],
            "mapped_reads": s["mapped_reads"],
            "unmapped_reads": s["unmapped_reads"],
            "avg_mapping_quality": round(s["mapq_sum"] / s["mapq_count"], 4) if s["mapq_count"] else None,
            "total_bases": s["total_bases"],
            "mapq_histogram": self._hist,
            "references": sorted(self._references, key=order.__getitem__),
            "flagstat": flagstat_counts(self._passed, self._failed).to_json(),
            "plan": {
                "method": plan.method,
                "shards": len(plan.shards),
                "index_url": plan.index_url,
                "bam_size": plan.bam_size,
            },
            "io": io,
        }


def _read_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each line of a JSON Lines file (without its newline) and its object."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.strip():
                yield line, json.loads(line)


#: where a shard line (compact JSON, chunk_info last, as run_shard writes it) numbers its chunk
_NUMBERING = re.compile(r'"chunk_info":\{"chunk_id":(?:null|-?\d+),"total_chunks":(?:null|-?\d+),')


def _renumbered(line: str, chunk_id: int, total_chunks: int) -> str | None:
    """``line`` with the final ``chunk_id`` and ``total_chunks``; ``None`` if it is not in
    run_shard's form.

    The same text as serialising the parsed object again, at a fraction of the cost (it
    was a third of the aggregation's time). The key cannot occur elsewhere unescaped:
    inside JSON strings every quote is escaped.
    """
    at = line.rfind('"chunk_info":{"chunk_id":')
    match = _NUMBERING.match(line, at) if at >= 0 else None
    if match is None:
        return None
    return f'{line[:at]}"chunk_info":{{"chunk_id":{chunk_id},"total_chunks":{total_chunks},{line[match.end():]}'


def aggregate_shards(
    plan: ChunkPlan,
    shards: Iterable[ShardOutput],
    outputs: SampleOutputs,
    *,
    sample: str | None = None,
) -> dict[str, Any]:
    """Number the shards' chunks 1..total_chunks, write the sample's outputs, return the summary.

    Raises
    ------
    IntegrityError
        The shard files do not match the plan: wrong number of shards, a shard whose
        chunk count differs from its report, or a total read count other than the plan's.
    """
    shards = list(shards)
    if len(shards) != len(plan.shards):
        raise IntegrityError(f"{plan.bam_url}: {len(shards)} shard outputs for a plan of {len(plan.shards)} shards")
    infos = [json.loads(s.info.read_text(encoding="utf-8")) for s in shards]
    total_chunks = sum(info["chunks"] for info in infos)
    io = {
        "bytes_fetched": plan.planning_bytes_read + sum(info["bytes_fetched"] for info in infos),
        "requests": plan.planning_requests + sum(info["requests"] for info in infos),
        "bytes_consumed": sum(info["bytes_consumed"] for info in infos),
    }
    summary = SummaryBuilder()
    with ChunkTableWriter(outputs) as table:
        for k, (shard, info) in enumerate(zip(shards, infos)):
            before = summary.chunks
            for line, record in _read_jsonl(shard.chunks):
                chunk_info = record["chunk_info"]
                if chunk_info["shard"] != k:
                    raise IntegrityError(f"{shard.chunks}: holds chunks of shard {chunk_info['shard']}, not of shard {k}")
                chunk_info["chunk_id"] = summary.chunks + 1
                chunk_info["total_chunks"] = total_chunks
                summary.add(record)
                table.write(record, _renumbered(line, chunk_info["chunk_id"], total_chunks))
            if summary.chunks - before != info["chunks"]:
                raise IntegrityError(f"{shard.chunks}: {summary.chunks - before} chunks, its report says {info['chunks']}")
        if summary.total_reads != plan.total_reads:
            raise IntegrityError(
                f"{plan.bam_url}: the shards hold {summary.total_reads} reads, the plan counted {plan.total_reads}"
            )
    # the summary last: its presence means the tables are complete
    result = summary.build(plan, sample=sample, bam_url=plan.bam_url, io=io)
    write_text_atomic(outputs.summary, json.dumps(result, indent=1) + "\n")
    return result
