"""``convert``: stream a coordinate-sorted BAM once into a BAMS3 dataset (docs/FORMAT.md).

The pipeline, for bounded memory whatever the input size:

1. the calling thread reads record batches (:class:`~bams3.bam.reader.BamReader`), checks
   the sort order, assigns each record to its chunk (reference and bin; reads without a
   reference to numbered "unplaced" chunks) and cuts each chunk's records into frames of about
   ``frame_bytes`` (always at a record boundary) -- all on numpy columns, nothing per read;
2. ``workers`` threads compress frames (zstd releases the GIL), or in format version 2 code each
   frame as a block of per-field streams (:mod:`bams3.dataset.fields`; the C coders release it too);
3. one upload task per chunk, on a small thread pool, takes that chunk's compressed frames in
   order and streams them into the chunk object (:meth:`Store.open_write`: multipart on S3 when
   large, an atomic rename on disk), then appends the footer and commits the object.

A semaphore bounds the frames between steps 1 and 3, so at most a few frames per worker, one
open chunk's carried-over partial frame and each upload's part buffer are in memory. Chunk keys
carry a fresh run id; ``_metadata.json`` is written last, create-only (or, when replacing a
dataset, only if the one read at the start is still there); on any failure the chunks of this
run are deleted and no metadata is written. After a commit, chunks of superseded or abandoned
earlier runs are deleted.
"""
from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import Bams3Error, BamFormatError, DatasetError, PreconditionFailedError, UsageError
from ..progress import progress
from ._records import (
    FLAG_DUP,
    FLAG_PAIRED,
    FLAG_PROPER_PAIR,
    FLAG_QCFAIL,
    FLAG_SECONDARY,
    FLAG_SUPPLEMENTARY,
    FLAG_UNMAPPED,
)
from .codecs import DEFAULT_FRAME_BYTES, DEFAULT_LEVEL, FrameTable, ZstdFramesCodec
from .fields.codec import DEFAULT_BLOCK_BYTES, BlockTable, EncodedBlock, FieldsCodec
from .fields.codec import DEFAULT_LEVEL as DEFAULT_FIELDS_LEVEL
from .keys import CHUNKS_PREFIX, METADATA_KEY, UNPLACED_REF_ID, ChunkKeyEncoding, new_run_id, run_id_time
from .metadata import CHUNK_COLUMNS, ChunkTable, DatasetMetadataV1, DatasetMetadataV2, Totals

if TYPE_CHECKING:
    from ..bam.header import BamHeader
    from ..bam.records import RecordBatch
    from ..io import ObjectInfo, Store

__all__ = ["convert", "ConvertResult", "DEFAULT_BIN_SIZE", "DEFAULT_FORMAT", "FORMATS", "DEFAULT_LEVEL",
           "DEFAULT_FRAME_BYTES"]

log = logging.getLogger(__name__)

DEFAULT_BIN_SIZE = 1_000_000
#: format version written by default. Version 2 is 0.56x the BAM (version 1: 0.97x) but does not yet
#: meet issue 12's bars for becoming the default (at most 0.55x, and converting no slower than CRAM
#: 3.1: it needs ~20 s of CPU where samtools needs ~13 s); docs/FORMAT.md section 8 has the numbers
DEFAULT_FORMAT = 2
FORMATS = (1, 2)
#: raw record bytes per chunk of reads without a reference (a 1 Mbp bin of a 30x genome is ~90 MB raw)
DEFAULT_UNPLACED_CHUNK_BYTES = 64 * 2**20
#: inflated bytes per batch read from the BAM
_BATCH_BYTES = 8 * 2**20
#: frames compressed or waiting for upload, per worker (plus a constant)
_FRAMES_PER_WORKER = 4
#: multipart parts uploaded at once per chunk object
_PART_CONCURRENCY = 2
_SORT_ORDERS_REFUSED = ("queryname", "unsorted")


@dataclass(frozen=True, slots=True)
class ConvertResult:
    """What a conversion wrote: enough for a Snakemake receipt and a log line."""

    url: str
    run_id: str
    chunks: int
    records: int
    stored_bytes: int
    metadata_bytes: int
    metadata_sha256: str
    source_bytes: int | None
    seconds: float

    @property
    def objects(self) -> int:
        """Objects that make up the dataset: the chunks and ``_metadata.json``."""
        return self.chunks + 1

    def receipt(self) -> dict[str, object]:
        """The small JSON a workflow declares as the conversion's output."""
        return {
            "dataset": self.url,
            "run_id": self.run_id,
            "objects": self.objects,
            "bytes": self.stored_bytes + self.metadata_bytes,
            "records": self.records,
            "metadata_sha256": self.metadata_sha256,
        }


@dataclass(frozen=True, slots=True)
class _FrameInfo:
    raw_size: int
    n_records: int
    min_pos: int
    max_pos: int
    max_end: int


@dataclass(slots=True)
class _ChunkCounts:
    """The chunk-table row of one chunk, filled while its records stream by."""

    ref_id: int
    bin: int
    n_records: int = 0
    n_unmapped: int = 0
    raw_size: int = 0
    bases: int = 0
    min_pos: int = 0
    max_pos: int = 0
    max_end: int = -(2**62)


@dataclass(slots=True)
class _Pending:
    """Records of the open chunk not yet in a frame (carried to the next batch)."""

    parts: list[memoryview] = field(default_factory=list)
    size: int = 0
    n_records: int = 0
    min_pos: int = 0
    max_pos: int = 0
    max_end: int = -(2**62)


class _OpenChunk:
    """The chunk records are being added to: its counts, its partial frame, its upload queue."""

    def __init__(self, ref_id: int, bin_: int) -> None:
        self.counts = _ChunkCounts(ref_id, bin_)
        self.pending = _Pending()
        self.frames: queue.SimpleQueue[tuple[Future[bytes | EncodedBlock], _FrameInfo] | None] = queue.SimpleQueue()
        self.upload: Future[dict[str, int]] | None = None


def _primary(flag: np.ndarray) -> np.ndarray:
    return (flag & (FLAG_SECONDARY | FLAG_SUPPLEMENTARY)) == 0


class _DatasetWriter:
    """Steps 1-3 of the module docstring, for one run."""

    def __init__(self, store: Store, keys: ChunkKeyEncoding, codec: ZstdFramesCodec | FieldsCodec, *, bin_size: int,
                 workers: int, unplaced_chunk_bytes: int, name: str) -> None:
        self._store, self._keys, self._codec = store, keys, codec
        self._bin_size, self._unplaced_chunk_bytes, self._name = bin_size, unplaced_chunk_bytes, name
        self._compress = ThreadPoolExecutor(workers, thread_name_prefix="bams3-compress")
        self._uploads = ThreadPoolExecutor(max(2, workers), thread_name_prefix="bams3-upload")
        self._slots = threading.Semaphore(_FRAMES_PER_WORKER * workers + 4)
        self._cancelled = threading.Event()
        self._open: _OpenChunk | None = None
        self._chunks: list[_OpenChunk] = []
        self._last_key = -1  # sort key of the last record seen
        self._last_where = ""
        self._unplaced_bytes = 0
        self._failure: BaseException | None = None
        self.totals = dict.fromkeys(set(Totals.__dataclass_fields__) - {"stored_size", "chunks"}, 0)

    # ------------------------------------------------------------------ step 1

    def add(self, batch: RecordBatch, header: BamHeader) -> None:
        """Add a batch of records (file order) to the dataset."""
        rows = batch.records
        if len(rows) == 0:
            return
        ref_id = rows["ref_id"].astype(np.int64)
        pos = rows["pos"].astype(np.int64)
        self._check_sorted(ref_id, pos, header)
        size = rows["size"].astype(np.int64)
        bins = np.floor_divide(pos, self._bin_size)
        unplaced = ref_id == UNPLACED_REF_ID
        if unplaced.any():
            before = self._unplaced_bytes + np.cumsum(np.where(unplaced, size, 0)) - size
            bins = np.where(unplaced, before // self._unplaced_chunk_bytes, bins)
            self._unplaced_bytes += int(size[unplaced].sum())
        self._count(rows)
        chunk_of = ref_id * (2**33) + bins
        starts = np.flatnonzero(np.diff(chunk_of)) + 1
        bounds = [0, *starts.tolist(), len(rows)]
        view = memoryview(batch.buffer)
        for a, b in zip(bounds[:-1], bounds[1:]):
            r, bn = int(ref_id[a]), int(bins[a])
            if self._open is None or (self._open.counts.ref_id, self._open.counts.bin) != (r, bn):
                self._close_open()
                self._start_chunk(r, bn)
            self._extend(view, rows[a:b])

    def _check_sorted(self, ref_id: np.ndarray, pos: np.ndarray, header: BamHeader) -> None:
        # samtools' coordinate order: references in header order, no reference (-1) last, then position
        key = np.where(ref_id < 0, header.n_references, ref_id) * (2**33) + (pos + 1)
        previous = np.concatenate(([self._last_key], key[:-1]))
        bad = key < previous
        if bad.any():
            i = int(np.argmax(bad))
            here = self._where(int(ref_id[i]), int(pos[i]), header)
            before = self._where(int(ref_id[i - 1]), int(pos[i - 1]), header) if i else self._last_where
            raise BamFormatError(f"{self._name}: not sorted by coordinate (a record at {here} follows one at "
                                 f"{before}); sort it with 'samtools sort' first")
        self._last_key = int(key[-1])
        self._last_where = self._where(int(ref_id[-1]), int(pos[-1]), header)

    @staticmethod
    def _where(ref_id: int, pos: int, header: BamHeader) -> str:
        return f"{header.ref_name(ref_id)}:{pos + 1:,}" if ref_id >= 0 else "* (no reference)"

    def _count(self, rows: np.ndarray) -> None:
        flag = rows["flag"]
        t = self.totals
        unmapped = (flag & FLAG_UNMAPPED) != 0
        primary = _primary(flag)
        t["records"] += len(rows)
        t["unmapped"] += int(unmapped.sum())
        t["mapped"] += int((~unmapped).sum())
        t["unplaced"] += int((rows["ref_id"] < 0).sum())
        t["secondary"] += int(((flag & FLAG_SECONDARY) != 0).sum())
        t["supplementary"] += int(((flag & (FLAG_SECONDARY | FLAG_SUPPLEMENTARY)) == FLAG_SUPPLEMENTARY).sum())
        t["duplicates"] += int(((flag & FLAG_DUP) != 0).sum())
        t["qc_fail"] += int(((flag & FLAG_QCFAIL) != 0).sum())
        paired = primary & ((flag & FLAG_PAIRED) != 0)
        t["paired"] += int(paired.sum())
        t["proper_pair"] += int((paired & ((flag & FLAG_PROPER_PAIR) != 0) & ~unmapped).sum())
        t["bases"] += int(rows["l_seq"][primary].sum(dtype=np.int64))
        covered = primary & ~unmapped & ((flag & (FLAG_DUP | FLAG_QCFAIL)) == 0)
        t["aligned_bases"] += int((rows["end"][covered] - rows["pos"][covered]).sum(dtype=np.int64))
        t["raw_size"] += int(rows["size"].sum(dtype=np.int64))

    def _start_chunk(self, ref_id: int, bin_: int) -> None:
        self._raise_if_failed()
        chunk = _OpenChunk(ref_id, bin_)
        chunk.upload = self._uploads.submit(self._write_chunk, chunk)
        chunk.upload.add_done_callback(self._note_failure)
        self._chunks.append(chunk)
        self._open = chunk

    def _extend(self, view: memoryview, rows: np.ndarray) -> None:
        """Add consecutive records of the open chunk; submit every frame they complete."""
        chunk = self._open
        assert chunk is not None
        counts, pending = chunk.counts, chunk.pending
        flag = rows["flag"]
        pos, end = rows["pos"], rows["end"]
        size = rows["size"].astype(np.int64)
        offset = rows["offset"]
        if counts.n_records == 0:
            counts.min_pos = int(pos[0])
        counts.n_records += len(rows)
        counts.n_unmapped += int(((flag & FLAG_UNMAPPED) != 0).sum())
        counts.raw_size += int(size.sum())
        counts.bases += int(rows["l_seq"][_primary(flag)].sum(dtype=np.int64))
        counts.max_pos = int(pos[-1])
        counts.max_end = max(counts.max_end, int(end.max()))
        if len(rows) > 1 and not np.array_equal(offset[1:], offset[:-1] + size[:-1]):
            raise BamFormatError(f"{self._name}: records of a batch are not contiguous")  # pragma: no cover
        # frames end after the first record at or past each multiple of frame_bytes (pending included)
        frame_bytes = self._codec.frame_bytes
        cum = pending.size + np.cumsum(size)
        total = int(cum[-1])
        if total >= frame_bytes:
            targets = np.arange(frame_bytes, total + 1, frame_bytes, dtype=np.int64)
            cuts = np.unique(np.searchsorted(cum, targets, side="left") + 1).tolist()
        else:
            cuts = []
        first = 0
        if cuts:
            starts = [0, *cuts] if cuts[-1] < len(rows) else [0, *cuts[:-1]]
            frame_max_end = np.maximum.reduceat(end, starts)
            for k, cut in enumerate(cuts):
                data = view[int(offset[first]) : int(offset[cut - 1] + size[cut - 1])]
                info = _FrameInfo(
                    raw_size=pending.size + len(data),
                    n_records=pending.n_records + cut - first,
                    min_pos=pending.min_pos if pending.n_records else int(pos[first]),
                    max_pos=int(pos[cut - 1]),
                    max_end=max(pending.max_end, int(frame_max_end[k])),
                )
                if pending.parts:
                    data = memoryview(b"".join([*pending.parts, data]))
                    chunk.pending = pending = _Pending()
                self._submit(chunk, data, info)
                first = cut
        if first < len(rows):
            if pending.n_records == 0:
                pending.min_pos = int(pos[first])
            pending.parts.append(view[int(offset[first]) : int(offset[-1] + size[-1])])
            pending.size += int(size[first:].sum())
            pending.n_records += len(rows) - first
            pending.max_pos = int(pos[-1])
            pending.max_end = max(pending.max_end, int(end[first:].max()))

    def _submit(self, chunk: _OpenChunk, data: memoryview, info: _FrameInfo) -> None:
        while not self._slots.acquire(timeout=0.2):
            self._raise_if_failed()
        codec = self._codec
        if isinstance(codec, FieldsCodec):
            future: Future[bytes | EncodedBlock] = self._compress.submit(
                codec.encode, data, ref_id=chunk.counts.ref_id, name=self._name)
        else:
            future = self._compress.submit(codec.compress, data)
        chunk.frames.put((future, info))

    def _close_open(self) -> None:
        chunk = self._open
        if chunk is None:
            return
        pending = chunk.pending
        if pending.parts:
            data = memoryview(b"".join(pending.parts)) if len(pending.parts) > 1 else pending.parts[0]
            info = _FrameInfo(pending.size, pending.n_records, pending.min_pos, pending.max_pos, pending.max_end)
            chunk.pending = _Pending()
            self._submit(chunk, data, info)
        chunk.frames.put(None)
        self._open = None

    # ------------------------------------------------------------------ steps 2-3

    def _write_chunk(self, chunk: _OpenChunk) -> dict[str, int]:
        """Upload task: stream the chunk's frames (or blocks), in order, into its object; add the footer.

        """
        key = self._keys.encode(chunk.counts.ref_id, chunk.counts.bin)
        infos: list[_FrameInfo] = []
        sizes: list[tuple[int, ...]] = []
        crc = 0
        with self._store.open_write(key, max_concurrency=_PART_CONCURRENCY) as out:
            while (item := chunk.frames.get()) is not None:
                future, info = item
                try:
                    data = future.result()
                finally:
                    self._slots.release()
                if self._cancelled.is_set():
                    raise _Cancelled()
                if isinstance(data, EncodedBlock):
                    sizes.append(data.sizes)
                    out.write(data.core)
                    crc = zlib.crc32(data.core, crc)
                    data = data.rest
                else:
                    sizes.append((len(data),))
                out.write(data)
                crc = zlib.crc32(data, crc)
                infos.append(info)
            if self._cancelled.is_set():
                raise _Cancelled()
            footer = self._footer(infos, sizes)
            out.write(footer)
            crc = zlib.crc32(footer, crc)
            size = out.tell()
        c = chunk.counts
        return {
            "ref_id": c.ref_id, "bin": c.bin, "codec": 0, "size": size, "footer_size": len(footer),
            "crc32": crc, "n_records": c.n_records, "n_unmapped": c.n_unmapped, "raw_size": c.raw_size,
            "bases": c.bases, "min_pos": c.min_pos, "max_pos": c.max_pos, "max_end": c.max_end,
        }

    def _footer(self, infos: list[_FrameInfo], sizes: list[tuple[int, ...]]) -> bytes:
        n_records = np.array([i.n_records for i in infos], dtype=np.uint32)
        raw_size = np.array([i.raw_size for i in infos], dtype=np.uint32)
        min_pos = np.array([i.min_pos for i in infos], dtype=np.int32)
        max_pos = np.array([i.max_pos for i in infos], dtype=np.int32)
        max_end = np.array([i.max_end for i in infos], dtype=np.int64)
        table = np.array(sizes, dtype=np.int64).reshape(len(infos), -1)
        if isinstance(self._codec, FieldsCodec):
            from .fields.codec import STREAMS

            return BlockTable(n_records=n_records, raw_size=raw_size, min_pos=min_pos, max_pos=max_pos,
                              max_end=max_end, sizes={s: table[:, i] for i, s in enumerate(STREAMS)}).encode_footer()
        return FrameTable(comp_size=table[:, 0].astype(np.uint32), raw_size=raw_size, n_records=n_records,
                          min_pos=min_pos, max_pos=max_pos, max_end=max_end).encode_footer()

    def _note_failure(self, upload: Future[dict[str, int]]) -> None:
        if not upload.cancelled() and upload.exception() is not None and self._failure is None:
            self._failure = upload.exception()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    # ------------------------------------------------------------------ the end

    def finish(self) -> ChunkTable:
        """Close the last chunk, wait for every upload; the chunk table of the run."""
        self._close_open()
        rows = []
        for chunk in self._chunks:
            assert chunk.upload is not None
            rows.append(chunk.upload.result())
            chunk.upload = None  # let the queue and its frames go
        self._compress.shutdown()
        self._uploads.shutdown()
        if not rows:
            return ChunkTable.empty()
        return ChunkTable({c.name: np.array([r[c.name] for r in rows], dtype=c.dtype) for c in CHUNK_COLUMNS})

    def abort(self) -> None:
        """Stop every task and delete whatever this run wrote (best effort: failures are logged)."""
        self._cancelled.set()
        if self._open is not None:
            self._open.frames.put(None)
            self._open = None
        self._compress.shutdown(cancel_futures=True)
        self._uploads.shutdown(cancel_futures=True)
        keys = [self._keys.encode(c.counts.ref_id, c.counts.bin) for c in self._chunks]
        _delete_keys(self._store, keys)


class _Cancelled(Exception):
    """An upload task stopping because the conversion is being aborted (never reaches a user)."""


def _delete_keys(store: Store, keys: list[str]) -> None:
    if not keys:
        return

    def delete(key: str) -> None:
        try:
            store.delete(key)
        except (Bams3Error, OSError) as exc:
            log.warning("could not delete %s: %s", store.key_url(key), exc)

    with ThreadPoolExecutor(8, thread_name_prefix="bams3-delete") as pool:
        list(pool.map(delete, keys))


def _check_header(header: BamHeader, name: str) -> None:
    for line in header.text.splitlines():
        if line.startswith("@HD"):
            for tag in line.split("\t")[1:]:
                if tag.startswith("SO:") and tag[3:] in _SORT_ORDERS_REFUSED:
                    raise BamFormatError(f"{name}: the header says {tag}; bams3 convert needs a "
                                         "coordinate-sorted BAM (samtools sort)")


def _previous_metadata(store: Store, *, overwrite: bool) -> ObjectInfo | None:
    info = store.stat(METADATA_KEY)
    if info is not None and not overwrite:
        raise UsageError(f"{store.url}: a BAMS3 dataset already exists there (use --overwrite to replace it)")
    return info


def _commit(store: Store, data: bytes, previous: ObjectInfo | None) -> None:
    """Write ``_metadata.json``: create-only, or (replacing) only over the version read at the start."""
    if previous is None:
        try:
            store.put(METADATA_KEY, data, mode="create")
        except PreconditionFailedError:
            raise DatasetError(f"{store.key_url(METADATA_KEY)}: another conversion committed a dataset "
                               "here while this one ran; this run's chunks were removed") from None
        return
    # TODO(io): an ETag-conditional put (If-Match) would close the window between this check and the put.
    current = store.stat(METADATA_KEY)
    if current is None or current.etag != previous.etag:
        raise DatasetError(f"{store.key_url(METADATA_KEY)}: the dataset changed while this conversion ran; "
                           "this run's chunks were removed")
    store.put(METADATA_KEY, data, mode="overwrite")


def _stale_runs(store: Store, run_id: str) -> Iterator[str]:
    """Keys of chunks of runs that started before ``run_id`` (superseded or abandoned)."""
    ours = run_id_time(run_id)
    assert ours is not None
    for info in store.list(CHUNKS_PREFIX):
        parts = info.key[len(CHUNKS_PREFIX):].split("/", 1)
        started = run_id_time(parts[0])
        if parts[0] != run_id and started is not None and started <= ours:
            yield info.key


def _codec(format: int, level: int | None, frame_bytes: int | None) -> ZstdFramesCodec | FieldsCodec:
    """The chunk codec of a format version, with the codec's defaults for knobs not given."""
    if format == 1:
        return ZstdFramesCodec(level=DEFAULT_LEVEL if level is None else level,
                               frame_bytes=DEFAULT_FRAME_BYTES if frame_bytes is None else frame_bytes)
    if format == 2:
        return FieldsCodec(level=DEFAULT_FIELDS_LEVEL if level is None else level,
                           block_bytes=DEFAULT_BLOCK_BYTES if frame_bytes is None else frame_bytes)
    raise UsageError(f"format must be one of {', '.join(map(str, FORMATS))}, not {format!r}")


def convert(
    source: str,
    destination: str,
    *,
    bin_size: int = DEFAULT_BIN_SIZE,
    format: int = DEFAULT_FORMAT,
    level: int | None = None,
    frame_bytes: int | None = None,
    workers: int = 1,
    overwrite: bool = False,
    show_progress: bool = True,
    unplaced_chunk_bytes: int = DEFAULT_UNPLACED_CHUNK_BYTES,
) -> ConvertResult:
    """Convert the coordinate-sorted BAM at ``source`` into a BAMS3 dataset at ``destination``.

    Parameters
    ----------
    source
        Local path, ``file://``, ``s3://`` or ``http(s)://`` URL of the BAM (read once, streamed).
    destination
        Local folder or ``s3://bucket/prefix`` of the dataset (``<sample>.bams3`` by convention).
    bin_size
        Bases per chunk (genomic bin).
    format
        Format version: 2 (per-field streams, :class:`~bams3.dataset.fields.codec.FieldsCodec`) or
        1 (whole records in zstd frames, :class:`~bams3.dataset.codecs.ZstdFramesCodec`).
    level, frame_bytes
        zstd level and target raw record bytes per frame (version 1) or block (version 2); None
        takes the codec's default.
    workers
        Threads compressing frames; uploads run on ``max(2, workers)`` threads.
    overwrite
        Replace a complete dataset already at ``destination`` (it stays readable until the
        new metadata is committed; its chunks are deleted afterwards).

    Raises
    ------
    UsageError
        A dataset exists and ``overwrite`` is false, or a knob is out of range.
    BamFormatError, BgzfError
        The input is not a valid coordinate-sorted BAM (nothing is left at the destination).
    """
    from ..bam.reader import BamReader
    from ..io import open_input, open_store, redact, stat

    if workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers}")
    if not 1_000 <= bin_size <= 2**29:
        raise UsageError(f"chunk size must be between 1K and 536M bases, not {bin_size:,}")
    codec = _codec(format, level, frame_bytes)
    started = time.monotonic()
    name = redact(source)
    source_info = stat(source)
    store = open_store(destination)
    previous = _previous_metadata(store, overwrite=overwrite)
    run_id = new_run_id()
    keys = ChunkKeyEncoding(run_id)
    source_size = source_info.size if source_info is not None else None
    with open_input(source) as stream, BamReader(stream, name=name, threads=1) as reader, progress(
        f"convert {name}", total=source_size, unit="B", enabled=show_progress
    ) as bar:
        header = reader.header
        _check_header(header, name)
        writer = _DatasetWriter(store, keys, codec, bin_size=bin_size, workers=workers,
                                unplaced_chunk_bytes=unplaced_chunk_bytes, name=name)
        done = 0
        try:
            for batch in reader.batches(target_bytes=_BATCH_BYTES):
                writer.add(batch, header)
                position = int(batch.records["voffset"][-1]) >> 16
                bar.update(position - done)
                done = position
            chunks = writer.finish()
            totals = Totals(**writer.totals, stored_size=int(chunks.size.sum()), chunks=len(chunks))
            model = DatasetMetadataV2 if format == 2 else DatasetMetadataV1
            metadata = model(run_id=run_id, source_url=name, source_size=source_size, header=header,
                             bin_size=bin_size, codecs=(codec,), chunks=chunks, totals=totals)
            metadata.check(name=store.key_url(METADATA_KEY))
            document = metadata.to_json()
            _commit(store, document, previous)
        except BaseException:
            writer.abort()
            raise
    try:
        _delete_keys(store, list(_stale_runs(store, run_id)))
    except (Bams3Error, OSError) as exc:  # the dataset is committed; leftovers are never read
        log.warning("could not list %s%s to remove chunks of earlier runs: %s", store.url, CHUNKS_PREFIX, exc)
    result = ConvertResult(
        url=store.url, run_id=run_id, chunks=len(chunks), records=totals.records, stored_bytes=totals.stored_size,
        metadata_bytes=len(document), metadata_sha256=hashlib.sha256(document).hexdigest(),
        source_bytes=source_size, seconds=time.monotonic() - started,
    )
    log.info("converted %s to %s: %d records in %d chunks, %d bytes, %.1f s", name, store.url, result.records,
             result.chunks, result.stored_bytes, result.seconds)
    return result
