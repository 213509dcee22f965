"""Chunk codecs: how the records of one chunk become the bytes of one object (docs/FORMAT.md).

Version 1 has one codec, ``bams3.bam_records.zstd_frames``. A chunk object is::

    frame 0 | frame 1 | ... | frame n-1 | footer

- each frame is an independent zstd frame (content size and content checksum in its header and
  trailer) whose content is a run of whole BAM records exactly as the source BAM stored them
  (``block_size`` included), so a reader can fetch and decode any subset of frames alone;
- the footer is a zstd *skippable* frame, so ``zstd -dc chunk.bch`` yields the raw records, holding
  the frame table (per frame: compressed size, raw size, record count, first and last position,
  largest alignment end) packed like the metadata's chunk table, and a fixed 24-byte trailer.

Format version 2 adds ``bams3.fields.v2`` (:mod:`bams3.dataset.fields`): per-field streams in
blocks, with the same footer container holding a block table.

A chunk's ``footer_size`` is in the metadata, so a reader fetches the footer with one exact ranged
GET, then only the frames that can overlap its region. Codecs are named and registered here (as
zarr registers its codecs) so that a later format (per-field streams, issue "v2") adds a codec
without touching the readers of this one; the metadata names the codec of every chunk.
"""
from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Union

import numpy as np
import zstandard

from ..errors import DatasetError, IntegrityError
from ._packed import Column, pack_columns, unpack_columns
from ._zstd import claim_problem

if TYPE_CHECKING:
    from .fields.codec import FieldsCodec

__all__ = [
    "ZSTD_FRAMES",
    "ZstdFramesCodec",
    "UnknownCodec",
    "FrameTable",
    "FRAME_COLUMNS",
    "codec_from_dict",
]

ZSTD_FRAMES = "bams3.bam_records.zstd_frames"

#: zstd skippable-frame magic (any of 0x184D2A50..5F is skippable; 0x...5E is ours)
SKIPPABLE_MAGIC = 0x184D2A5E
FOOTER_MAGIC = b"BAMS3FT1"
FOOTER_VERSION = 1
_SKIPPABLE_HEAD = struct.Struct("<II")
#: version, n_frames, table_size, table_crc32, magic
_TRAILER = struct.Struct("<IIII8s")
FOOTER_OVERHEAD = _SKIPPABLE_HEAD.size + _TRAILER.size

FRAME_COLUMNS: tuple[Column, ...] = (
    Column("comp_size", "<u4"),
    Column("raw_size", "<u4"),
    Column("n_records", "<u4"),
    Column("min_pos", "<i4", ("delta",)),
    Column("max_pos", "<i4", ("delta",)),
    Column("max_end", "<i8", ("delta",)),
)
#: measured on the realistic BAM (docs/FORMAT.md section 8): under 1.0x the BAM, ~100-150 MB/s per thread
DEFAULT_LEVEL = 5
#: a 1 kbp query reads one or two such frames (~65 KB compressed each)
DEFAULT_FRAME_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True, eq=False)
class FrameTable:
    """The frame table of one chunk: one entry per zstd frame, in object order.

    ``min_pos``/``max_pos`` are the first and last record's 0-based position (records in a chunk
    are coordinate-sorted), ``max_end`` the largest alignment end (0-based, exclusive, samtools
    ``bam_endpos``) of any record in the frame.
    """

    comp_size: np.ndarray
    raw_size: np.ndarray
    n_records: np.ndarray
    min_pos: np.ndarray
    max_pos: np.ndarray
    max_end: np.ndarray

    @classmethod
    def from_columns(cls, values: Mapping[str, np.ndarray]) -> "FrameTable":
        return cls(**{c.name: np.asarray(values[c.name]) for c in FRAME_COLUMNS})

    def __len__(self) -> int:
        return len(self.comp_size)

    @property
    def offsets(self) -> np.ndarray:
        """Byte offset of each frame in the chunk object (frames are contiguous from 0)."""
        ends = np.cumsum(self.comp_size, dtype=np.int64)
        return ends - self.comp_size.astype(np.int64)

    @property
    def data_size(self) -> int:
        """Bytes of all frames (the object size minus the footer)."""
        return int(np.sum(self.comp_size, dtype=np.int64))

    def overlapping(self, beg: int, end: int) -> np.ndarray:
        """Indexes of the frames that may hold a record overlapping ``[beg, end)``."""
        return np.flatnonzero((self.min_pos < end) & (self.max_end > beg))

    def inside(self, beg: int, end: int) -> np.ndarray:
        """Boolean per frame: every record starts in ``[beg, end)``, so every record overlaps it."""
        return (self.min_pos >= beg) & (self.max_pos < end)

    def encode_footer(self) -> bytes:
        """The footer bytes: a skippable zstd frame holding the packed table and the trailer."""
        return encode_footer(FRAME_COLUMNS, {c.name: getattr(self, c.name) for c in FRAME_COLUMNS}, FOOTER_VERSION)

    @classmethod
    def decode_footer(cls, footer: bytes, *, chunk_size: int, name: str) -> "FrameTable":
        """Parse and check a footer (the last ``footer_size`` bytes of a chunk of ``chunk_size`` bytes).

        Raises
        ------
        IntegrityError
            When the footer is damaged or does not describe an object of ``chunk_size`` bytes.
        """
        frames = cls.from_columns(decode_footer(footer, FRAME_COLUMNS, FOOTER_VERSION, name=name))
        if frames.data_size + len(footer) != chunk_size:
            raise IntegrityError(f"{name}: frame sizes add up to {frames.data_size + len(footer)} bytes, "
                                 f"the object has {chunk_size}")
        return frames


def encode_footer(columns: tuple[Column, ...], values: Mapping[str, np.ndarray], version: int) -> bytes:
    """A chunk footer (section 4.2): a skippable zstd frame holding a packed table and the trailer."""
    rows, table = pack_columns(columns, values)
    trailer = _TRAILER.pack(version, rows, len(table), zlib.crc32(table), FOOTER_MAGIC)
    payload = table + trailer
    return _SKIPPABLE_HEAD.pack(SKIPPABLE_MAGIC, len(payload)) + payload


def decode_footer(footer: bytes, columns: tuple[Column, ...], version: int, *, name: str) -> dict[str, np.ndarray]:
    """The table of a chunk footer written by :func:`encode_footer` with ``version``.

    Raises
    ------
    IntegrityError
        The footer is damaged.
    DatasetError
        It has another footer version (written by another codec or a newer bams3).
    """
    if len(footer) < FOOTER_OVERHEAD:
        raise IntegrityError(f"{name}: chunk footer is {len(footer)} bytes, too short")
    magic, payload_size = _SKIPPABLE_HEAD.unpack_from(footer, 0)
    if magic != SKIPPABLE_MAGIC or payload_size != len(footer) - _SKIPPABLE_HEAD.size:
        raise IntegrityError(f"{name}: no chunk footer where the metadata says it starts")
    found, rows, table_size, crc, trailer_magic = _TRAILER.unpack_from(footer, len(footer) - _TRAILER.size)
    if trailer_magic != FOOTER_MAGIC:
        raise IntegrityError(f"{name}: bad chunk footer magic")
    if found != version:
        raise DatasetError(f"{name}: chunk footer version {found} is not supported by this bams3 "
                           f"(its codec reads version {version})")
    if table_size != len(footer) - FOOTER_OVERHEAD:
        raise IntegrityError(f"{name}: chunk footer table size {table_size} does not fit the footer")
    table = bytes(footer[_SKIPPABLE_HEAD.size : _SKIPPABLE_HEAD.size + table_size])
    if zlib.crc32(table) != crc:
        raise IntegrityError(f"{name}: chunk footer checksum mismatch")
    try:
        return unpack_columns(columns, rows, table, what=f"{name}: chunk footer table")
    except DatasetError as exc:
        raise IntegrityError(str(exc)) from None


class _ThreadCodecs(threading.local):
    """zstd contexts are not thread-safe; each thread keeps its own (creating one costs ~1 ms)."""

    def __init__(self) -> None:
        self.compressors: dict[int, zstandard.ZstdCompressor] = {}
        self.decompressor = zstandard.ZstdDecompressor()


_local = _ThreadCodecs()


@dataclass(frozen=True, slots=True)
class ZstdFramesCodec:
    """Codec ``bams3.bam_records.zstd_frames``: raw BAM records in independent zstd frames.

    Parameters
    ----------
    level
        zstd level (1-19). The level decides conversion speed more than anything else.
    frame_bytes
        Target raw bytes per frame: frames end at the first record boundary at or past each
        multiple of this size. Smaller frames make small queries read less and compress worse.
    """

    name: ClassVar[str] = ZSTD_FRAMES
    level: int = DEFAULT_LEVEL
    frame_bytes: int = DEFAULT_FRAME_BYTES

    def __post_init__(self) -> None:
        if not (isinstance(self.level, int) and 1 <= self.level <= 22):
            raise DatasetError(f"zstd level must be 1-22, got {self.level!r}")
        if not (isinstance(self.frame_bytes, int) and 1024 <= self.frame_bytes <= 64 * 2**20):
            raise DatasetError(f"frame size must be 1 KiB-64 MiB, got {self.frame_bytes!r}")

    def compress(self, raw: bytes | memoryview) -> bytes:
        """One frame (with content size and checksum); releases the GIL while compressing."""
        compressor = _local.compressors.get(self.level)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(level=self.level, write_checksum=True, write_content_size=True)
            _local.compressors[self.level] = compressor
        return compressor.compress(raw)

    @staticmethod
    def decompress(frame: bytes | memoryview, raw_size: int, *, name: str) -> bytes:
        """Decode one frame, checking its zstd checksum and its size against the frame table.

        Raises
        ------
        IntegrityError
            When the frame is damaged or decodes to another size.
        """
        # the frame table's raw_size and the frame header's content size are claims: check them
        # against the frame's length before python-zstandard allocates what the header declares
        problem = claim_problem(frame, int(raw_size))
        if problem is not None:
            raise IntegrityError(f"{name}: corrupt chunk frame ({problem})")
        try:
            raw = _local.decompressor.decompress(frame, max_output_size=max(int(raw_size), 1))
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"{name}: corrupt chunk frame ({exc})") from None
        if len(raw) != raw_size:
            raise IntegrityError(f"{name}: chunk frame decodes to {len(raw)} bytes, expected {raw_size}")
        return raw

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "configuration": {"level": self.level, "frame_bytes": self.frame_bytes}}

    def describe(self) -> str:
        """For people (``bams3 stats``)."""
        return f"zstd level {self.level}, frames of {self.frame_bytes // 1024} KiB of records"


@dataclass(frozen=True, slots=True)
class UnknownCodec:
    """A codec this version of bams3 cannot decode: the dataset opens, its chunks cannot be read."""

    name: str
    configuration: Mapping[str, object]

    def require(self, what: str) -> None:
        raise DatasetError(f"{what}: chunk codec {self.name!r} is not supported by this version of bams3")

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "configuration": dict(self.configuration)}

    def describe(self) -> str:
        return f"{self.name} (not supported by this bams3)"


Codec = Union[ZstdFramesCodec, "FieldsCodec", UnknownCodec]


def codec_from_dict(data: Mapping[str, object]) -> Codec:
    """The codec an entry of the metadata's ``codecs`` list names."""
    from .fields.codec import FIELDS_V2, FieldsCodec

    name = str(data.get("name"))
    configuration = data.get("configuration") or {}
    if not isinstance(configuration, Mapping):
        raise DatasetError(f"codec {name!r}: configuration must be an object")
    known: dict[str, tuple[type, set[str]]] = {
        ZSTD_FRAMES: (ZstdFramesCodec, {"level", "frame_bytes"}),
        FIELDS_V2: (FieldsCodec, {"level", "block_bytes", "revision"}),
    }
    if name in known:
        cls, keys = known[name]
        unknown = set(configuration) - keys
        if unknown:
            raise DatasetError(f"codec {name!r}: unknown configuration {sorted(unknown)}")
        if name == FIELDS_V2:  # written before revisions existed: revision 1 (docs/FORMAT.md 4.3)
            configuration = {"revision": 1, **configuration}
        return cls(**configuration)  # type: ignore[no-any-return]
    return UnknownCodec(name, configuration)
