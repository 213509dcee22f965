"""One shard job: read the shard's byte range of the BAM and write its per-chunk statistics.

The job fetches only ``Shard.byte_range`` (one bounded ranged stream for remote BAMs),
decodes the records between the shard's virtual offsets, keeps those that belong to it
(by sort key for ``index`` plans, by count for ``scan`` plans), and accumulates chunk
statistics with :class:`~bams3.chunks._stats.ChunkAccumulator`. Memory is one read-ahead
slab plus one batch, whatever the size of the BAM or of the shard.

Before reading, the job checks that the BAM is the object the plan was made from (size
and entity tag): ranges of a replaced file would decode as garbage or, worse, as
plausible records. After reading it checks the counts the plan knows exactly. Outputs
are written atomically, so a failing shard leaves nothing behind.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..bam.bgzf import VirtualPosition
from ..bam.header import BamHeader, Reference
from ..bam.reader import BamReader
from ..errors import BamFormatError, IntegrityError
from ..io.localfiles import atomic_path
from ._keys import pack_keys
from ._plan import ChunkPlan, Shard
from ._stats import ChunkAccumulator, ChunkStats

__all__ = ["ShardReport", "ShardScan", "run_shard", "chunk_json", "ChunkLines", "check_same_bam"]


@dataclass(frozen=True, slots=True)
class ShardReport:
    """What one shard job did (written next to its chunks as ``*.info.json``)."""

    shard: int
    chunks: int
    reads: int
    #: bytes received from remote stores (read-ahead included; 0 for local files)
    bytes_fetched: int
    #: compressed bytes the job took from its stream (local or remote)
    bytes_consumed: int
    requests: int
    seconds: float

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


def check_same_bam(url: str, plan: ChunkPlan) -> None:
    """Refuse to read a BAM that is not the one ``plan`` was made from.

    Raises
    ------
    IntegrityError
        Its size or entity tag differs from the plan's.
    """
    from ..io import redact, stat

    info = stat(url)
    if info.size != plan.bam_size or (plan.bam_etag is not None and info.etag is not None and info.etag != plan.bam_etag):
        raise IntegrityError(
            f"{redact(url)}: the BAM changed since the chunk plan was made (now {info.size} bytes, "
            f"ETag {info.etag}; the plan has {plan.bam_size} bytes, ETag {plan.bam_etag}): make the plan again"
        )


class ShardScan:
    """Iterate over the statistics of one shard's chunks, in order; then read the tallies.

    Parameters
    ----------
    url
        The BAM (local path, ``file://``, ``s3://`` or ``http(s)://``), the same object the
        plan describes.
    plan, index
        The plan and the 0-based shard number.
    threads
        BGZF inflate threads.
    on_records
        Called with the number of records kept after each batch (progress).

    Attributes
    ----------
    reads
        Records of the shard seen so far.
    bytes_consumed
        Compressed bytes taken from the stream (the shard's span plus read-ahead).

    Raises
    ------
    BgzfError, BamFormatError
        (While iterating.) Damaged data in the shard's range, a BAM that is not
        coordinate-sorted under an ``index`` plan, or fewer records than the plan counted.
    """

    def __init__(
        self,
        url: str,
        plan: ChunkPlan,
        index: int,
        *,
        threads: int = 1,
        on_records: Callable[[int], None] | None = None,
    ) -> None:
        self.url, self.plan, self.index = url, plan, index
        self.shard = plan.shard(index)
        self.threads = threads
        self.on_records = on_records
        self.reads = 0
        self.bytes_consumed = 0

    def __iter__(self) -> Iterator[ChunkStats]:
        from ..io import open_input, redact

        plan, shard = self.plan, self.shard
        name = redact(self.url)
        header = BamHeader(text="", references=tuple(Reference(n, length) for n, length in plan.references), raw=b"")
        start, end = shard.byte_range(plan.bam_size)
        keep = _keyed_filter(shard, name) if plan.method == "index" else _counted_filter(shard)
        accumulator = ChunkAccumulator(chunk_size=plan.chunk_size)
        with open_input(self.url, start, end) as stream:
            reader = BamReader.from_virtual_range(stream, shard.start, shard.stop, header=header, name=name, threads=self.threads)
            with reader:
                for batch in reader.batches():
                    rows, done = keep(batch.records)
                    if len(rows):
                        yield from accumulator.add(rows)
                        self.reads = accumulator.records
                        if self.on_records is not None:
                            self.on_records(len(rows))
                    if done:
                        break
            self.bytes_consumed = stream.tell() - start
        yield from accumulator.finish()
        if shard.reads is not None and self.reads != shard.reads:
            raise BamFormatError(
                f"{name}: shard {self.index} holds {self.reads} records where the plan counted {shard.reads}: "
                "the BAM or its index changed, or the data ends early"
            )


def _keyed_filter(shard: Shard, name: str) -> Callable[[np.ndarray], tuple[np.ndarray, bool]]:
    """Keep records with ``first <= key < end``; done once a key reaches ``end``."""
    lo = None if shard.first is None else np.uint64(shard.first.packed)
    hi = None if shard.end is None else np.uint64(shard.end.packed)
    last_key = np.uint64(0)

    def keep(rows: np.ndarray) -> tuple[np.ndarray, bool]:
        nonlocal last_key
        keys = pack_keys(rows["ref_id"], rows["pos"])
        if len(keys) == 0:
            return rows, False
        before = np.concatenate(([last_key], keys[:-1]))
        if bool(np.any(keys < before)):
            where = VirtualPosition.from_int(int(rows["voffset"][int(np.argmax(keys < before))]))
            raise BamFormatError(
                f"{name}: the BAM is not coordinate-sorted (the record at virtual offset {where} belongs before "
                "the one preceding it), so its index cannot be used: plan without the index"
            )
        last_key = keys[-1]
        a = 0 if lo is None else int(np.searchsorted(keys, lo, side="left"))
        b = len(keys) if hi is None else int(np.searchsorted(keys, hi, side="left"))
        return rows[a:b], b < len(keys)

    return keep


def _counted_filter(shard: Shard) -> Callable[[np.ndarray], tuple[np.ndarray, bool]]:
    """Keep the shard's first ``reads`` records (a scan plan's shard starts at its first record)."""
    remaining = shard.reads or 0

    def keep(rows: np.ndarray) -> tuple[np.ndarray, bool]:
        nonlocal remaining
        taken = rows[:remaining]
        remaining -= len(taken)
        return taken, remaining == 0

    return keep


def chunk_json(
    stats: ChunkStats,
    *,
    references: tuple[tuple[str, int], ...],
    chunk_size: int,
    bam_url: str,
    shard: int,
    chunk_in_shard: int,
    chunk_id: int | None,
    total_chunks: int | None,
) -> dict[str, object]:
    """The JSON object of one chunk (ARCHITECTURE.md's schema plus extras)."""
    out = stats.to_json(references)
    out["chunk_info"] = {
        "chunk_id": chunk_id,
        "total_chunks": total_chunks,
        "bam_url": bam_url,
        "chunk_size": chunk_size,
        "shard": shard,
        "chunk_in_shard": chunk_in_shard,
        "first_voffset": stats.first_voffset,
    }
    return out


class ChunkLines:
    """One shard's chunks as lines of JSON: the compact text of :func:`chunk_json`, formatted directly.

    Reference names and the shard's constant members are encoded once; each chunk then
    costs one string format instead of a nested dict and a ``json.dumps`` (a fifth of
    the time).
    """

    def __init__(self, *, references: tuple[tuple[str, int], ...], chunk_size: int, bam_url: str, shard: int) -> None:
        self._ref_json = [json.dumps(name) for name, _ in references]
        self._info = f',"bam_url":{json.dumps(bam_url)},"chunk_size":{chunk_size},"shard":{shard},"chunk_in_shard":'

    def line(self, stats: ChunkStats, *, chunk_in_shard: int, chunk_id: int | None, total_chunks: int | None) -> str:
        """``json.dumps(chunk_json(...), separators=(",", ":"))`` for this chunk, without the newline."""
        chunk_id_text = "null" if chunk_id is None else chunk_id
        total_text = "null" if total_chunks is None else total_chunks
        return (
            f'{{{stats.json_members(self._ref_json)},"chunk_info":{{"chunk_id":{chunk_id_text},'
            f'"total_chunks":{total_text}{self._info}{chunk_in_shard},"first_voffset":{stats.first_voffset}}}}}'
        )


def run_shard(
    url: str,
    plan: ChunkPlan,
    index: int,
    output: str | os.PathLike[str],
    *,
    info_output: str | os.PathLike[str] | None = None,
    threads: int = 1,
    check_bam: bool = True,
    on_records: Callable[[int], None] | None = None,
) -> ShardReport:
    """Compute shard ``index``'s chunk statistics and write them as JSON Lines to ``output``.

    Chunks carry their final ``chunk_id`` and ``total_chunks`` when the plan fixes them
    (:attr:`ChunkPlan.chunk_ids_final`); otherwise both are ``null`` and the aggregation
    fills them in. ``info_output`` receives the :class:`ShardReport` as JSON. Both files
    appear only if the whole shard succeeds.
    """
    with ExitStack() as outputs:
        # both files are renamed into place only once everything below has succeeded
        tmp = outputs.enter_context(atomic_path(output))
        info_tmp = None if info_output is None else outputs.enter_context(atomic_path(info_output))
        report = _write_chunks(url, plan, index, tmp, threads=threads, check_bam=check_bam, on_records=on_records)
        if info_tmp is not None:
            info_tmp.write_text(json.dumps(report.to_dict()) + "\n", encoding="utf-8")
    return report


def _write_chunks(
    url: str,
    plan: ChunkPlan,
    index: int,
    path: Path,
    *,
    threads: int,
    check_bam: bool,
    on_records: Callable[[int], None] | None,
) -> ShardReport:
    """Write the chunks of shard ``index`` to ``path`` (not atomically: the caller renames) and report."""
    from ..io import IO_STATS, redact

    began = time.monotonic()
    bam_url = redact(url)
    first_id = plan.first_chunk_id(index)
    total = plan.total_chunks if plan.chunk_ids_final else None
    with IO_STATS.scope() as io:
        if check_bam:
            check_same_bam(url, plan)
        n = 0
        scan = ShardScan(url, plan, index, threads=threads, on_records=on_records)
        lines = ChunkLines(references=plan.references, chunk_size=plan.chunk_size, bam_url=bam_url, shard=index)
        with open(path, "w", encoding="utf-8") as out:
            for n, stats in enumerate(scan, start=1):
                chunk_id = None if first_id is None else first_id + n - 1
                out.write(lines.line(stats, chunk_in_shard=n - 1, chunk_id=chunk_id, total_chunks=total) + "\n")
    counts = io.counts()
    return ShardReport(
        shard=index,
        chunks=n,
        reads=scan.reads,
        bytes_fetched=counts.bytes_in,
        bytes_consumed=scan.bytes_consumed,
        requests=counts.requests,
        seconds=round(time.monotonic() - began, 3),
    )
