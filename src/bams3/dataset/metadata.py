"""The ``_metadata.json`` model: a frozen, versioned description of a whole dataset.

Reading follows zarr v3's discipline: the document is JSON-parsed, its ``format`` and
``format_version`` are checked before anything else (readers dispatch on the version), unknown
top-level keys are refused unless they declare ``"must_understand": false``, the document is
validated against the JSON Schema of its version shipped in this package (``schema/metadata-v<N>.schema.json``),
and then checked for internal consistency (totals against the chunk table, chunk order, bins
against reference lengths), so that a truncated or tampered document is reported as one clear
line instead of surfacing later as a wrong answer.
"""
from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from functools import cache
from importlib import resources
from typing import Any, ClassVar, Literal

import numpy as np
import zstandard

from .. import __version__
from ..bam.header import BamHeader
from ..errors import BamFormatError, DatasetError
from ._packed import Column, decode_base64, pack_table, unpack_table
from ._zstd import claim_problem
from .codecs import Codec, codec_from_dict
from .keys import METADATA_KEY, UNPLACED_REF_ID, ChunkKeyEncoding

__all__ = [
    "FORMAT_NAME",
    "SUPPORTED_VERSIONS",
    "CHUNK_COLUMNS",
    "ChunkTable",
    "Totals",
    "DatasetMetadataV1",
    "DatasetMetadataV2",
    "DatasetMetadata",
    "parse_metadata",
    "metadata_schema",
]

FORMAT_NAME = "bams3"
SUPPORTED_VERSIONS = (1, 2)

#: the chunk table's columns in v1 (a reader needs these; it ignores any extra column)
CHUNK_COLUMNS: tuple[Column, ...] = (
    Column("ref_id", "<i4", ("delta",)),
    Column("bin", "<i4", ("delta",)),
    Column("codec", "<u1"),
    Column("size", "<u8"),
    Column("footer_size", "<u4"),
    Column("crc32", "<u4"),
    Column("n_records", "<u8"),
    Column("n_unmapped", "<u8"),
    Column("raw_size", "<u8"),
    Column("bases", "<u8"),
    Column("min_pos", "<i4", ("delta",)),
    Column("max_pos", "<i4", ("delta",)),
    Column("max_end", "<i8", ("delta",)),
)
_CHUNK_DTYPES = {c.name: c.dtype for c in CHUNK_COLUMNS}


@cache
def metadata_schema(version: int = 1) -> dict[str, Any]:
    """The JSON Schema of ``_metadata.json`` of format ``version`` (shipped as package data)."""
    text = resources.files(__package__).joinpath(f"schema/metadata-v{version}.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator(version: int) -> Any:
    import jsonschema

    schema = metadata_schema(version)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@dataclass(frozen=True, eq=False)
class ChunkTable:
    """Every chunk of a dataset as columns (numpy arrays, read-only), in file order.

    File order is: references in header order, bins ascending, then the unplaced chunks
    (``ref_id`` -1) in sequence order; concatenating the chunks in this order gives back the
    source BAM's record stream.
    """

    columns: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise DatasetError(f"chunk table columns differ in length: {sorted(lengths)}")
        missing = [c.name for c in CHUNK_COLUMNS if c.name not in self.columns]
        if missing:
            raise DatasetError(f"chunk table lacks the columns {missing}")

    def __len__(self) -> int:
        return len(self.columns["ref_id"])

    def __getattr__(self, name: str) -> np.ndarray:
        # ``table.size``, ``table.ref_id`` ...: the columns as attributes
        if name in _CHUNK_DTYPES:
            return self.columns[name]
        raise AttributeError(name)

    @property
    def n_mapped(self) -> np.ndarray:
        return self.columns["n_records"] - self.columns["n_unmapped"]

    @classmethod
    def empty(cls) -> "ChunkTable":
        return cls({c.name: np.zeros(0, dtype=c.dtype) for c in CHUNK_COLUMNS})

    def to_dict(self) -> dict[str, object]:
        return pack_table(CHUNK_COLUMNS, self.columns)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> "ChunkTable":
        return cls(unpack_table(data))

    def select(self, ref_id: int, beg: int, end: int) -> np.ndarray:
        """Indexes (file order) of the chunks of ``ref_id`` that may hold a record overlapping [beg, end).

        A chunk holds the records *starting* in its bin, so a record starting in an earlier
        bin that reaches into the region is found through that chunk's ``max_end``.
        """
        c = self.columns
        return np.flatnonzero((c["ref_id"] == ref_id) & (c["min_pos"] < end) & (c["max_end"] > beg))

    def inside(self, beg: int, end: int) -> np.ndarray:
        """Boolean per chunk: every record starts inside [beg, end), so every one overlaps it."""
        c = self.columns
        return (c["min_pos"] >= beg) & (c["max_pos"] < end)


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts over all records (samtools flagstat semantics: secondary and supplementary included).

    ``bases`` sums the sequence lengths of primary records; ``aligned_bases`` the reference
    span (``end - pos``) of mapped primary records that are neither duplicates nor QC failures,
    so ``aligned_bases / genome length`` is the mean depth in the sense of samtools coverage
    (deletions count as covered). ``raw_size`` is the bytes of the uncompressed records,
    ``stored_size`` the bytes of all chunk objects.
    """

    records: int = 0
    mapped: int = 0
    unmapped: int = 0
    unplaced: int = 0
    secondary: int = 0
    supplementary: int = 0
    duplicates: int = 0
    qc_fail: int = 0
    paired: int = 0
    proper_pair: int = 0
    bases: int = 0
    aligned_bases: int = 0
    raw_size: int = 0
    stored_size: int = 0
    chunks: int = 0

    def to_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Totals":
        return cls(**{f.name: int(data[f.name]) for f in fields(cls)})


def _encode_header(raw: bytes) -> dict[str, object]:
    blob = zstandard.ZstdCompressor(level=19).compress(raw)
    return {"size": len(raw), "crc32": zlib.crc32(raw), "compression": "zstd",
            "data": base64.b64encode(blob).decode("ascii")}


def _decode_header(data: Mapping[str, Any], *, name: str) -> BamHeader:
    size = int(data["size"])
    blob = decode_base64(data["data"], what=f"{name}: the BAM header")
    # ``size`` and the blob's zstd content size are claims; the blob (no larger than the metadata
    # object) bounds what it can decode to, so a claim of a terabyte fails before any allocation
    problem = claim_problem(blob, size)
    if problem is not None:
        raise DatasetError(f"{name}: the BAM header does not decode ({problem})")
    try:
        raw = zstandard.ZstdDecompressor().decompress(blob, max_output_size=max(size, 1))
    except zstandard.ZstdError as exc:
        raise DatasetError(f"{name}: the BAM header does not decode ({exc})") from None
    if len(raw) != size or zlib.crc32(raw) != int(data["crc32"]):
        raise DatasetError(f"{name}: the BAM header fails its size or CRC-32 check")
    try:
        header = BamHeader.parse(raw, name=name)
    except BamFormatError as exc:
        raise DatasetError(str(exc)) from None
    if len(header.raw) != size:
        raise DatasetError(f"{name}: {size - len(header.raw)} stray bytes after the BAM header")
    return header


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, eq=False)
class DatasetMetadataV1:
    """``_metadata.json`` with ``format_version`` 1 (see docs/FORMAT.md for every field).

    ``format_version`` is fixed by the class, not passed in; ``extensions`` keeps the top-level
    fields that declared ``"must_understand": false`` so that rewriting the document keeps them.
    """

    format_version: ClassVar[Literal[1]] = 1

    run_id: str
    source_url: str
    source_size: int | None
    header: BamHeader
    bin_size: int
    codecs: tuple[Codec, ...]
    chunks: ChunkTable
    totals: Totals
    created_by: str = f"bams3 {__version__}"
    created_at: str = field(default_factory=_now)
    extensions: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key_encoding(self) -> ChunkKeyEncoding:
        return ChunkKeyEncoding(self.run_id)

    def chunk_key(self, index: int) -> str:
        """The object key (relative to the dataset) of chunk ``index`` of the table."""
        return self.key_encoding.encode(int(self.chunks.ref_id[index]), int(self.chunks.bin[index]))

    def codec(self, index: int) -> Codec:
        return self.codecs[int(self.chunks.codec[index])]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "run_id": self.run_id,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "source": {"url": self.source_url, "size": self.source_size},
            "header": _encode_header(self.header.raw),
            "bin_size": self.bin_size,
            "sort_order": "coordinate",
            "chunk_key_encoding": self.key_encoding.to_dict(),
            "codecs": [c.to_dict() for c in self.codecs],
            "chunks": self.chunks.to_dict(),
            "totals": self.totals.to_dict(),
        }
        out.update(self.extensions)
        return out

    def to_json(self) -> bytes:
        """The document as written: compact, UTF-8, one trailing newline."""
        return (json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=False) + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str = METADATA_KEY) -> "DatasetMetadataV1":
        """Validate a decoded document (schema, then consistency) and build the model.

        Raises
        ------
        DatasetError
            The document breaks the schema or contradicts itself; the message says where.
        """
        known = set(metadata_schema(cls.format_version)["properties"])
        for key, value in data.items():
            if key in known:
                continue
            if not (isinstance(value, Mapping) and value.get("must_understand") is False):
                raise DatasetError(f"{name}: unknown field {key!r} that must be understood "
                                   "(written by a newer bams3?)")
        import jsonschema

        error = jsonschema.exceptions.best_match(_validator(cls.format_version).iter_errors(data))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise DatasetError(f"{name}: does not match the BAMS3 v{cls.format_version} schema at {where}: "
                               f"{error.message[:200]}")
        run_id = data["run_id"]
        if data["chunk_key_encoding"]["configuration"]["run_id"] != run_id:
            raise DatasetError(f"{name}: the chunk key encoding names another run than run_id")
        metadata = cls(
            run_id=run_id,
            source_url=data["source"]["url"],
            source_size=data["source"]["size"],
            header=_decode_header(data["header"], name=name),
            bin_size=int(data["bin_size"]),
            codecs=tuple(codec_from_dict(c) for c in data["codecs"]),
            chunks=ChunkTable.from_dict(data["chunks"]),
            totals=Totals.from_dict(data["totals"]),
            created_by=data["created_by"],
            created_at=data["created_at"],
            extensions={k: v for k, v in data.items() if k not in known},
        )
        metadata.check(name=name)
        return metadata

    def check(self, *, name: str = METADATA_KEY) -> None:
        """Internal consistency: what a valid writer guarantees and a reader relies on.

        Raises
        ------
        DatasetError
            On the first inconsistency found.
        """
        c = self.chunks.columns
        n = len(self.chunks)
        ref_id, bin_ = c["ref_id"].astype(np.int64), c["bin"].astype(np.int64)
        lengths = np.array([r.length for r in self.header.references] or [0], dtype=np.int64)
        n_refs = self.header.n_references

        def fail(problem: str) -> None:
            raise DatasetError(f"{name}: {problem}")

        if n != self.totals.chunks:
            fail(f"totals say {self.totals.chunks} chunks, the chunk table has {n}")
        if np.any(c["codec"] >= len(self.codecs)):
            fail("a chunk names a codec that is not in the codecs list")
        if self.format_version < 2 and any(codec.name in _V2_CODECS for codec in self.codecs):
            fail(f"format_version {self.format_version} cannot name the codecs of version 2")
        if np.any((ref_id < UNPLACED_REF_ID) | (ref_id >= n_refs)):
            fail("a chunk names a reference that is not in the header")
        placed = ref_id >= 0
        unplaced = ~placed
        # file order: references ascending with the unplaced (-1) last, bins strictly ascending
        order = np.where(placed, ref_id, n_refs) * (2**33) + bin_
        if n > 1 and np.any(np.diff(order) <= 0):
            fail("chunks are not in file order or repeat a bin")
        if np.any(placed & (bin_ < -1)) or np.any(unplaced & (bin_ < 0)):
            fail("a chunk has an invalid bin number")
        starts = bin_ * self.bin_size
        safe_ref = np.where(placed, ref_id, 0)
        inbin = placed & (bin_ >= 0)
        if np.any(inbin & (starts >= np.maximum(lengths[safe_ref], 1))):
            fail("a chunk's bin lies beyond the end of its reference")
        if np.any(inbin & ((c["min_pos"] < starts) | (c["max_pos"] >= starts + self.bin_size))):
            fail("a chunk holds positions outside its bin")
        if np.any(c["min_pos"] > c["max_pos"]) or np.any(c["max_end"] < c["max_pos"]):
            fail("a chunk's position range is inverted")
        if np.any(c["n_records"] == 0) or np.any(c["n_unmapped"] > c["n_records"]):
            fail("a chunk has impossible record counts")
        if np.any(c["footer_size"] >= c["size"]):
            fail("a chunk's footer is not smaller than the chunk")
        t = self.totals
        sums = {
            "records": int(c["n_records"].sum()),
            "unmapped": int(c["n_unmapped"].sum()),
            "raw_size": int(c["raw_size"].sum()),
            "stored_size": int(c["size"].sum()),
            "bases": int(c["bases"].sum()),
            "unplaced": int(c["n_records"][unplaced].sum()),
        }
        for key, value in sums.items():
            if getattr(t, key) != value:
                fail(f"totals.{key} is {getattr(t, key)}, the chunk table adds up to {value}")
        if t.mapped + t.unmapped != t.records:
            fail("totals.mapped + totals.unmapped differs from totals.records")


@dataclass(frozen=True, eq=False)
class DatasetMetadataV2(DatasetMetadataV1):
    """``_metadata.json`` with ``format_version`` 2: the same document, and chunks may use the
    per-field codec ``bams3.fields.v2`` (docs/FORMAT.md section 4.3). A dataset whose chunks use
    it MUST say version 2, so that a reader of version 1 refuses it when opening it instead of
    failing on its first chunk."""

    format_version: ClassVar[Literal[2]] = 2  # type: ignore[assignment]


#: codec names a version 1 document may not use
_V2_CODECS = ("bams3.fields.v2",)

DatasetMetadata = DatasetMetadataV1 | DatasetMetadataV2
_BY_VERSION: dict[int, type[DatasetMetadataV1]] = {1: DatasetMetadataV1, 2: DatasetMetadataV2}


def parse_metadata(data: bytes, *, name: str = METADATA_KEY) -> DatasetMetadata:
    """Parse ``_metadata.json`` bytes into the model of its format version.

    Raises
    ------
    DatasetError
        Not JSON, not a BAMS3 document, a format version this bams3 cannot read, or invalid.
    """
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{name}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise DatasetError(f"{name}: not BAMS3 metadata (no \"format\": \"bams3\")")
    version = document.get("format_version")
    if type(version) is int and version in _BY_VERSION:
        return _BY_VERSION[version].from_dict(document, name=name)
    raise DatasetError(f"{name}: format_version {version!r} is not supported by bams3 {__version__} "
                       f"(it reads {', '.join(map(str, SUPPORTED_VERSIONS))})")
