"""Reading a BAMS3 dataset: open (one GET), count, query, stream back to BAM.

:class:`Dataset` fetches ``_metadata.json`` once and keeps it; every question after that is
planned against it. A region query:

1. picks the chunks of the region's reference whose first record starts before the region
   ends and whose largest alignment end lies after it starts (this finds reads starting in
   earlier bins that reach into the region);
2. for ``count``, answers chunks whose records all start inside the region from the chunk
   table alone;
3. fetches the footers of the other chunks (one exact ranged GET each, cached), picks the
   frames (version 2: blocks) that can overlap in the same way (and, for ``count``, counts
   those wholly inside from the table);
4. fetches those frames with merged ranged GETs -- of a version 2 block, only the small core
   stream (positions, ends, flags) at its start for a count, all of it for records --, decodes
   them, and keeps the records with
   ``pos < end and end > beg`` -- htslib's overlap rule, so the answer is what
   ``samtools view BAM region`` prints, in the same (file) order.

Work units are fetched and decoded on a thread pool with a bounded look-ahead, so a query
over a whole chromosome streams in constant memory.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..errors import DatasetError, IntegrityError, ObjectNotFoundError
from ..regions import Region, parse_region
from ._parallel import ordered_map
from ._records import decode_records
from .codecs import FrameTable, UnknownCodec, ZstdFramesCodec
from .fields.codec import BlockTable, FieldsCodec, block_sizes
from .fields.container import CorruptStream
from .keys import METADATA_KEY
from .metadata import DatasetMetadata, parse_metadata

if TYPE_CHECKING:
    from ..bam.header import BamHeader, Reference
    from ..bam.records import RecordBatch
    from ..io import Store

__all__ = ["Dataset", "QueryPlan"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: compressed bytes fetched and decoded by one task (bounded so that memory stays bounded)
_UNIT_BYTES = 2 * 2**20
#: end of a region given without one ("chr1", "chr1:1000"): past any position (htslib: HTS_POS_MAX)
_NO_END = 2**62
#: footers kept per open dataset (a footer of a 30 MB chunk is a few KB)
_FOOTER_CACHE = 4096


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """The chunks one region touches, split by what a count needs from each (indexes in file order)."""

    region: Region
    ref_id: int
    beg: int
    end: int
    #: chunks that may hold overlapping records
    chunks: np.ndarray
    #: of those, the ones whose records all start inside the region (countable from metadata)
    inside: np.ndarray


@dataclass(frozen=True, slots=True)
class _Unit:
    """Frames of one chunk fetched and decoded together (consecutive, at most ~_UNIT_BYTES)."""

    chunk: int
    frames: np.ndarray


class Dataset:
    """An open BAMS3 dataset (format version 1 or 2).

    Parameters
    ----------
    store
        Store rooted at the dataset prefix.
    metadata
        Its parsed ``_metadata.json``.
    max_concurrency
        Requests (and frame decodes) in flight at once.

    Examples
    --------
    >>> ds = Dataset.open("s3://bucket/cohort/NA12878.bams3")     # doctest: +SKIP
    >>> ds.count("chr20:10M-11M")                                  # doctest: +SKIP
    >>> for batch in ds.query("chr20:10,000,000-10,001,000"): ...  # doctest: +SKIP
    """

    def __init__(self, store: Store, metadata: DatasetMetadata, *, max_concurrency: int = 8,
                 metadata_bytes: int | None = None) -> None:
        self.store = store
        self.metadata = metadata
        self.metadata_bytes = metadata_bytes
        self.max_concurrency = max_concurrency
        self._footers: OrderedDict[int, FrameTable] = OrderedDict()
        self._lock = threading.Lock()
        self._lengths = {r.name: r.length for r in metadata.header.references}

    @classmethod
    def open(cls, url: str, *, max_concurrency: int = 8) -> "Dataset":
        """Open the dataset at ``url`` (local folder or ``s3://`` prefix) with one GET.

        Raises
        ------
        DatasetError
            No ``_metadata.json`` (an unfinished conversion or a wrong path), or metadata that
            fails validation.
        """
        from ..io import open_store

        store = open_store(url)
        data = store.get(METADATA_KEY)
        if data is None:
            raise DatasetError(f"{store.url}: not a complete BAMS3 dataset (no {METADATA_KEY}: "
                               "wrong path, or a conversion that did not finish)")
        metadata = parse_metadata(data, name=store.key_url(METADATA_KEY))
        return cls(store, metadata, max_concurrency=max_concurrency, metadata_bytes=len(data))

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        return self.store.url

    @property
    def header(self) -> BamHeader:
        return self.metadata.header

    @property
    def references(self) -> tuple[Reference, ...]:
        return self.metadata.header.references

    def __repr__(self) -> str:
        return f"Dataset({self.url!r})"

    # ------------------------------------------------------------------ planning

    def resolve(self, region: str | Region) -> Region:
        """Parse a samtools-style region (or take a :class:`Region`) and check its reference.

        The region is *not* clamped to the reference length: htslib does not clamp either, and a
        read that runs past the end of its reference overlaps exactly the regions htslib says.

        Raises
        ------
        RegionError
            Malformed, or a reference the dataset does not have.
        """
        if isinstance(region, str):
            region = parse_region(region, self._lengths)
        region.check(self._lengths, source=self.url)
        return region

    def plan(self, region: str | Region) -> QueryPlan:
        """Which chunks a region touches (no I/O)."""
        resolved = self.resolve(region)
        ref_id = self.header.ref_id(resolved.contig)
        beg = resolved.start
        end = resolved.end if resolved.end is not None else _NO_END
        chunks = self.metadata.chunks.select(ref_id, beg, end)
        inside = chunks[self.metadata.chunks.inside(beg, end)[chunks]]
        return QueryPlan(resolved, ref_id, beg, end, chunks, inside)

    def _codec(self, chunk: int) -> ZstdFramesCodec | FieldsCodec:
        codec = self.metadata.codec(chunk)
        if isinstance(codec, UnknownCodec):
            codec.require(self.store.key_url(self.metadata.chunk_key(chunk)))
        assert isinstance(codec, ZstdFramesCodec | FieldsCodec)
        return codec

    def footer(self, chunk: int) -> FrameTable | BlockTable:
        """The frame table (version 1) or block table (version 2) of chunk ``chunk`` (one ranged GET, then cached)."""
        with self._lock:
            table = self._footers.get(chunk)
            if table is not None:
                self._footers.move_to_end(chunk)
                return table
        codec = self._codec(chunk)
        key = self.metadata.chunk_key(chunk)
        size = int(self.metadata.chunks.size[chunk])
        footer_size = int(self.metadata.chunks.footer_size[chunk])
        data = self.store.get(key, (size - footer_size, size))
        name = self.store.key_url(key)
        if data is None:
            raise IntegrityError(f"{name}: chunk object is missing")
        if len(data) != footer_size:
            raise IntegrityError(f"{name}: chunk object is shorter than the metadata says ({size} bytes)")
        kind = BlockTable if isinstance(codec, FieldsCodec) else FrameTable
        table = kind.decode_footer(data, chunk_size=size, name=name)
        if int(table.n_records.sum()) != int(self.metadata.chunks.n_records[chunk]):
            raise IntegrityError(f"{name}: chunk footer counts {int(table.n_records.sum())} records, "
                                 f"the metadata {int(self.metadata.chunks.n_records[chunk])}")
        with self._lock:
            self._footers[chunk] = table
            while len(self._footers) > _FOOTER_CACHE:
                self._footers.popitem(last=False)
        return table

    def _footers_for(self, chunks: Iterable[int]) -> dict[int, FrameTable | BlockTable]:
        chunks = list(chunks)
        return dict(zip(chunks, self._map(self.footer, chunks)))

    def _units(self, chunk: int, frames: np.ndarray, table: FrameTable | BlockTable) -> list[_Unit]:
        """Split a chunk's selected frames (or blocks) into fetch units of at most ~_UNIT_BYTES."""
        if len(frames) == 0:
            return []
        stored = table.comp_size if isinstance(table, FrameTable) else table.block_sizes
        sizes = stored[frames].astype(np.int64)
        group = (np.cumsum(sizes) - sizes) // _UNIT_BYTES
        cuts = np.flatnonzero(np.diff(group)) + 1
        return [_Unit(chunk, part) for part in np.split(frames, cuts)]

    # ------------------------------------------------------------------ execution

    def _map(self, func: Callable[[Any], T], items: Iterable[Any]) -> Iterator[T]:
        return ordered_map(func, items, max_concurrency=self.max_concurrency)

    def _fetch_frames(self, unit: _Unit, table: FrameTable) -> list[bytes]:
        """The decoded (raw record) bytes of a unit's frames, in order (version 1)."""
        codec = self._codec(unit.chunk)
        assert isinstance(codec, ZstdFramesCodec)
        key = self.metadata.chunk_key(unit.chunk)
        name = self.store.key_url(key)
        offsets = table.offsets[unit.frames]
        ends = offsets + table.comp_size[unit.frames]
        try:
            blobs = self.store.get_ranges(key, list(zip(offsets.tolist(), ends.tolist())))
        except ObjectNotFoundError:
            raise IntegrityError(f"{name}: chunk object is missing") from None
        out = []
        for blob, frame in zip(blobs, unit.frames.tolist()):
            if len(blob) != int(table.comp_size[frame]):
                raise IntegrityError(f"{name}: chunk object is shorter than its frame table says")
            out.append(codec.decompress(blob, int(table.raw_size[frame]), name=name))
        return out

    def _fetch_blocks(self, unit: _Unit, table: BlockTable, *, core_only: bool) -> list[tuple[bytes, bytes]]:
        """(core, rest) stream bytes of a unit's blocks; with ``core_only`` only the core streams
        (positions, ends, flags) are fetched and the rests are empty. Adjacent ranges merge."""
        key = self.metadata.chunk_key(unit.chunk)
        name = self.store.key_url(key)
        at = table.offsets[unit.frames]
        core = table.sizes["core"][unit.frames]
        end = at + (core if core_only else table.block_sizes[unit.frames])
        ranges = list(zip(at.tolist(), end.tolist()))
        try:
            # core streams are kilobytes between blocks of ~0.5 MB: merging them over a gap would
            # fetch the blocks in between, which is what reading the core streams alone avoids
            blobs = self.store.get_ranges(key, ranges, **({"max_gap": 0} if core_only else {}))
        except ObjectNotFoundError:
            raise IntegrityError(f"{name}: chunk object is missing") from None
        if any(len(b) != e - a for b, (a, e) in zip(blobs, ranges)):
            raise IntegrityError(f"{name}: chunk object is shorter than its block table says")
        return [(blob[:c], blob[c:]) for blob, c in zip(blobs, core.tolist())]

    def _decode_blocks(self, unit: _Unit, table: BlockTable) -> list[bytearray]:
        """The raw BAM records of a unit's blocks (version 2), one buffer per block."""
        codec = self._codec(unit.chunk)
        assert isinstance(codec, FieldsCodec)
        name = self.store.key_url(self.metadata.chunk_key(unit.chunk))
        ref_id = int(self.metadata.chunks.ref_id[unit.chunk])
        out = []
        for (core, rest), block in zip(self._fetch_blocks(unit, table, core_only=False), unit.frames.tolist()):
            try:
                raw = codec.decode(core, rest, block_sizes(table, block), ref_id=ref_id,
                                   n_records=int(table.n_records[block]))
            except CorruptStream as exc:
                raise IntegrityError(f"{name}: corrupt chunk block {block} ({exc})") from None
            if len(raw) != int(table.raw_size[block]):
                raise IntegrityError(f"{name}: block {block} decodes to {len(raw)} bytes, its table says "
                                     f"{int(table.raw_size[block])}")
            out.append(raw)
        return out

    def _positions(self, unit: _Unit, table: FrameTable | BlockTable) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(pos, end, flag) of the records of a unit's frames: version 2 from the blocks' core streams
        alone, version 1 by decoding the frames."""
        if not isinstance(table, BlockTable):
            return [(b.records["pos"], b.records["end"], b.records["flag"]) for b in self._decode(unit, table)]
        name = self.store.key_url(self.metadata.chunk_key(unit.chunk))
        out = []
        for (core, _), block in zip(self._fetch_blocks(unit, table, core_only=True), unit.frames.tolist()):
            try:
                where = FieldsCodec.decode_core(core, int(table.n_records[block]))
            except CorruptStream as exc:
                raise IntegrityError(f"{name}: corrupt chunk block {block} ({exc})") from None
            out.append((where.pos, where.end, where.flag))
        return out

    def _decode(self, unit: _Unit, table: FrameTable | BlockTable) -> list[RecordBatch]:
        name = self.store.key_url(self.metadata.chunk_key(unit.chunk))
        if isinstance(table, BlockTable):
            return [decode_records(raw, name=name) for raw in self._decode_blocks(unit, table)]
        batches = []
        for raw, frame in zip(self._fetch_frames(unit, table), unit.frames.tolist()):
            batch = decode_records(raw, name=name)
            if len(batch) != int(table.n_records[frame]):
                raise IntegrityError(f"{name}: a frame holds {len(batch)} records, its table says "
                                     f"{int(table.n_records[frame])}")
            batches.append(batch)
        return batches

    # ------------------------------------------------------------------ frames, for callers that plan many regions

    def frame_groups(self, chunk: int, frames: np.ndarray) -> list[np.ndarray]:
        """``frames`` (sorted indexes into chunk ``chunk``'s :meth:`footer`) split into the groups that
        :meth:`frame_positions` should fetch together (consecutive, a bounded number of bytes each)."""
        return [u.frames for u in self._units(chunk, np.asarray(frames, dtype=np.int64), self.footer(chunk))]

    def frame_positions(self, chunk: int, frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(pos, end, flag)`` of the records of each of ``frames`` of chunk ``chunk``, in the order given.

        For a caller that answers several regions from the same frames (a cohort's overlapping
        regions): fetch each frame once with :meth:`frame_groups`' groups, then count per region
        with htslib's rule ``(pos < end_of_region) & (end > start_of_region)``. Version 2 reads only
        the blocks' core streams; version 1 decodes the frames.
        """
        return self._positions(_Unit(chunk, np.asarray(frames, dtype=np.int64)), self.footer(chunk))

    # ------------------------------------------------------------------ questions

    def count(self, region: str | Region) -> int:
        """Records overlapping ``region``: what ``samtools view -c BAM region`` prints.

        Chunks and frames whose records all start inside the region are counted from the
        metadata and the frame tables; only frames at the region's edges are fetched, and
        their records are counted from position arrays, never formatted.
        """
        plan = self.plan(region)
        chunks = self.metadata.chunks
        total = int(chunks.n_records[plan.inside].sum())
        edge = np.setdiff1d(plan.chunks, plan.inside)
        footers = self._footers_for(edge.tolist())
        units: list[tuple[_Unit, FrameTable | BlockTable]] = []
        for chunk, table in footers.items():
            frames = table.overlapping(plan.beg, plan.end)
            whole = table.inside(plan.beg, plan.end)[frames]
            total += int(table.n_records[frames[whole]].sum())
            units.extend((u, table) for u in self._units(chunk, frames[~whole], table))

        def count_unit(item: tuple[_Unit, FrameTable | BlockTable]) -> int:
            return sum(int(np.count_nonzero((pos < plan.end) & (end > plan.beg)))
                       for pos, end, _ in self._positions(*item))

        return total + sum(self._map(count_unit, units))

    def query(self, region: str | Region) -> Iterator[RecordBatch]:
        """The records overlapping ``region``, in file order, as record batches.

        The same records, in the same order, as ``samtools view BAM region``. Each batch is a
        :class:`~bams3.bam.records.RecordBatch` (raw record bytes plus fixed-field columns).
        """
        plan = self.plan(region)
        footers = self._footers_for(plan.chunks.tolist())
        units = [(u, footers[c]) for c in plan.chunks.tolist()
                 for u in self._units(c, footers[c].overlapping(plan.beg, plan.end), footers[c])]

        def select(item: tuple[_Unit, FrameTable | BlockTable]) -> list[RecordBatch]:
            out = []
            for batch in self._decode(*item):
                r = batch.records
                keep = (r["pos"] < plan.end) & (r["end"] > plan.beg)
                if keep.any():
                    out.append(batch if keep.all() else batch[keep])
            return out

        for batches in self._map(select, units):
            yield from batches

    def iter_raw(self, region: str | Region | None = None) -> Iterator[bytes | bytearray]:
        """Raw record bytes (BAM encoding, ``block_size`` included) in file order.

        Without a region: every record of the dataset, so ``header.raw`` followed by these
        bytes is the source BAM's uncompressed stream, byte for byte.
        """
        if region is not None:
            for batch in self.query(region):
                yield batch.raw_bytes()
            return
        n = len(self.metadata.chunks)
        footers = self._map(self.footer, range(n))
        units = ((u, table) for chunk, table in zip(range(n), footers)
                 for u in self._units(chunk, np.arange(len(table)), table))
        def raw(item: tuple[_Unit, FrameTable | BlockTable]) -> list[bytes] | list[bytearray]:
            unit, table = item
            if isinstance(table, BlockTable):
                return self._decode_blocks(unit, table)
            return self._fetch_frames(unit, table)

        for pieces in self._map(raw, units):
            yield from pieces

    def stats(self) -> dict[str, Any]:
        """Dataset statistics from the metadata alone (no request beyond :meth:`open`'s)."""
        from .summary import dataset_stats

        return dataset_stats(self.metadata, url=self.url, metadata_bytes=self.metadata_bytes)
