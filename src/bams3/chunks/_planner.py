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
from ..errors import AccessDeniedError, IndexFormatError, ObjectNotFoundError
from ._from_index import IndexedReference, shards_from_index
from ._plan import DEFAULT_CHUNK_SIZE, ChunkPlan, Shard, ShardSizing
from ._sizing import ScanCutter

if TYPE_CHECKING:
    from ..bam.bai import BamIndex
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
    """The first :func:`index_candidates` URL that exists, or ``None``.

    A 403 counts as absent: S3 answers 403 rather than 404 for a missing key when the
    caller may not list the bucket.
    """
    from ..io import redact, stat

    for candidate in index_candidates(bam_url):
        try:
            stat(candidate)
        except (ObjectNotFoundError, AccessDeniedError) as exc:
            log.debug("no index at %s (%s)", redact(candidate), type(exc).__name__)
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
    """Plan from the BAM's header and its ``.bai``/``.csi`` alone (the BAM body is not read).

    Raises
    ------
    IndexFormatError
        The index is damaged, belongs to another BAM, or lacks the counts a plan needs
        (the pseudo-bins and ``n_no_coor``, which samtools always writes): plan without
        the index (``use_index=False``) then.
    """
    from ..bam.bai import read_index
    from ..io import IO_STATS, open_input, redact, stat

    name, index_name = redact(bam_url), redact(index_url)
    with IO_STATS.scope() as io:
        info = stat(bam_url)
        index_info = stat(index_url)
        if info.mtime is not None and index_info.mtime is not None and index_info.mtime < info.mtime:
            log.warning("%s is older than %s: if the BAM was rewritten, index it again", index_name, name)
        header, first_record = read_header_and_first_record(bam_url, info.size)
        with open_input(index_url) as stream:
            index = read_index(stream, name=index_name)
    index.check_header(header, name=index_name)
    if index.n_no_coor is None or any(ref.metadata is None for ref in index.references if len(ref.bins)):
        raise IndexFormatError(
            f"{index_name}: the index has no read counts (pseudo-bins / n_no_coor); plan without the index"
        )
    last = max((ref.metadata.end for ref in index.references if ref.metadata is not None), default=first_record)
    if last.compressed > info.size:
        raise IndexFormatError(
            f"{index_name}: the index points to byte {last.compressed} but {name} has {info.size} bytes: "
            "the BAM is truncated or the index belongs to another file"
        )
    shards, total = shards_from_index(
        [_indexed_reference(index, ref_id) for ref_id, ref in enumerate(index.references) if ref.metadata is not None],
        n_no_coor=index.n_no_coor,
        first_record=int(first_record),
        bam_size=info.size,
        sizing=sizing,
    )
    counts = io.counts()
    return ChunkPlan(
        bam_url=name,
        bam_size=info.size,
        bam_etag=info.etag,
        index_url=index_name,
        index_format="csi" if index.kind == "csi" else "bai",
        method="index",
        chunk_size=chunk_size,
        sizing=sizing,
        total_reads=total,
        total_chunks=sum(math.ceil(s.estimated_reads / chunk_size) for s in shards),
        references=tuple((ref.name, ref.length) for ref in header.references),
        shards=tuple(shards),
        planning_bytes_read=counts.bytes_in,
        planning_requests=counts.requests,
    )


def _indexed_reference(index: BamIndex, ref_id: int) -> IndexedReference:
    """What the planner needs from one reference's index entry (BAI linear index or CSI loffsets)."""
    ref = index.references[ref_id]
    meta = ref.metadata
    assert meta is not None
    first_leaf = ((1 << (3 * index.depth)) - 1) // 7
    bins = ref.bins.astype(np.int64)
    counts = np.diff(ref.chunk_index)
    leaf = (bins >= first_leaf) & (counts > 0)
    chunk_starts = ref.chunks[:, 0] if len(ref.chunks) else np.zeros(0, dtype=np.uint64)
    leaf_offsets = (
        np.minimum.reduceat(chunk_starts, ref.chunk_index[:-1][leaf]) if leaf.any() else np.zeros(0, dtype=np.uint64)
    )
    if index.kind == "bai":
        window_starts = np.arange(len(ref.linear), dtype=np.int64) << index.min_shift
        window_offsets = ref.linear
    else:
        window_starts = (bins[leaf] - first_leaf) << index.min_shift
        window_offsets = ref.loffsets[leaf]
    return IndexedReference(
        ref_id=ref_id,
        n_mapped=meta.n_mapped,
        n_unmapped=meta.n_unmapped,
        begin=int(meta.start),
        end=int(meta.end),
        window_starts=window_starts,
        window_offsets=window_offsets,
        leaf_starts=(bins[leaf] - first_leaf) << index.min_shift,
        leaf_offsets=leaf_offsets,
    )


#: bytes of the BAM asked for to read its header; grows 8x until the header fits
HEADER_PROBE_BYTES = 256 * 1024


def read_header_and_first_record(bam_url: str, bam_size: int) -> tuple[BamHeader, VirtualPosition]:
    """The header, and the virtual offset where the records start, from bounded reads of the BAM's head.

    Bounded ranged reads (256 KiB, then 2 MiB, ... while the header does not fit) so that
    planning from an index reads the header and nothing of the body beyond that probe.
    """
    from ..bam.bgzf import iter_blocks
    from ..bam.header import HeaderParser
    from ..errors import BamFormatError, BgzfError
    from ..io import open_input, redact

    name = redact(bam_url)
    probe = HEADER_PROBE_BYTES
    while True:
        end = min(probe, bam_size)
        parser = HeaderParser(name=name)
        data = bytearray()
        try:
            with open_input(bam_url, 0, end) as stream:
                for block in iter_blocks(stream, name=name, require_eof=False):
                    before = len(data)
                    data += block.data
                    header = parser.feed(data)
                    if header is not None:
                        size = parser.size or 0
                        if size == len(data):
                            # the header fills this block exactly: the records start at the next one
                            return header, VirtualPosition(block.coffset + block.csize, 0)
                        return header, VirtualPosition(block.coffset, size - before)
        except (BgzfError, BamFormatError):
            if end >= bam_size:
                raise
        if end >= bam_size:
            raise BamFormatError(f"{name}: truncated BAM header (the file ends inside it)")
        probe *= 8
