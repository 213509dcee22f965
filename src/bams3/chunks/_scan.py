"""``bams3 scan``: plan, every shard and the aggregation in one process, with a progress bar.

With an index, the shards run in a pool of ``workers`` (threads or processes) exactly as
the workflow's jobs would, each writing its JSON Lines file into a hidden folder of
the output directory, and the aggregation then numbers the chunks. Without an index
there is nothing to fan out before the BAM has been read once, so the statistics are
computed *during* the planning pass (one read of the BAM, not two), with ``workers``
threads inflating BGZF blocks.
"""
from __future__ import annotations

import bisect
import itertools
import json
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._aggregate import SampleOutputs, ShardOutput, aggregate_shards
from ._plan import DEFAULT_CHUNK_SIZE, ChunkPlan, ShardSizing, save_plan
from ._planner import find_index, plan_by_scan, plan_from_index
from ._shard import ChunkLines, ShardReport, run_shard
from ._stats import ChunkAccumulator, ChunkStats

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ..bam.header import BamHeader

__all__ = ["ScanResult", "scan", "PoolKind"]

PoolKind = Literal["thread", "process"]

#: compressed BAM bytes each worker process must get for a process pool to pay for itself:
#: starting one costs ~0.4 s (measured: 0.79 s against 0.42 s in-process on a 28 MB BAM cut
#: into 4 shards), the time one core takes to decode ~80 MB of BAM
_PROCESS_POOL_MIN_BYTES_PER_WORKER = 96 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Where ``scan`` put its outputs, and the summary it wrote."""

    plan: Path
    outputs: SampleOutputs
    summary: dict[str, Any]


def output_layout(directory: Path, *, parquet: bool, chunk_files: bool) -> SampleOutputs:
    """The files of one sample's results in ``directory`` (the workflow uses the same names)."""
    return SampleOutputs(
        jsonl=directory / "chunk_stats.jsonl",
        summary=directory / "summary.json",
        parquet=directory / "chunk_stats.parquet" if parquet else None,
        chunk_dir=directory / "chunk_files" if chunk_files else None,
    )


def scan(
    bam_url: str,
    output_dir: str | Path,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    sizing: ShardSizing = ShardSizing(),
    index_url: str | None = None,
    use_index: bool = True,
    workers: int = 2,
    pool: PoolKind = "process",
    parquet: bool = True,
    chunk_files: bool = False,
    sample: str | None = None,
    progress: bool = True,
) -> ScanResult:
    """Compute the per-chunk statistics of a whole BAM into ``output_dir``.

    Writes ``plan.json``, ``chunk_stats.jsonl``, ``chunk_stats.parquet`` (unless
    ``parquet=False``), ``chunk_files/chunk_<id>.json`` (with ``chunk_files``) and, last,
    ``summary.json``.

    Parameters
    ----------
    workers
        Shards processed at once (index plans), or inflate threads (single pass).
    pool
        Run shards in processes or in threads. Inflate, the record walker and the chunk
        statistics release the GIL, the per-batch glue holds it. A process pool is only
        started when every worker gets at least 96 MiB of BAM: below that its start-up
        (~0.4 s) costs more than the second worker saves, and the shards run here, one
        after the other.
    """
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    outputs = output_layout(directory, parquet=parquet, chunk_files=chunk_files)
    plan_path = directory / "plan.json"
    if use_index:
        index_url = index_url or find_index(bam_url)
    work = directory / f".shards-{uuid.uuid4().hex}"
    work.mkdir()
    try:
        if not use_index or index_url is None:
            summary = _single_pass(bam_url, plan_path, outputs, work, chunk_size=chunk_size, sizing=sizing,
                                   threads=workers, sample=sample, progress=progress)
        else:
            plan = plan_from_index(bam_url, index_url, chunk_size=chunk_size, sizing=sizing)
            save_plan(plan, plan_path)
            shards = _run_shards(bam_url, plan, work, workers=workers, pool=pool, progress=progress)
            summary = aggregate_shards(plan, shards, outputs, sample=sample)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ScanResult(plan=plan_path, outputs=outputs, summary=summary)


def _run_shards(bam_url: str, plan: ChunkPlan, work: Path, *, workers: int, pool: PoolKind, progress: bool) -> list[ShardOutput]:
    """Every shard of ``plan`` in a pool; their outputs in shard order."""
    from ..io import redact
    from ..progress import progress as progress_bar

    shards = [ShardOutput(work / f"{k}.jsonl", work / f"{k}.info.json") for k in range(len(plan.shards))]
    with progress_bar(f"scan {redact(bam_url)}", total=plan.total_reads, unit="reads", enabled=progress) as bar:
        small = pool == "process" and plan.bam_size < _PROCESS_POOL_MIN_BYTES_PER_WORKER * min(workers, len(shards))
        if workers == 1 or len(shards) <= 1 or small:  # no pool to start: the shards one after the other, here
            for k, out in enumerate(shards):
                run_shard(bam_url, plan, k, out.chunks, info_output=out.info, check_bam=False, on_records=bar.update)
            return shards
        from concurrent.futures import as_completed

        with _executor(pool, workers) as executor:
            futures = [executor.submit(_run_one, bam_url, plan, k, out) for k, out in enumerate(shards)]
            try:
                for future in as_completed(futures):
                    bar.update(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return shards


def _executor(pool: PoolKind, workers: int) -> Executor:
    """The shard pool (imported here: multiprocessing costs start-up time that one worker never needs)."""
    if pool == "process":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bams3-shard")


def _run_one(bam_url: str, plan: ChunkPlan, index: int, out: ShardOutput) -> int:
    """One shard in a worker; returns its reads (for the progress bar)."""
    return run_shard(bam_url, plan, index, out.chunks, info_output=out.info, check_bam=False).reads


class _ShardFiles:
    """Write a single pass's chunks into per-shard JSON Lines files, as the shard jobs would.

    Shards of a scan plan start at chunk boundaries, and every shard start at or before a
    chunk's first record is known by the time the chunk completes, so each chunk goes to
    its shard's file as soon as it is done. The files then feed the same aggregation as
    the workflow's shard outputs.
    """

    def __init__(self, work: Path, *, bam_url: str, chunk_size: int) -> None:
        self.work = work
        self.bam_url = bam_url
        self.chunk_size = chunk_size
        self.accumulator = ChunkAccumulator(chunk_size=chunk_size)
        self.outputs: list[ShardOutput] = []
        self._references: tuple[tuple[str, int], ...] = ()
        self._file: Any = None
        self._lines: ChunkLines | None = None
        self._chunks = 0  # chunks written, all shards
        self._shard_chunks = 0
        self._shard_reads = 0

    def on_records(self, header: BamHeader, rows: np.ndarray, shard_starts: Sequence[int]) -> None:
        if not self._references:
            self._references = tuple((r.name, r.length) for r in header.references)
        for stats in self.accumulator.add(rows):
            self._write(stats, shard_starts)

    def finish(self, shard_starts: Sequence[int]) -> None:
        for stats in self.accumulator.finish():
            self._write(stats, shard_starts)
        self._close_shard()

    def _write(self, stats: ChunkStats, shard_starts: Sequence[int]) -> None:
        shard = bisect.bisect_right(shard_starts, self._chunks * self.chunk_size) - 1
        if shard != len(self.outputs) - 1:
            self._close_shard()
            out = ShardOutput(self.work / f"{shard}.jsonl", self.work / f"{shard}.info.json")
            self.outputs.append(out)
            self._file = open(out.chunks, "w", encoding="utf-8")  # noqa: SIM115 - closed in _close_shard
            self._lines = ChunkLines(references=self._references, chunk_size=self.chunk_size, bam_url=self.bam_url,
                                     shard=shard)
        self._chunks += 1
        self._file.write(self._lines.line(stats, chunk_in_shard=self._shard_chunks, chunk_id=self._chunks,
                                          total_chunks=None) + "\n")
        self._shard_chunks += 1
        self._shard_reads += stats.total_reads

    def _close_shard(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        report = ShardReport(shard=len(self.outputs) - 1, chunks=self._shard_chunks, reads=self._shard_reads,
                             bytes_fetched=0, bytes_consumed=0, requests=0, seconds=0.0)
        self.outputs[-1].info.write_text(json.dumps(report.to_dict()) + "\n", encoding="utf-8")
        self._shard_chunks = self._shard_reads = 0


def _single_pass(
    bam_url: str,
    plan_path: Path,
    outputs: SampleOutputs,
    work: Path,
    *,
    chunk_size: int,
    sizing: ShardSizing,
    threads: int,
    sample: str | None,
    progress: bool,
) -> dict[str, Any]:
    """No index: plan and compute every chunk's statistics in the same streaming pass.

    The planning pass's I/O (the whole BAM, once) is the plan's ``planning`` cost; the
    shard reports carry none, so the summary counts every byte once.
    """
    from ..io import redact, stat
    from ..progress import progress as progress_bar

    name = redact(bam_url)
    sink = _ShardFiles(work, bam_url=name, chunk_size=chunk_size)
    with progress_bar(f"scan {name}", total=stat(bam_url).size, unit="B", enabled=progress) as bar:
        done = 0

        def on_records(header: BamHeader, rows: np.ndarray, shard_starts: Sequence[int]) -> None:
            nonlocal done
            sink.on_records(header, rows, shard_starts)
            coffset = int(rows["voffset"][-1]) >> 16
            bar.update(coffset - done)
            done = coffset

        plan = plan_by_scan(bam_url, chunk_size=chunk_size, sizing=sizing, threads=threads, on_records=on_records)
        sink.finish(list(itertools.accumulate((s.reads or 0 for s in plan.shards[:-1]), initial=0)))
    save_plan(plan, plan_path)
    return aggregate_shards(plan, sink.outputs, outputs, sample=sample)
