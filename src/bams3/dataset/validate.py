"""``bams3 validate``: check every chunk of a dataset against its metadata.

Full check, per chunk: the object exists, has the size and CRC-32 the metadata lists, its
footer parses and describes the object, every frame decodes (zstd checksum) -- or in version 2
every block's streams decode (zstd and CRC-32 checksums) and agree with its core stream -- to
the raw size and record count of the frame (block) table, the records' positions, ends and counts match the frame
table and the chunk table, and they belong to the chunk's reference and bin in sorted order.

Quick check: every chunk object exists with the listed size (one listing of the run's prefix,
so about one request per thousand chunks; stores that cannot list are asked per object).

Problems are collected, not raised one at a time, so one run reports every damaged chunk.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import Bams3Error, UsageError
from ._parallel import ordered_map
from ._records import FLAG_SECONDARY, FLAG_SUPPLEMENTARY, FLAG_UNMAPPED, decode_records
from .codecs import FrameTable, UnknownCodec, ZstdFramesCodec
from .fields.codec import BlockTable, FieldsCodec, block_sizes
from .fields.container import CorruptStream
from .keys import UNPLACED_REF_ID
from .reader import Dataset

__all__ = ["ValidationReport", "validate"]


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The outcome of :func:`validate`: what was checked and every problem found (one line each)."""

    dataset: str
    quick: bool
    chunks: int
    records: int
    bytes_checked: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_chunk(dataset: Dataset, index: int) -> tuple[int, int, list[str]]:
    """Full check of one chunk: (records seen, bytes read, problems)."""
    meta = dataset.metadata
    c = meta.chunks
    key = meta.chunk_key(index)
    name = dataset.store.key_url(key)
    codec = meta.codec(index)
    if isinstance(codec, UnknownCodec):
        return 0, 0, [f"{name}: codec {codec.name!r} is not supported by this bams3; not checked"]
    assert isinstance(codec, ZstdFramesCodec | FieldsCodec)
    data = dataset.store.get(key)
    if data is None:
        return 0, 0, [f"{name}: missing"]
    size, footer_size = int(c.size[index]), int(c.footer_size[index])
    if len(data) != size:
        return 0, len(data), [f"{name}: {len(data)} bytes, the metadata says {size}"]
    if zlib.crc32(data) != int(c.crc32[index]):
        return 0, len(data), [f"{name}: CRC-32 mismatch (corrupt or replaced)"]
    try:
        kind = BlockTable if isinstance(codec, FieldsCodec) else FrameTable
        table = kind.decode_footer(data[size - footer_size:], chunk_size=size, name=name)
    except Bams3Error as exc:
        return 0, len(data), [str(exc)]
    problems: list[str] = []
    ref_id, bin_ = int(c.ref_id[index]), int(c.bin[index])
    n_records = n_unmapped = raw_size = bases = 0
    max_end = None
    positions: list[np.ndarray] = []
    for frame, raw in enumerate(_frames(codec, table, data, ref_id=ref_id, name=name, problems=problems)):
        if raw is None:
            continue
        try:
            batch = decode_records(raw, name=name)
        except Bams3Error as exc:
            problems.append(f"{exc} (frame {frame})")
            continue
        r = batch.records
        expected = (int(table.n_records[frame]), int(table.min_pos[frame]), int(table.max_pos[frame]),
                    int(table.max_end[frame]))
        found = (len(r), int(r["pos"][0]) if len(r) else 0, int(r["pos"][-1]) if len(r) else 0,
                 int(r["end"].max()) if len(r) else 0)
        if found != expected:
            problems.append(f"{name}: frame {frame} holds (records, first, last, max end) {found}, "
                            f"its table says {expected}")
        if isinstance(table, BlockTable):
            core = FieldsCodec.decode_core(_core_of(table, data, frame), int(table.n_records[frame]))
            if not (np.array_equal(core.pos, r["pos"]) and np.array_equal(core.end, r["end"])
                    and np.array_equal(core.flag, r["flag"])):
                problems.append(f"{name}: block {frame}'s core stream disagrees with its records")
        if np.any(r["ref_id"] != ref_id):
            problems.append(f"{name}: frame {frame} holds records of another reference")
        flag = r["flag"]
        n_records += len(r)
        n_unmapped += int(((flag & FLAG_UNMAPPED) != 0).sum())
        raw_size += len(raw)
        bases += int(r["l_seq"][(flag & (FLAG_SECONDARY | FLAG_SUPPLEMENTARY)) == 0].sum(dtype=np.int64))
        if len(r):
            max_end = int(r["end"].max()) if max_end is None else max(max_end, int(r["end"].max()))
        positions.append(r["pos"].astype(np.int64))
    pos = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
    if len(pos) > 1 and np.any(np.diff(pos) < 0):
        problems.append(f"{name}: records are not sorted by position")
    if ref_id != UNPLACED_REF_ID and len(pos) and np.any(np.floor_divide(pos, meta.bin_size) != bin_):
        problems.append(f"{name}: records outside bin {bin_}")
    if not problems:
        listed = (int(c.n_records[index]), int(c.n_unmapped[index]), int(c.raw_size[index]), int(c.bases[index]),
                  int(c.min_pos[index]), int(c.max_pos[index]), int(c.max_end[index]))
        seen = (n_records, n_unmapped, raw_size, bases, int(pos[0]), int(pos[-1]), max_end)
        if seen != listed:
            problems.append(f"{name}: holds (records, unmapped, raw bytes, bases, first, last, max end) {seen}, "
                            f"the metadata says {listed}")
    return n_records, len(data), problems


def _core_of(table: BlockTable, data: bytes, block: int) -> bytes:
    at = int(table.offsets[block])
    return data[at: at + int(table.sizes["core"][block])]


def _frames(codec: ZstdFramesCodec | FieldsCodec, table: FrameTable | BlockTable, data: bytes, *, ref_id: int,
            name: str, problems: list[str]) -> Iterator[bytes | bytearray | None]:
    """The raw records of each frame (version 1) or block (version 2) of a chunk's bytes; None
    (and a problem noted) for one that does not decode."""
    if isinstance(table, FrameTable):
        assert isinstance(codec, ZstdFramesCodec)
        for frame, offset in enumerate(table.offsets.tolist()):
            try:
                yield codec.decompress(data[offset: offset + int(table.comp_size[frame])],
                                       int(table.raw_size[frame]), name=name)
            except Bams3Error as exc:
                problems.append(f"{exc} (frame {frame})")
                yield None
        return
    assert isinstance(codec, FieldsCodec)
    rest_at = table.rest_offsets
    for block in range(len(table)):
        at = int(rest_at[block])
        try:
            raw = codec.decode(_core_of(table, data, block), data[at: at + int(table.rest_sizes[block])],
                               block_sizes(table, block), ref_id=ref_id, n_records=int(table.n_records[block]))
        except CorruptStream as exc:
            problems.append(f"{name}: corrupt chunk block {block} ({exc})")
            yield None
            continue
        if len(raw) != int(table.raw_size[block]):
            problems.append(f"{name}: block {block} decodes to {len(raw)} bytes, its table says "
                            f"{int(table.raw_size[block])}")
        yield raw


def _quick(dataset: Dataset) -> Iterator[str]:
    meta = dataset.metadata
    store = dataset.store
    listed = {meta.chunk_key(i): int(meta.chunks.size[i]) for i in range(len(meta.chunks))}
    if store.supports_listing:
        found = {info.key: info.size for info in store.list(meta.key_encoding.prefix)}
    else:
        found = {}
        for key in listed:
            info = store.stat(key)
            if info is not None:
                found[key] = info.size
    for key, size in listed.items():
        if key not in found:
            yield f"{store.key_url(key)}: missing"
        elif found[key] != size:
            yield f"{store.key_url(key)}: {found[key]} bytes, the metadata says {size}"


def validate(url: str, *, quick: bool = False, workers: int = 4) -> ValidationReport:
    """Check the dataset at ``url`` (see the module docstring).

    Raises
    ------
    DatasetError
        The metadata itself is missing or invalid (nothing else can be checked then).
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    dataset = Dataset.open(url, max_concurrency=workers)
    meta = dataset.metadata
    n = len(meta.chunks)
    if quick:
        problems = tuple(_quick(dataset))
        return ValidationReport(dataset.url, True, n, meta.totals.records, 0, problems)
    records = bytes_checked = 0
    problems_list: list[str] = []
    for seen, read, found in ordered_map(lambda i: _check_chunk(dataset, i), range(n), max_concurrency=workers):
        records += seen
        bytes_checked += read
        problems_list.extend(found)
    if not problems_list and records != meta.totals.records:
        problems_list.append(f"{dataset.url}: chunks hold {records} records, the metadata totals say "
                             f"{meta.totals.records}")
    return ValidationReport(dataset.url, False, n, records, bytes_checked, tuple(problems_list))
