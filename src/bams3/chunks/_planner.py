"""Make a chunk plan for a BAM: from its index when there is one, else by one streaming pass.

See :mod:`bams3.chunks._plan` for what a plan is and why the two kinds differ. This module
does the I/O: finding the index next to the BAM, reading the header and the index
(never the BAM body) for an ``index`` plan, or streaming every record once for a
``scan`` plan. What each costs is recorded in the plan (``planning.bytes_read``).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np

from ..bam.bgzf import VirtualPosition
from ..errors import ObjectNotFoundError
from ._plan import DEFAULT_CHUNK_SIZE, ChunkPlan, Shard, ShardSizing
from ._sizing import ScanCutter

if TYPE_CHECKING:
    from ..bam.header import BamHeader

__all__ = ["find_index", "make_plan", "plan_by_scan", "plan_from_index"]

log = logging.getLogger(__name__)


def index_candidates(bam_url: str) -> list[str]:
    """Where an index of ``bam_url`` may be, in the order samtools looks.

    ``<bam>.bai``, ``<bam>.csi``, then ``<name>.bai`` / ``<name>.csi`` with the ``.bam``
    suffix replaced. A URL with a query string (a signed URL) has no such neighbours:
    its index's URL must be given.
    """
    if urlsplit(bam_url).query:
        return []
    out = [bam_url + ".bai", bam_url + ".csi"]
    if bam_url.endswith(".bam"):
        stem = bam_url[: -len(".bam")]
        out += [stem + ".bai", stem + ".csi"]
    return out


def find_index(bam_url: str) -> str | None:
    """The first :func:`index_candidates` URL that exists, or ``None``."""
    from ..io import stat

    for candidate in index_candidates(bam_url):
        try:
            stat(candidate)
        except ObjectNotFoundError:
            continue
        return candidate
    return None


def make_plan(
    bam_url: str,
    *,
    index_url: str | None = None,
    use_index: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    sizing: ShardSizing = ShardSizing(),
    threads: int = 1,
) -> ChunkPlan:
    """Plan ``bam_url`` from its index (given, or found next to it) or, failing that, by a scan.

    Parameters
    ----------
    bam_url
        Local path, ``file://``, ``s3://`` or ``http(s)://`` URL of the BAM.
    index_url
        Its ``.bai`` / ``.csi``; needed for signed URLs, found next to the BAM otherwise.
    use_index
        ``False`` always scans (for BAMs whose index is not trusted).
    chunk_size, sizing
        Reads per chunk, and the shard targets.
    threads
        Inflate threads for a scan.
    """
    if use_index:
        index_url = index_url or find_index(bam_url)
        if index_url is not None:
            return plan_from_index(bam_url, index_url, chunk_size=chunk_size, sizing=sizing)
        from ..io import redact

        log.info("%s: no index found next to it; planning by one streaming pass", redact(bam_url))
    return plan_by_scan(bam_url, chunk_size=chunk_size, sizing=sizing, threads=threads)


def plan_by_scan(
    bam_url: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    sizing: ShardSizing = ShardSizing(),
    threads: int = 1,
    on_records: Callable[[BamHeader, np.ndarray, Sequence[int]], None] | None = None,
) -> ChunkPlan:
    """Plan by reading every record once, cutting shards exactly at multiples of ``chunk_size``.

    Parameters
    ----------
    on_records
        Called with the header, every batch's record rows (in order) and the ordinals of
        the first records of the shards found so far (every shard start up to the
        batch's last record is known by then). Lets a caller compute the statistics in
        the same pass: ``bams3 scan`` without an index reads the BAM once.
    """
    from ..bam.reader import BamReader
    from ..io import IO_STATS, open_input, redact, stat

    name = redact(bam_url)
    cutter = ScanCutter(chunk_size=chunk_size, max_reads=sizing.aligned_reads(chunk_size), max_bytes=sizing.bytes)
    starts: list[tuple[int, int]] = []  # (ordinal, voffset) of each shard's first record
    start_ordinals: list[int] = []
    with IO_STATS.scope() as io:
        info = stat(bam_url)
        with open_input(bam_url) as stream, BamReader(stream, name=name, threads=threads) as reader:
            references = tuple((ref.name, ref.length) for ref in reader.header.references)
            for batch in reader.batches():
                rows = batch.records
                if not starts and len(rows):
                    starts.append((0, int(rows["voffset"][0])))
                    start_ordinals.append(0)
                cuts = cutter.feed(rows["voffset"])
                starts += cuts
                start_ordinals += [o for o, _ in cuts]
                if on_records is not None:
                    on_records(reader.header, rows, start_ordinals)
    total = cutter.records
    ends = [o for o, _ in starts[1:]] + [total]
    shards = tuple(
        Shard(
            start=VirtualPosition.from_int(voffset),
            stop=VirtualPosition.from_int(starts[k + 1][1]) if k + 1 < len(starts) else None,
            first=None,
            end=None,
            reads=end - ordinal,
            estimated_reads=end - ordinal,
        )
        for k, ((ordinal, voffset), end) in enumerate(zip(starts, ends))
    )
    counts = io.counts()
    return ChunkPlan(
        bam_url=name,
        bam_size=info.size,
        bam_etag=info.etag,
        index_url=None,
        index_format=None,
        method="scan",
        chunk_size=chunk_size,
        sizing=sizing,
        total_reads=total,
        total_chunks=math.ceil(total / chunk_size),
        references=references,
        shards=shards,
        planning_bytes_read=counts.bytes_in,
        planning_requests=counts.requests,
    )


def plan_from_index(
    bam_url: str,
    index_url: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    sizing: ShardSizing = ShardSizing(),
) -> ChunkPlan:
    """Plan from the BAM's header and its ``.bai``/``.csi`` alone (the BAM body is not read)."""
    raise NotImplementedError  # filled in once bams3.bam reads indexes
