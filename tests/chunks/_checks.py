"""Assertions shared by the chunk tests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from bams3.bam.reader import BamReader
from bams3.chunks import SampleOutputs, ShardOutput, aggregate_shards, load_plan, run_shard, save_plan
from bams3.chunks._plan import ChunkPlan

from .conftest import samtools_flagstat


def record_voffsets(path: Path) -> np.ndarray:
    """Every record's virtual offset, in file order (a full pass with the batch reader)."""
    with open(path, "rb") as handle, BamReader(handle, name=str(path)) as reader:
        return np.concatenate([b.records["voffset"] for b in reader.batches()] or [np.zeros(0, np.uint64)])


def run_plan(url: str, plan: ChunkPlan, workdir: Path) -> dict[str, Any]:
    """Save the plan, run every shard as the workflow would (one call each), aggregate."""
    save_plan(plan, workdir / "plan.json")
    plan = load_plan(workdir / "plan.json")
    shards = []
    for k in range(len(plan.shards)):
        out = ShardOutput(workdir / "shards" / f"{k}.jsonl", workdir / "shards" / f"{k}.info.json")
        run_shard(url, plan, k, out.chunks, info_output=out.info)
        shards.append(out)
    outputs = SampleOutputs(jsonl=workdir / "chunk_stats.jsonl", summary=workdir / "summary.json",
                            parquet=workdir / "chunk_stats.parquet", chunk_dir=workdir / "chunk_files")
    return aggregate_shards(plan, shards, outputs, sample="s")


def check_outputs(bam: Path, workdir: Path, summary: dict[str, Any], *, chunk_size: int) -> list[dict[str, Any]]:
    """Totals equal samtools flagstat; ids are 1..N; the chunks tile the records in order."""
    assert summary["flagstat"] == samtools_flagstat(bam)
    rows = [json.loads(line) for line in (workdir / "chunk_stats.jsonl").read_text().splitlines()]
    n = len(rows)
    assert summary["total_chunks"] == n
    assert [r["chunk_info"]["chunk_id"] for r in rows] == list(range(1, n + 1))
    assert all(r["chunk_info"]["total_chunks"] == n for r in rows)
    sizes = np.array([r["stats"]["total_reads"] for r in rows], dtype=np.int64)
    assert bool(np.all((sizes >= 1) & (sizes <= chunk_size)))
    voffsets = record_voffsets(bam)
    assert int(sizes.sum()) == len(voffsets) == summary["total_reads"]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    # each chunk starts exactly at the record after the previous chunk's last: no read lost or seen twice
    assert [r["chunk_info"]["first_voffset"] for r in rows] == voffsets[starts].tolist()
    table = pq.read_table(workdir / "chunk_stats.parquet")
    assert table.num_rows == n and table.column("chunk_id").to_pylist() == list(range(1, n + 1))
    assert table.column("total_reads").to_pylist() == sizes.tolist()
    files = sorted((workdir / "chunk_files").iterdir(), key=lambda p: int(p.stem.split("_")[1]))
    assert [p.name for p in files] == [f"chunk_{i}.json" for i in range(1, n + 1)]
    assert json.loads(files[-1].read_text()) == rows[-1]
    return rows
