"""Codec ``bams3.fields.v2``: the records of a chunk as per-field streams in independent blocks.

A chunk's records are cut into *blocks* of about ``block_bytes`` of BAM records (at record
boundaries, as version 1 cuts frames). Each block is coded as six streams, each decodable on its
own (docs/FORMAT.md section 4.3):

========  ==============================================================================
core      positions (delta-coded), alignment spans (end - pos), flags: what counts need
fields    MAPQ, bin, read lengths, CIGARs, mate fields and name links (modelled, mates.py)
names     the names that no earlier record of the block carries
seq       bases against the block's running consensus (revision 2; revision 1: one code per byte)
qual      qualities, context-model range coding (quality.py)
aux       tags grouped by tag and type (aux.py)
========  ==============================================================================

A chunk object is ``block 0 | block 1 | ... | block n-1 | footer`` and a block is its six streams in
that order, core first. Records out read whole blocks (one range per run of blocks); counting reads
only the core stream at the start of each block it cannot count from the table (the blocks at the
region's edges: one or two per chunk touched). The footer is version 1's container with a block
table (:data:`BLOCK_COLUMNS`) giving every stream's size.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import DatasetError, IntegrityError
from .._packed import Column
from . import aux as aux_stream
from . import mates as mate_model
from . import quality, sequence
from .columns import Columns, assemble, offsets_of
from .container import CorruptStream, compress, decompress, pack_columns, shuffle, unpack_columns, unshuffle

__all__ = ["FIELDS_V2", "FieldsCodec", "BlockTable", "EncodedBlock", "BLOCK_COLUMNS", "STREAMS", "reg2bin"]

FIELDS_V2 = "bams3.fields.v2"
FOOTER_VERSION = 2
#: the streams after a block's core stream, in object order
REST_STREAMS = ("fields", "names", "seq", "qual", "aux")
STREAMS = ("core", *REST_STREAMS)
BLOCK_COLUMNS: tuple[Column, ...] = (
    Column("n_records", "<u4"),
    Column("raw_size", "<u4"),
    Column("min_pos", "<i4", ("delta",)),
    Column("max_pos", "<i4", ("delta",)),
    Column("max_end", "<i8", ("delta",)),
    *(Column(f"{s}_size", "<u4") for s in STREAMS),
)
#: zstd level of the zstd-coded streams; see docs/FORMAT.md section 8 for the measurements
DEFAULT_LEVEL = 3
#: raw BAM bytes per block: ~3,000 short reads (quality models learn within a block)
DEFAULT_BLOCK_BYTES = 1024 * 1024
_CORE_COLUMNS = 3
#: revision 1: the ``seq`` stream is one code per base; 2: the consensus model (docs/FORMAT.md 4.3.1)
REVISION = 2
REVISIONS = (1, 2)
_FIELDS_COLUMNS = 11


def reg2bin(beg: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The BAI bin of ``[beg, end)`` as htslib's ``hts_reg2bin(beg, end, 14, 5)`` computes it."""
    beg = np.asarray(beg, dtype=np.int64)
    last = np.asarray(end, dtype=np.int64) - 1
    out = np.zeros(len(beg), dtype=np.int64)
    done = np.zeros(len(beg), dtype=bool)
    for shift, offset in ((14, 4681), (17, 585), (20, 73), (23, 9), (26, 1)):
        same = ~done & ((beg >> shift) == (last >> shift))
        out[same] = offset + (beg[same] >> shift)
        done |= same
    return out


@dataclass(frozen=True, slots=True, eq=False)
class BlockTable:
    """The footer table of a ``bams3.fields.v2`` chunk: one row per block, in object order."""

    n_records: np.ndarray
    raw_size: np.ndarray
    min_pos: np.ndarray
    max_pos: np.ndarray
    max_end: np.ndarray
    sizes: Mapping[str, np.ndarray]

    @classmethod
    def from_columns(cls, values: Mapping[str, np.ndarray]) -> "BlockTable":
        return cls(**{c: np.asarray(values[c]) for c in ("n_records", "raw_size", "min_pos", "max_pos", "max_end")},
                   sizes={s: np.asarray(values[f"{s}_size"]).astype(np.int64) for s in STREAMS})

    def __len__(self) -> int:
        return len(self.n_records)

    @property
    def rest_sizes(self) -> np.ndarray:
        return sum((self.sizes[s] for s in REST_STREAMS), np.zeros(len(self), dtype=np.int64))

    @property
    def block_sizes(self) -> np.ndarray:
        """Stored bytes of each block (all its streams)."""
        return self.sizes["core"] + self.rest_sizes

    @property
    def offsets(self) -> np.ndarray:
        """Where each block (its core stream) starts in the object."""
        return offsets_of(self.block_sizes)

    @property
    def rest_offsets(self) -> np.ndarray:
        """Where each block's streams after the core start in the object."""
        return self.offsets + self.sizes["core"]

    @property
    def data_size(self) -> int:
        return int(sum(int(self.sizes[s].sum()) for s in STREAMS))

    def overlapping(self, beg: int, end: int) -> np.ndarray:
        """Indexes of the blocks that may hold a record overlapping ``[beg, end)``."""
        return np.flatnonzero((self.min_pos < end) & (self.max_end > beg))

    def inside(self, beg: int, end: int) -> np.ndarray:
        """Boolean per block: every record starts in ``[beg, end)``, so every one overlaps it."""
        return (self.min_pos >= beg) & (self.max_pos < end)

    def encode_footer(self) -> bytes:
        from ..codecs import encode_footer

        values = {"n_records": self.n_records, "raw_size": self.raw_size, "min_pos": self.min_pos,
                  "max_pos": self.max_pos, "max_end": self.max_end,
                  **{f"{s}_size": self.sizes[s] for s in STREAMS}}
        return encode_footer(BLOCK_COLUMNS, values, FOOTER_VERSION)

    @classmethod
    def decode_footer(cls, footer: bytes, *, chunk_size: int, name: str) -> "BlockTable":
        """Parse and check the footer of a chunk of ``chunk_size`` bytes.

        Raises
        ------
        IntegrityError
            When the footer is damaged or does not describe an object of ``chunk_size`` bytes.
        """
        from ..codecs import decode_footer

        table = cls.from_columns(decode_footer(footer, BLOCK_COLUMNS, FOOTER_VERSION, name=name))
        if table.data_size + len(footer) != chunk_size:
            raise IntegrityError(f"{name}: block sizes add up to {table.data_size + len(footer)} bytes, "
                                 f"the object has {chunk_size}")
        return table


@dataclass(frozen=True, slots=True)
class EncodedBlock:
    """One block, coded: its core stream, the five streams after it (concatenated), all six sizes."""

    core: bytes
    rest: bytes
    sizes: tuple[int, ...]  # in STREAMS order


@dataclass(frozen=True, slots=True)
class Positions:
    """What a block's core stream holds: enough to count, filter by region and summarise flags."""

    pos: np.ndarray
    end: np.ndarray
    flag: np.ndarray


@dataclass(frozen=True, slots=True)
class FieldsCodec:
    """Codec ``bams3.fields.v2`` (see the module docstring).

    Parameters
    ----------
    level
        zstd level of the zstd-coded streams (qualities have their own coder).
    block_bytes
        Target raw BAM bytes per block: blocks end at the first record boundary at or past each
        multiple of this size. Larger blocks compress better; a region query reads whole blocks.
    """

    name: ClassVar[str] = FIELDS_V2
    level: int = DEFAULT_LEVEL
    block_bytes: int = DEFAULT_BLOCK_BYTES
    revision: int = REVISION

    def __post_init__(self) -> None:
        if not (isinstance(self.level, int) and 1 <= self.level <= 22):
            raise DatasetError(f"zstd level must be 1-22, got {self.level!r}")
        if not (isinstance(self.block_bytes, int) and 1024 <= self.block_bytes <= 64 * 2**20):
            raise DatasetError(f"block size must be 1 KiB-64 MiB, got {self.block_bytes!r}")
        if self.revision not in REVISIONS:
            raise DatasetError(f"codec {FIELDS_V2} revision {self.revision!r} is not supported by this bams3 "
                               f"(it reads {', '.join(map(str, REVISIONS))})")

    @property
    def frame_bytes(self) -> int:
        """The unit the writer cuts records into (named as version 1's frames)."""
        return self.block_bytes

    def to_dict(self) -> dict[str, object]:
        configuration: dict[str, object] = {"level": self.level, "block_bytes": self.block_bytes}
        if self.revision != 1:  # revision 1 datasets were written without the key
            configuration["revision"] = self.revision
        return {"name": self.name, "configuration": configuration}

    def describe(self) -> str:
        return (f"per-field streams in blocks of {self.block_bytes // 1024} KiB of records "
                f"(zstd level {self.level}, context-model qualities)")

    # ------------------------------------------------------------------ encoding

    def encode(self, raw: bytes | memoryview, *, ref_id: int, name: str) -> EncodedBlock:
        """Code one block of whole BAM records of a chunk of reference ``ref_id``."""
        from .._records import decode_records
        from .columns import split

        c = split(decode_records(raw, name=name), name=name)
        if np.any(c.ref_id != ref_id):
            raise DatasetError(f"{name}: a block of reference {ref_id} holds records of another")  # pragma: no cover
        level = self.level
        pos = c.pos.astype(np.int64)
        core = pack_columns([shuffle(np.diff(pos, prepend=0), "<i4"), shuffle(c.end - pos, "<i8"),
                             shuffle(c.flag, "<u2")])
        ids = mate_model.name_ids(c.names, c.name_len)
        links = mate_model.name_links(ids)
        new = links == 0
        from .. import _v2_codec

        new_names = _v2_codec.gather(c.names, offsets_of(c.name_len)[new], c.name_len[new].astype(np.int64))
        mates = mate_model.find_mates(ids, c.flag)
        ref_res, pos_res, tlen_res = mate_model.mate_residuals(mates, c.ref_id, c.pos, c.end, c.next_ref_id,
                                                               c.next_pos, c.tlen)
        codes, pads = sequence.unpack(c.seq, c.l_seq)
        cigar = np.frombuffer(c.cigar, dtype="<u4")
        fields = pack_columns([
            c.mapq.tobytes(), shuffle(c.bin.astype(np.int64) - reg2bin(c.pos, c.end), "<u2"), shuffle(c.l_seq, "<i4"),
            shuffle(c.n_cigar, "<u2"), shuffle(cigar, "<u4"), shuffle(ref_res, "<i4"), shuffle(pos_res, "<i4"),
            shuffle(tlen_res, "<i4"), shuffle(links, "<i4"), c.name_len[new].tobytes(), pads,
        ])
        streams = [
            compress(core, level),
            compress(fields, level),
            compress(new_names, level),
            compress(codes if self.revision == 1 else
                     pack_columns(sequence.encode_consensus(codes, c.l_seq, c.pos, c.flag, c.n_cigar, cigar)), level),
            quality.encode_qualities(c.qual, c.l_seq, c.flag),
            compress(aux_stream.encode_aux(c.aux, c.aux_len), level),
        ]
        return EncodedBlock(core=streams[0], rest=b"".join(streams[1:]), sizes=tuple(len(s) for s in streams))

    # ------------------------------------------------------------------ decoding

    @staticmethod
    def decode_core(stream: bytes | memoryview, n_records: int) -> Positions:
        """Positions, ends and flags of a block's records from its core stream.

        Raises
        ------
        CorruptStream
            The stream does not decode to ``n_records`` records.
        """
        pos_delta, span, flag = unpack_columns(decompress(stream), _CORE_COLUMNS)
        with np.errstate(over="ignore"):
            pos = np.cumsum(unshuffle(pos_delta, "<i4", count=n_records), dtype=np.int32)
        end = pos.astype(np.int64) + unshuffle(span, "<i8", count=n_records)
        return Positions(pos=pos, end=end, flag=unshuffle(flag, "<u2", count=n_records))

    def decode(self, core: bytes | memoryview, rest: bytes | memoryview, sizes: tuple[int, ...], *, ref_id: int,
               n_records: int) -> bytearray:
        """The BAM records of one block, exactly as the source held them.

        ``sizes`` are the block's stream sizes in :data:`STREAMS` order (its footer row).

        Raises
        ------
        CorruptStream
            A stream does not decode, or the streams disagree with each other.
        """
        if len(rest) != sum(sizes[1:]):
            raise CorruptStream("block data is shorter than its table says")
        at = offsets_of(np.asarray(sizes[1:], dtype=np.int64)).tolist()
        part = dict(zip(REST_STREAMS, (rest[a: a + s] for a, s in zip(at, sizes[1:]))))
        where = self.decode_core(core, n_records)
        n = n_records
        (mapq, bin_res, l_seq, n_cigar, cigar, ref_res, pos_res, tlen_res, links, new_lengths,
         pads) = unpack_columns(decompress(part["fields"]), _FIELDS_COLUMNS)
        l_seq_a = unshuffle(l_seq, "<i4", count=n)
        n_cigar_a = unshuffle(n_cigar, "<u2", count=n)
        links_a = unshuffle(links, "<i4", count=n)
        new_lengths_a = np.frombuffer(new_lengths, dtype=np.uint8)
        try:
            names, name_len = mate_model.names_from_links(links_a, new_lengths_a, decompress(part["names"]))
        except ValueError as exc:
            raise CorruptStream(str(exc)) from None
        ref_ids = np.full(n, ref_id, dtype=np.int32)
        ids = mate_model.name_ids(names, name_len)
        mates = mate_model.find_mates(ids, where.flag)
        next_ref, next_pos, tlen = mate_model.mates_from_residuals(
            mates, ref_ids, where.pos, where.end, unshuffle(ref_res, "<i4", count=n),
            unshuffle(pos_res, "<i4", count=n), unshuffle(tlen_res, "<i4", count=n))
        cigar_a = unshuffle(cigar, "<u4")
        if len(cigar_a) != int(n_cigar_a.sum(dtype=np.int64)):
            raise CorruptStream("CIGAR column does not fit the operation counts")
        try:
            codes = decompress(part["seq"])
            if self.revision != 1:
                codes = sequence.decode_consensus(unpack_columns(codes, sequence.CONSENSUS_COLUMNS), l_seq_a,
                                                  where.pos, where.flag, n_cigar_a, cigar_a)
            seq = sequence.pack(codes, pads, l_seq_a)
        except ValueError as exc:
            raise CorruptStream(str(exc)) from None
        qual = quality.decode_qualities(part["qual"], l_seq_a, where.flag)
        aux, aux_len = aux_stream.decode_aux(decompress(part["aux"]), n)
        with np.errstate(over="ignore"):
            bins = (reg2bin(where.pos, where.end) + unshuffle(bin_res, "<u2", count=n)).astype(np.uint16)
        if len(mapq) != n:
            raise CorruptStream("MAPQ column does not fit the block")
        columns = Columns(
            ref_id=ref_ids, pos=where.pos, end=where.end, flag=where.flag, mapq=np.frombuffer(mapq, np.uint8),
            bin=bins, l_seq=l_seq_a, next_ref_id=next_ref, next_pos=next_pos, tlen=tlen,
            name_len=name_len.astype(np.uint8), names=names, n_cigar=n_cigar_a, cigar=cigar_a.astype("<u4").tobytes(),
            seq=seq, qual=qual, aux_len=aux_len, aux=aux,
        )
        return assemble(columns)


def block_sizes(table: BlockTable, block: int) -> tuple[int, ...]:
    """The stream sizes of one block, in :data:`STREAMS` order."""
    return tuple(int(table.sizes[s][block]) for s in STREAMS)
